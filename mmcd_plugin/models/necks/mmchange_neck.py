"""MMChange's image-text neck: scale projection, IFR, TDE and ITFF.

Zhou et al., "Multimodal Feature Fusion Network with Text Difference
Enhancement for Remote Sensing Change Detection" (MMChange), Sec. III and
Fig. 2: the siamese image encoder gives features of both dates at four scales;
IFR (Eq. 7-11) refines their difference into ``F_1 .. F_4``; TDE (Eq. 1-6)
turns the two dates' description embeddings into ``T_1 .. T_4``; ITFF
(Eq. 12-13) fuses ``F_k`` and ``T_k``; the decoder reads the four fused maps.

Before IFR, every encoder stage is projected to ``channels`` at strides
4, 8, 16, 32. The authors' dilated ResNet-50 (output stride 8) gives strides
4, 8, 8, 8, and their code reaches 16 and 32 with strided convolutions
(3x3 stride 2, 5x5 stride 4): here a stage of stride ``s_in`` projected to
stride ``s_out`` uses a ``(r + 1) x (r + 1)`` convolution with stride
``r = s_out / s_in`` and padding ``r / 2`` (a 1x1 convolution when the strides
agree), which reproduces those two kernels and works for any backbone stride
layout.

Ablation switches (the paper's ablation study): ``use_ifr=False`` replaces IFR by
the plain absolute difference of the projected features; ``use_tde=False``
drops the text stream (no text encoder needed; ITFF then runs its image path,
``T = 0``); ``use_itff=False`` fuses by addition, ``F_k + T_k``.
"""
from typing import List, Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS
from .image_feature_refinement import ImageFeatureRefinement
from .image_text_feature_fusion import ImageTextFeatureFusion
from .textual_difference_enhancement import TextualDifferenceEnhancement


