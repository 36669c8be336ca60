"""Semantic fusion module (SFM) of LSAFNet: F_1, F_2, F_3 -> F_H.

Paper: LSAFNet, Sec. II-B, Eq. 1-2, Fig. 2(c). Top-down, each higher level is
reduced to the next level's width by a pointwise Conv-BN-ReLU and aggregated
with it by LGAA:

* ``F'_2 = LGAA(F_2, ReLU(BN(Conv1x1(F_3))))`` (Eq. 1, 512 -> 256 channels),
* ``F_H = LGAA(F_1, ReLU(BN(Conv1x1(F'_2))))`` (Eq. 2, 256 -> 128 channels).

It runs on each date separately (no cross-temporal interaction) and passes
the low-level features F_L, F_M through unchanged, so the SS decoder gets
``[F_L, F_M, F_H]``. With the authors' output-stride-8 ResNet F_1..F_3 share
one size; levels of different sizes (a stride-32 backbone) are handled by
upsampling the reduced higher level bilinearly to the lower one.
"""
from typing import Dict, List, Optional, Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class SemanticFusionModule(BaseModule):
    """SFM (Eq. 1-2): fuse the last ``num_fused`` levels top-down into one.

    Args:
        in_channels (Sequence[int]): Channels of every backbone level, low to
            high. Defaults to (64, 64, 128, 256, 512) (F_L, F_M, F_1, F_2,
            F_3 of ResNet-34).
        num_fused (int): How many of the last levels are fused (F_1..F_3: 3);
            the earlier levels pass through. Defaults to 3.
        fusion (dict): Aggregation of a level with the reduced level above,
            built with ``channels`` of the lower level: ``dict(type='LGAA')``
            (Eq. 1-2) or ``dict(type='ConcatFusion')`` (Table III "Base").
            Defaults to dict(type='LGAA').
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, in_channels: Sequence[int] = (64, 64, 128, 256, 512),
                 num_fused: int = 3, fusion: Dict = dict(type='LGAA'),
                 norm_cfg: Dict = dict(type='BN'), init_cfg: Optional[Dict] = None):
        super().__init__(init_cfg)
        if not 2 <= num_fused <= len(in_channels):
            raise ValueError(f'num_fused must be in [2, {len(in_channels)}] for '
                             f'in_channels={list(in_channels)}, got {num_fused}')
        self.in_channels = list(in_channels)
        self.num_fused = num_fused
        fused = self.in_channels[-num_fused:]
        # step k fuses level (k) with the reduced level (k + 1), from the top down
        self.reduces = nn.ModuleList(
            ConvModule(high, low, 1, norm_cfg=norm_cfg) for low, high in zip(fused, fused[1:]))
        self.fusions = nn.ModuleList(
            MODELS.build(fusion, default_args=dict(channels=low, norm_cfg=norm_cfg))
            for low in fused[:-1])

    @property
    def out_channels(self) -> List[int]:
        """Channels of the outputs: the passed-through levels, then F_H."""
        return self.in_channels[:-self.num_fused] + [self.in_channels[-self.num_fused]]

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        if len(feats) != len(self.in_channels):
            raise ValueError(f'SFM expects {len(self.in_channels)} feature levels '
                             f'(in_channels={self.in_channels}), got {len(feats)}')
        passed, fused = list(feats[:-self.num_fused]), list(feats[-self.num_fused:])
        high = fused[-1]
        for step in reversed(range(self.num_fused - 1)):
            low = fused[step]
            reduced = self.reduces[step](high)
            if reduced.shape[2:] != low.shape[2:]:
                reduced = F.interpolate(reduced, size=low.shape[2:], mode='bilinear',
                                        align_corners=False)
            high = self.fusions[step](low, reduced)
        return passed + [high]
