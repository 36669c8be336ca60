"""Concatenation + pointwise MLP fusion: LSAFNet's "Base" in place of LGAA.

Paper: LSAFNet, Sec. III-D (ablation, Table III): "To deactivate LGAA module,
we first concatenate two input features and apply a MLP to perform channel
reduction." The MLP's depth is not given; here it is one pointwise layer
Conv1x1(2C -> C)-BN-ReLU, the smallest per-pixel MLP that reduces the
channels (``num_layers`` adds Conv1x1(C -> C)-BN-ReLU layers).
"""
from typing import Dict

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class ConcatFusion(nn.Sequential):
    """``MLP(concat(F_i, F_j))``: two C-channel features -> C channels.

    Drop-in replacement of :class:`LGAA` (same call ``fusion(F_i, F_j)``).

    Args:
        channels (int): Channels C of each input and of the output.
        num_layers (int): Pointwise layers of the MLP. Defaults to 1.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
    """

    def __init__(self, channels: int, num_layers: int = 1, norm_cfg: Dict = dict(type='BN')):
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        layers = [ConvModule(2 * channels if index == 0 else channels, channels, 1,
                             norm_cfg=norm_cfg) for index in range(num_layers)]
        super().__init__(*layers)

    def forward(self, feat_i: Tensor, feat_j: Tensor) -> Tensor:
        return super().forward(torch.cat([feat_i, feat_j], dim=1))