@MODELS.register_module()
class MMChangeNeck(BaseModule):
    """Bitemporal image features + two sentence embeddings -> fused multi-scale maps.

    ``forward(feats_from, feats_to, text_from, text_to)`` returns the four
    fused maps (``channels`` each, finest first).

    Args:
        in_channels (Sequence[int]): Channels of the used encoder outputs.
        in_strides (Sequence[int]): Their strides. Defaults to (4, 8, 8, 8)
            (the authors' dilated ResNet-50).
        out_strides (Sequence[int]): Strides of the fused maps. Defaults to
            (4, 8, 16, 32).
        in_index (Sequence[int], optional): Which encoder outputs to use;
            None takes the last ``len(in_channels)``. Defaults to None.
        channels (int): Channels of every scale after projection. Defaults
            to 64 (authors).
        text_dim (int, optional): Sentence-embedding size; the segmentor sets
            it from its text encoder. Required when ``use_tde``.
        use_ifr (bool): Refine differences with IFR. Defaults to True.
        use_tde (bool): Use the text stream (TDE). Defaults to True.
        use_itff (bool): Fuse with ITFF (else ``F + T``). Defaults to True.
        ifr (dict): Extra :class:`ImageFeatureRefinement` arguments
            (``groups``...). Defaults to ``dict()``.
        tde (dict): Extra :class:`TextualDifferenceEnhancement` arguments
            (``num_tokens``, ``num_heads``, ``layout``...). Defaults to ``dict()``.
        itff (dict): Extra :class:`ImageTextFeatureFusion` arguments.
            Defaults to ``dict()``.
        norm_cfg (dict): Normalisation layers. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int] = (4, 8, 8, 8),
                 out_strides: Sequence[int] = (4, 8, 16, 32),
                 in_index: Optional[Sequence[int]] = None, channels: int = 64,
                 text_dim: Optional[int] = None, use_ifr: bool = True, use_tde: bool = True,
                 use_itff: bool = True, ifr: dict = dict(), tde: dict = dict(),
                 itff: dict = dict(), norm_cfg: dict = dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg)
        if not len(in_channels) == len(in_strides) == len(out_strides):
            raise ValueError('MMChangeNeck: in_channels, in_strides and out_strides need one '
                             f'entry per scale, got {in_channels}, {in_strides}, {out_strides}')
        if use_tde and text_dim is None:
            raise ValueError('MMChangeNeck: use_tde needs text_dim (the text encoder\'s '
                             'embed_dim); build it inside a TextGuidedEncoderDecoder with a '
                             'text_encoder, or set use_tde=False.')
        self.in_index = list(in_index) if in_index is not None else \
            list(range(-len(in_channels), 0))
        self.use_ifr, self.use_tde, self.use_itff = use_ifr, use_tde, use_itff
        self.projections = nn.ModuleList(
            _projection(c, s_in, s_out, channels, norm_cfg)
            for c, s_in, s_out in zip(in_channels, in_strides, out_strides))
        num_scales = len(in_channels)
        self.ifr = nn.ModuleList(ImageFeatureRefinement(channels, norm_cfg=norm_cfg, **ifr)
                                 for _ in range(num_scales)) if use_ifr else None
        self.tde = TextualDifferenceEnhancement(
            text_dim, channels, num_scales=num_scales, norm_cfg=norm_cfg,
            **tde) if use_tde else None
        self.itff = nn.ModuleList(ImageTextFeatureFusion(channels, **itff)
                                  for _ in range(num_scales)) if use_itff else None

    def image_features(self, feats_from: Sequence[Tensor],
                       feats_to: Sequence[Tensor]) -> List[Tensor]:
        """``F_1 .. F_n``: projected, then IFR (or the absolute difference)."""
        outputs = []
        for scale, (projection, index) in enumerate(zip(self.projections, self.in_index)):
            projected_from, projected_to = projection(
                join_dates(feats_from[index], feats_to[index])).chunk(2)
            if self.use_ifr:
                outputs.append(self.ifr[scale](projected_from, projected_to))
            else:
                outputs.append(torch.abs(projected_from - projected_to))
        return outputs

    def forward(self, feats_from: Sequence[Tensor], feats_to: Sequence[Tensor],
                text_from: Optional[Tensor] = None,
                text_to: Optional[Tensor] = None) -> List[Tensor]:
        image = self.image_features(feats_from, feats_to)
        if self.use_tde:
            if text_from is None or text_to is None:
                raise ValueError('MMChangeNeck (use_tde=True) needs the sentence embeddings '
                                 'of both dates.')
            text = self.tde(text_from, text_to, [f.shape[-2:] for f in image])
        else:
            text = [None] * len(image)
        if self.use_itff:
            return [fusion(f, t) for fusion, f, t in zip(self.itff, image, text)]
        return [f if t is None else f + t for f, t in zip(image, text)]


def join_dates(feat_from: Tensor, feat_to: Tensor) -> Tensor:
    """``torch.cat([feat_from, feat_to])`` (batch dimension), without the copy
    when the two are the halves of one batched tensor, as the siamese encoder's
    outputs split by date are (``BiTemporalEncoderDecoder.
    extract_bitemporal_feats``); the result is then a view of that tensor.
    Only without autograd (inference): in training it always concatenates.
    """
    batch = feat_from.shape[0]
    if (not torch.is_grad_enabled() and feat_from.shape == feat_to.shape
            and feat_from.stride() == feat_to.stride() and feat_from.dtype == feat_to.dtype
            and feat_from.device == feat_to.device
            and feat_from.untyped_storage().data_ptr() == feat_to.untyped_storage().data_ptr()
            and feat_to.storage_offset() == feat_from.storage_offset()
            + batch * feat_from.stride(0)):
        return feat_from.as_strided((2 * batch, *feat_from.shape[1:]), feat_from.stride(),
                                    feat_from.storage_offset())
    return torch.cat([feat_from, feat_to])


def _projection(in_channels: int, in_stride: int, out_stride: int, channels: int,
                norm_cfg: dict) -> ConvModule:
    """Conv-BN-ReLU from ``in_stride`` to ``out_stride`` (kernel ``r + 1``, stride ``r``)."""
    if out_stride % in_stride:
        raise ValueError(f'MMChangeNeck: out stride {out_stride} is not a multiple of the '
                         f'encoder stride {in_stride}')
    ratio = out_stride // in_stride
    kernel = 1 if ratio == 1 else ratio + 1
    return ConvModule(in_channels, channels, kernel, stride=ratio, padding=kernel // 2,
                      norm_cfg=norm_cfg)
