"""Dice loss of a one-channel (sigmoid) change map.

MMChange (Zhou et al., Sec. III-E) trains every decoder output with
``BCE + (1 - Dice)``; the authors' code computes one Dice over the whole batch,
``Dice = (2 sum(p * y) + eps) / (sum(p) + sum(y) + eps)``.

mmseg's :class:`~mmseg.models.losses.DiceLoss` does not fit a one-channel
map with an ``(N, H, W)`` label: it one-hot encodes the label into the
prediction's channels, which for a single channel is the indicator of class
0 (no change), and its ``ignore_index`` drops a *channel*, not pixels. This
subclass hands it the change indicator ``label == 1`` as a matching
``(N, 1, H, W)`` target and removes the ignored pixels (padding) from both
sums; the Dice itself is mmseg's.
"""
from typing import Optional

import torch
from mmseg.models.losses import DiceLoss
from torch import Tensor

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class BinaryDiceLoss(DiceLoss):
    """``1 - Dice`` of ``sigmoid(logits)`` and the change mask, ignored pixels left out.

    Args:
        per_image (bool): One Dice per image, averaged (mmseg), or one Dice
            over the whole batch (the authors' code). Defaults to False.
        naive_dice (bool): Denominator ``sum(p) + sum(y)`` (True, the
            authors') or ``sum(p^2) + sum(y^2)`` (V-Net). Defaults to True.
        eps (float): Smoothing term. Defaults to 1e-5 (authors).
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        loss_name (str): Name in the loss dict. Defaults to 'loss_dice'.
    """

    def __init__(self, per_image: bool = False, naive_dice: bool = True, eps: float = 1e-5,
                 loss_weight: float = 1.0, loss_name: str = 'loss_dice'):
        super().__init__(use_sigmoid=True, activate=False, naive_dice=naive_dice,
                         loss_weight=loss_weight, ignore_index=None, eps=eps,
                         loss_name=loss_name)
        self.per_image = per_image

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor=None, reduction_override=None, ignore_index: int = 255,
                **kwargs) -> Tensor:
        """``pred``: ``(N, 1, H, W)`` logits; ``target``: ``(N, H, W)`` labels 0/1
        (``ignore_index`` elsewhere)."""
        if pred.dim() != 4 or pred.shape[1] != 1:
            raise ValueError(f'BinaryDiceLoss expects (N, 1, H, W) logits, got '
                             f'{tuple(pred.shape)}; use mmseg\'s DiceLoss for multi-class maps.')
        valid = (target != ignore_index).unsqueeze(1)
        prob = torch.sigmoid(pred) * valid
        change = ((target == 1).unsqueeze(1) & valid).to(pred.dtype)
        if not self.per_image:
            prob, change = prob.reshape(1, 1, 1, -1), change.reshape(1, 1, 1, -1)
            weight = None
        return super().forward(prob, change, weight=weight, avg_factor=avg_factor,
                               reduction_override=reduction_override)
