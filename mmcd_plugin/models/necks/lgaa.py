"""Local-global attentional aggregation (LGAA) of LSAFNet.

Paper: Zhou et al., "A Late-Stage Bitemporal Feature Fusion Network for
Semantic Change Detection" (LSAFNet), Sec. II-B, Eq. 3-5, Fig. 2(c). For two
inputs F_i, F_j of C channels:

* global channel context (Eq. 3): ``w_1 = BN(Conv(ReLU(BN(Conv(GAP(F_i +
  F_j))))))``;
* local channel context (Eq. 4): the same two pointwise layers without GAP,
  ``w_2`` per pixel;
* aggregation (Eq. 5): ``F'_i = F_i sigmoid(w_1 + w_2) + F_j (1 -
  sigmoid(w_1 + w_2))``.

Eq. 3-4 write the layers inside out ("Conv(BN(ReLU(Conv(BN(...)))))"); the
text ("two layers of Conv-BN-ReLU") and the authors' code apply them as
Conv1x1(C -> C/r)-BN-ReLU-Conv1x1(C/r -> C)-BN, which is what
:class:`LocalGlobalContext` does. The inner width C/r uses ``r = 4`` (the
authors' code; the paper gives none). LGCE (Eq. 6-8) uses the same context
on a single input, see :class:`LGCE`.

The authors' code returns ``2 F_i s + 2 F_j (1 - s)``; Eq. 5 has no factor 2.
``output_scale`` (default 1, Eq. 5) reproduces the code with 2.
"""
from typing import Dict

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


class LocalGlobalContext(nn.Module):
    """``w_1 + w_2`` of Eq. 3-4 (LGAA) and Eq. 6-7 (LGCE): channel-attention
    logits from a global (GAP) and a local (per-pixel) pointwise bottleneck.

    Args:
        channels (int): Input and output channels C.
        reduction (int): Bottleneck ratio r (inner width ``max(C // r, 1)``).
            Defaults to 4.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
    """

    def __init__(self, channels: int, reduction: int = 4,
                 norm_cfg: Dict = dict(type='BN')):
        super().__init__()
        self.global_context = self._bottleneck(channels, reduction, norm_cfg)
        self.local_context = self._bottleneck(channels, reduction, norm_cfg)

    @staticmethod
    def _bottleneck(channels: int, reduction: int, norm_cfg: Dict) -> nn.Sequential:
        inner = max(channels // reduction, 1)
        return nn.Sequential(
            ConvModule(channels, inner, 1, norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')),
            ConvModule(inner, channels, 1, norm_cfg=norm_cfg, act_cfg=None))

    def forward(self, x: Tensor) -> Tensor:
        global_logits = self.global_context(x.mean(dim=(2, 3), keepdim=True))
        return global_logits + self.local_context(x)


@MODELS.register_module()
class LGAA(nn.Module):
    """Local-global attentional aggregation of two features (Eq. 3-5).

    ``LGAA(F_i, F_j) = F_i s + F_j (1 - s)`` with ``s = sigmoid(w_1 + w_2)``
    computed from ``F_i + F_j``; so ``LGAA(a, a) = a`` whatever the weights.
    Used by SFM (Eq. 1-2, adjacent backbone levels) and the CD decoder (Eq. 9,
    the two dates' high-level features).

    Args:
        channels (int): Channels C of both inputs and of the output.
        reduction (int): Bottleneck ratio r of the context branches.
            Defaults to 4 (the authors' code).
        output_scale (float): Factor on the output; 1 is Eq. 5, 2 the
            authors' code. Defaults to 1.0.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
    """

    def __init__(self, channels: int, reduction: int = 4, output_scale: float = 1.0,
                 norm_cfg: Dict = dict(type='BN')):
        super().__init__()
        self.context = LocalGlobalContext(channels, reduction, norm_cfg)
        self.output_scale = output_scale

    def forward(self, feat_i: Tensor, feat_j: Tensor) -> Tensor:
        if feat_i.shape != feat_j.shape:
            raise ValueError(f'LGAA inputs must have the same shape, got '
                             f'{tuple(feat_i.shape)} and {tuple(feat_j.shape)}')
        weight = torch.sigmoid(self.context(feat_i + feat_j))
        return self.output_scale * (feat_i * weight + feat_j * (1 - weight))
