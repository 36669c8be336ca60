"""Local-global context enhancement (LGCE) of LSAFNet's SS decoder.

Paper: LSAFNet, Sec. II-C, Eq. 6-8, Fig. 2(d): the high-level feature F_H is
re-weighted channel-wise by its own global (GAP) and local context,

* ``w_1 = BN(Conv(ReLU(BN(Conv(GAP(F_H))))))`` (Eq. 6),
* ``w_2 = BN(Conv(ReLU(BN(Conv(F_H)))))`` (Eq. 7),
* ``F'_H = F_H sigmoid(w_1 + w_2)`` (Eq. 8),

with the same context branches as LGAA (:class:`LocalGlobalContext`,
bottleneck ratio 4). Table III's "without LGCE" replaces it by the identity
(``context_enhancement=None`` in :class:`LSAFSemanticHead`).
"""
from typing import Dict

import torch
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS
from .lgaa import LocalGlobalContext


@MODELS.register_module()
class LGCE(nn.Module):
    """``F'_H = F_H sigmoid(w_1 + w_2)`` (Eq. 6-8).

    Args:
        channels (int): Channels of F_H.
        reduction (int): Bottleneck ratio r of the context branches.
            Defaults to 4.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
    """

    def __init__(self, channels: int, reduction: int = 4, norm_cfg: Dict = dict(type='BN')):
        super().__init__()
        self.context = LocalGlobalContext(channels, reduction, norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.context(x))
