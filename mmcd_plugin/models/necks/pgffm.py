"""Prior-guided feature fusion module (PGFFM) of STSF-Net.

Paper: "Prior-guided Fusion of Multimodal Features for Change Detection from
Optical-SAR Images" (STSF-Net), Section IV-D-2 "Prior-Guided Feature Fusion
Module", Eq. 6-8 and Fig. 5. At every scale i:

* change prior (Eq. 6): ``M^i = sigmoid(F(||P^i_opt(x, y, :) - P^i_sar(x, y,
  :)||_2))``, the per-pixel Euclidean distance between the frozen prior
  generator's optical and SAR features, enhanced by a shallow CNN F;
* two change paths (Eq. 7): ``F_s = S_opt - S_sar`` (modality-specific) and
  ``F_c = C_opt - C_sar`` (common, from STCFM);
* prior-guided weighting (Eq. 8): ``M (.) F_s + (1 - M) (.) F_c``; "the
  weighted features from both paths are then concatenated and fused through a
  convolutional module".

Points the paper leaves open, each an argument of :class:`PriorGuidedFusion`:

* *Shallow CNN F*: Conv3x3(1 -> h)-BN-ReLU-Conv3x3(h -> 1) (with bias), one
  per scale, ``h = prior_hidden`` (default 16). Its input is the 1-channel
  distance map; priors may differ from the features in channels and size,
  so the distance map is resized bilinearly to the feature size (before F)
  when they differ.
* *Fusion*: ``fusion='conv'`` (default) concatenates the two weighted paths
  and applies ConvModule(2 C -> C_out, ``fusion_kernel_size``, BN, ReLU).
  The concatenation interleaves the paths channel by channel,
  ``[M F_s[0], (1-M) F_c[0], M F_s[1], ...]`` (for a dense conv this is only
  a permutation), so ``fusion_groups='channel'`` (default, groups = C: each
  output channel mixes its own channel of both paths over the window, 20 C
  parameters for 3x3) is a learned, spatially smoothed Eq. 8. An int
  ``fusion_groups`` gives a grouped conv, 1 a dense conv (18 C^2 weights at
  3x3: about 14 M at [96, 192, 384, 768]). ``fusion='sum'`` returns the Eq. 8
  sum itself (C channels, no parameters besides F).
* *No prior*: ``use_prior=False`` sets M = 0.5 everywhere (both paths
  weighted equally, F not built); priors may then be None. With
  ``use_prior=True`` priors are required. (Table VII's "w/o PGFFM" row is the
  model without PGFFM, Table V's STSF-Net-V2; the paper does not say what
  fuses S and C there, so this is the closest prior-free variant.)
* Priors are used as given (the prior generator is frozen); the gradient
  through M trains F only.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


def prior_distance(prior_opt: Tensor, prior_sar: Tensor) -> Tensor:
    """Per-pixel Euclidean distance over channels: (B, 1, H, W)."""
    if prior_opt.shape != prior_sar.shape:
        raise ValueError(f'optical prior {tuple(prior_opt.shape)} and SAR prior '
                         f'{tuple(prior_sar.shape)} must have the same shape')
    return torch.linalg.vector_norm(prior_opt - prior_sar, dim=1, keepdim=True)


class ChangePriorNet(nn.Module):
    """The shallow CNN F of Eq. 6: Conv3x3(1->h)-BN-ReLU-Conv3x3(h->1).

    Args:
        hidden (int): Hidden width h. Defaults to 16.
        norm_cfg (dict): Norm after the first conv. Defaults to
            dict(type='BN').
    """

    def __init__(self, hidden: int = 16, norm_cfg: Dict = dict(type='BN')):
        super().__init__()
        self.conv1 = nn.Conv2d(1, hidden, 3, padding=1, bias=False)
        self.norm = build_norm_layer(norm_cfg, hidden)[1]
        self.conv2 = nn.Conv2d(hidden, 1, 3, padding=1)

    def forward(self, distance: Tensor) -> Tensor:
        return self.conv2(F.relu(self.norm(self.conv1(distance))))


@MODELS.register_module()
class PriorGuidedFusion(BaseModule):
    """Prior-guided dual-path fusion (PGFFM) of STSF-Net, Eq. 6-8, per scale.

    ``neck(S_opt, S_sar, C_opt, C_sar, P_opt, P_sar) -> [F_fuse^i]``: lists of
    NCHW tensors, one per scale; S and C share ``in_channels[i]`` and the
    spatial size at scale i; P_opt^i and P_sar^i share a shape of their own
    (any channels and size). See the module docstring for the open points.

    Args:
        in_channels (Sequence[int]): C_i of the specific and common features.
        out_channels (Sequence[int] | int, optional): Output channels of the
            fusion conv per scale (an int applies to all); None keeps C_i.
            Only for ``fusion='conv'``. Defaults to None.
        fusion (str): 'conv' (concatenate the two weighted paths, then a conv
            module) or 'sum' (Eq. 8 as written). Defaults to 'conv'.
        fusion_kernel_size (int): Kernel of the fusion conv. Defaults to 3.
        fusion_groups (int | str): Groups of the fusion conv; 'channel' means
            C_i groups (each output channel sees its channel of both paths),
            1 a dense conv. Defaults to 'channel'.
        use_prior (bool): Compute M from the priors (Eq. 6); False uses
            M = 0.5. Defaults to True.
        prior_hidden (int): Hidden width of the shallow CNN F. Defaults to 16.
        norm_cfg (dict): Norm layers. Defaults to dict(type='BN').
        act_cfg (dict): Activation of the fusion conv. Defaults to
            dict(type='ReLU').
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to None.
    """

    def __init__(self, in_channels: Sequence[int],
                 out_channels: Optional[Union[int, Sequence[int]]] = None,
                 fusion: str = 'conv', fusion_kernel_size: int = 3,
                 fusion_groups: Union[int, str] = 'channel', use_prior: bool = True,
                 prior_hidden: int = 16, norm_cfg: Dict = dict(type='BN'),
                 act_cfg: Dict = dict(type='ReLU'), init_cfg=None):
        super().__init__(init_cfg)
        if fusion not in ('conv', 'sum'):
            raise ValueError(f"fusion must be 'conv' or 'sum', got {fusion!r}")
        self.in_channels = list(in_channels)
        self.fusion = fusion
        self.use_prior = use_prior
        if out_channels is None:
            out_channels = self.in_channels
        elif isinstance(out_channels, int):
            out_channels = [out_channels] * len(self.in_channels)
        if fusion == 'sum' and list(out_channels) != self.in_channels:
            raise ValueError("fusion='sum' keeps in_channels; out_channels needs 'conv'")
        self.out_channels = list(out_channels)
        self.prior_nets = nn.ModuleList(
            ChangePriorNet(prior_hidden, norm_cfg) for _ in self.in_channels) \
            if use_prior else None
        self.fusion_convs = None
        if fusion == 'conv':
            convs = []
            for c, out in zip(self.in_channels, self.out_channels):
                groups = c if fusion_groups == 'channel' else int(fusion_groups)
                if (2 * c) % groups or out % groups:
                    raise ValueError(f'fusion_groups={fusion_groups!r} must divide 2*{c} '
                                     f'inputs and {out} outputs')
                convs.append(ConvModule(2 * c, out, fusion_kernel_size,
                                        padding=fusion_kernel_size // 2, groups=groups,
                                        norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.fusion_convs = nn.ModuleList(convs)

    def change_prior(self, index: int, prior_opt: Tensor, prior_sar: Tensor,
                     size) -> Tensor:
        """M^i_diff (Eq. 6) at feature size ``size``: (B, 1, H, W) in [0, 1]."""
        distance = prior_distance(prior_opt, prior_sar)
        if distance.shape[-2:] != tuple(size):
            distance = F.interpolate(distance, size=tuple(size), mode='bilinear',
                                     align_corners=False)
        return torch.sigmoid(self.prior_nets[index](distance))

    def fuse(self, index: int, f_s: Tensor, f_c: Tensor, m: Union[Tensor, float]) -> Tensor:
        """Eq. 8 and the fusion conv for scale ``index``."""
        weighted_s, weighted_c = m * f_s, (1 - m) * f_c
        if self.fusion == 'sum':
            return weighted_s + weighted_c
        # interleave: channel 2j = M F_s[j], 2j+1 = (1-M) F_c[j]
        both = torch.stack([weighted_s, weighted_c], dim=2).flatten(1, 2)
        return self.fusion_convs[index](both)

    def forward(self, specific_opt: Sequence[Tensor], specific_sar: Sequence[Tensor],
                common_opt: Sequence[Tensor], common_sar: Sequence[Tensor],
                priors_opt: Optional[Sequence[Tensor]] = None,
                priors_sar: Optional[Sequence[Tensor]] = None) -> List[Tensor]:
        num = len(self.in_channels)
        if not len(specific_opt) == len(specific_sar) == len(common_opt) == \
                len(common_sar) == num:
            raise ValueError(f'expected {num} scales of S_opt, S_sar, C_opt, C_sar, got '
                             f'{len(specific_opt)}, {len(specific_sar)}, '
                             f'{len(common_opt)}, {len(common_sar)}')
        if self.use_prior:
            if priors_opt is None or priors_sar is None:
                raise ValueError('PriorGuidedFusion(use_prior=True) needs priors_opt and '
                                 'priors_sar; use use_prior=False to run without priors')
            if not len(priors_opt) == len(priors_sar) == num:
                raise ValueError(f'expected {num} prior scales, got {len(priors_opt)} '
                                 f'optical and {len(priors_sar)} SAR')
        fused = []
        for i in range(num):
            shapes = {tuple(int(d) for d in t.shape)  # int(): shapes are tensors under tracing
                      for t in (specific_opt[i], specific_sar[i], common_opt[i], common_sar[i])}
            if len(shapes) != 1 or specific_opt[i].shape[1] != self.in_channels[i]:
                raise ValueError(f'scale {i}: S_opt, S_sar, C_opt, C_sar must share one '
                                 f'shape with {self.in_channels[i]} channels, got {shapes}')
            f_s = specific_opt[i] - specific_sar[i]                  # Eq. 7
            f_c = common_opt[i] - common_sar[i]
            if self.use_prior:
                m = self.change_prior(i, priors_opt[i], priors_sar[i], f_s.shape[-2:])
            else:
                m = 0.5
            fused.append(self.fuse(i, f_s, f_c, m))
        return fused
