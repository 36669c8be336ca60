"""Binary cross-entropy of the change map.

Paper: LSAFNet, Sec. II-E, Eq. 16: ``L_BCD = -y_c log(p_c) - (1 - y_c)
log(1 - p_c)``, averaged over the pixels. ``p_c`` comes from one logit z
(``sigmoid(z)``) or from two-class logits (``softmax(z)_1 = sigmoid(z_1 -
z_0)``): both are the same Eq. 16, computed stably from the logit.

The authors' code weighs the classes: ``w_pos * mean over changed pixels +
w_neg * mean over unchanged pixels`` with ``w_pos = 0.25, w_neg = 0.75``;
``pos_weight`` / ``neg_weight`` reproduce it (the paper's Eq. 16 is the
plain mean, the default).
"""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


def change_logit(cls_score: Tensor) -> Tensor:
    """``logit(p_c)`` of (N, 1, H, W) or two-class (N, 2, H, W) scores."""
    if cls_score.shape[1] == 1:
        return cls_score[:, 0]
    if cls_score.shape[1] == 2:
        return cls_score[:, 1] - cls_score[:, 0]
    raise ValueError(f'ChangeBCELoss takes 1 or 2 change channels, got {cls_score.shape[1]}')


@MODELS.register_module()
class ChangeBCELoss(nn.Module):
    """Eq. 16 on change logits; labels 0/1, ``ignore_index`` left out.

    Args:
        loss_weight (float): Defaults to 1.0 (Eq. 18).
        pos_weight (float, optional): With ``neg_weight``, the class-balanced
            form of the authors' code (0.25 / 0.75). Defaults to None (the
            plain mean, Eq. 16).
        neg_weight (float, optional): See ``pos_weight``. Defaults to None.
        loss_name (str): Defaults to 'loss_bcd'.
    """

    def __init__(self, loss_weight: float = 1.0, pos_weight: Optional[float] = None,
                 neg_weight: Optional[float] = None, loss_name: str = 'loss_bcd'):
        super().__init__()
        if (pos_weight is None) != (neg_weight is None):
            raise ValueError('give pos_weight and neg_weight together (or neither)')
        self.loss_weight = loss_weight
        self.pos_weight = pos_weight
        self.neg_weight = neg_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                ignore_index: int = 255, **kwargs) -> Tensor:
        """``cls_score`` (N, 1 | 2, H, W), ``label`` (N, H, W); ``weight``
        (N, H, W) optional per-pixel weights (mmseg pixel samplers)."""
        logit = change_logit(cls_score)
        valid = (label != ignore_index).float()
        if weight is not None:
            valid = valid * weight.float()
        target = (label == 1).float()
        loss = F.binary_cross_entropy_with_logits(logit, target, reduction='none') * valid
        if self.pos_weight is None:
            total = loss.sum() / valid.sum().clamp(min=1)
        else:
            positive = target * valid
            negative = (1 - target) * valid
            total = (self.pos_weight * (loss * positive).sum() / positive.sum().clamp(min=1)
                     + self.neg_weight * (loss * negative).sum() / negative.sum().clamp(min=1))
        return self.loss_weight * total
