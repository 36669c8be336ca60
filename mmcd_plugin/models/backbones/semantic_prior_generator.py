"""Frozen multi-scale semantic prior generator (SPG) of STSF-Net.

Paper: STSF-Net, "Prior-guided Fusion of Multimodal Features for Change
Detection from Optical-SAR Images", section IV-D-1 "Bi-temporal Semantic
Priors Generation". SAM2 without its interactive parts (no prompt encoder, no
mask decoder): only the hierarchical Hiera image trunk, every parameter
frozen, gives four-scale priors P_opt^i and P_sar^i (i = 1..4) for the optical
and the SAR image; the change priors P_cd^i are later computed from them.

The encoder is any registered backbone: by default the plain SAM2 Hiera trunk
(:class:`HieraAdapter` with ``use_adapters=False``); the paper's Table VII
also swaps in other foundation models (e.g. DINOv3), and an mmseg ResNet
works as well. The generator builds it with our ``MODELS``, freezes it
(requires_grad False, eval mode whatever ``train()`` is called with) and runs
it under ``torch.no_grad()``. It may load the same checkpoint file as the
optical encoder; the two modules then hold separate copies of the weights.

SAR band handling (the paper only says the SAR image is fed to SPG): an
RGB-pretrained encoder wants 3 channels, so each modality's image is adapted
to ``repeat_to`` channels:

1. optionally pick bands (``opt_bands`` / ``sar_bands``, e.g. ``(0, 1, 3)``
   = HH, HV, VV of quad-pol SAR as a pseudo-colour image);
2. if the image now has ``repeat_to`` channels it is used as is;
3. otherwise it is reduced to one band (``reduce='mean'``, default: the mean of
   the bands, i.e. an average of the normalised polarisation channels, which
   uses every band, lowers speckle and does not depend on the band order;
   ``'first'``: the first band, e.g. HH) and that band is repeated
   ``repeat_to`` times. A single-band image skips the reduction.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class SemanticPriorGenerator(BaseModule):
    """Frozen encoder giving four-scale semantic priors of both modalities.

    Args:
        encoder (dict | nn.Module): Config of any registered backbone returning
            a sequence of feature maps, or an already built frozen encoder (e.g.
            a ``HieraTrunkView`` sharing the optical encoder's SAM2 trunk, which
            ``MultimodalEncoderDecoder`` makes for ``encoder='optical_encoder'``). Defaults to the plain SAM2 Hiera-B+ trunk
            (``dict(type='HieraAdapter', arch='base_plus',
            use_adapters=False)``, the (2, 3, 16, 3) block layout of the
            paper's section IV-D-1); set ``checkpoint`` in it to the local
            SAM2 file (random weights otherwise).
        repeat_to (int, optional): Channels the encoder expects; images with
            another number of channels are adapted as described in the module
            docstring. None feeds the images unchanged. Defaults to 3.
        reduce (str): How a multi-band image (other than ``repeat_to`` bands)
            becomes one band before repetition: 'mean' or 'first'.
            Defaults to 'mean'.
        opt_bands (Sequence[int], optional): Optical bands to keep first
            (e.g. ``(0, 1, 2)`` for RGB of an RGB-NIR image). Defaults to None.
        sar_bands (Sequence[int], optional): SAR bands to keep first.
            Defaults to None.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 encoder: Union[dict, nn.Module, None] = None,
                 repeat_to: Optional[int] = 3,
                 reduce: str = 'mean',
                 opt_bands: Optional[Sequence[int]] = None,
                 sar_bands: Optional[Sequence[int]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if reduce not in ('mean', 'first'):
            raise ValueError(f"reduce must be 'mean' or 'first', got {reduce!r}")
        if repeat_to is not None and repeat_to < 1:
            raise ValueError(f'repeat_to must be >= 1 or None, got {repeat_to}')
        if encoder is None:
            encoder = dict(type='HieraAdapter', arch='base_plus', use_adapters=False)
        self.encoder = encoder if isinstance(encoder, nn.Module) else MODELS.build(encoder)
        self.repeat_to = repeat_to
        self.reduce = reduce
        self.opt_bands = tuple(opt_bands) if opt_bands is not None else None
        self.sar_bands = tuple(sar_bands) if sar_bands is not None else None
        self.encoder.requires_grad_(False)
        self.encoder.eval()

    def init_weights(self) -> None:
        """Let the encoder load its weights, then make sure it stays frozen."""
        super().init_weights()
        self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> 'SemanticPriorGenerator':
        """Set the mode; the encoder stays in eval mode."""
        super().train(mode)
        self.encoder.eval()
        return self

    def adapt_channels(self, img: Tensor, bands: Optional[Tuple[int, ...]] = None) -> Tensor:
        """Bring an (N, C, H, W) image to ``repeat_to`` channels (see module doc).

        Args:
            img (Tensor): The image.
            bands (tuple[int], optional): Bands to keep first. Defaults to None.

        Returns:
            Tensor: The image the encoder sees.
        """
        if bands is not None:
            img = img[:, list(bands)]
        if self.repeat_to is None or img.shape[1] == self.repeat_to:
            return img
        if img.shape[1] > 1:
            img = img.mean(1, keepdim=True) if self.reduce == 'mean' else img[:, :1]
        return img.repeat(1, self.repeat_to, 1, 1)

    def prepare(self, image_opt: Tensor, image_sar: Tensor) -> Tuple[Tensor, Tensor]:
        """The optical and the SAR image as the encoder sees them."""
        return self.adapt_channels(image_opt, self.opt_bands), \
            self.adapt_channels(image_sar, self.sar_bands)

    def encode(self, img: Tensor) -> List[Tensor]:
        """Frozen features of an already adapted image."""
        if self.encoder.training:  # e.g. someone called encoder.train() directly
            self.encoder.eval()
        with torch.no_grad():
            return list(self.encoder(img))

    def forward(self, image_opt: Tensor, image_sar: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """Args:
            image_opt (Tensor): (N, C_opt, H, W) normalised optical image.
            image_sar (Tensor): (N, C_sar, H, W) normalised SAR image.

        Returns:
            tuple[list[Tensor], list[Tensor]]: The optical and the SAR priors,
            one map per encoder output scale (detached).
        """
        image_opt, image_sar = self.prepare(image_opt, image_sar)
        if image_opt.shape != image_sar.shape:  # e.g. repeat_to=None with 3 + 1 bands
            return self.encode(image_opt), self.encode(image_sar)
        # One encoder call for both modalities: the frozen encoder is in eval
        # mode, so each image's features do not depend on the other, and the
        # batched matrix products run closer to the machine's peak.
        batch = image_opt.shape[0]
        priors = self.encode(torch.cat([image_opt, image_sar]))
        return [p[:batch] for p in priors], [p[batch:] for p in priors]
