"""Multi-class (softmax) focal loss of a segmentation map.

S2M ("Masks Can Talk", Eq. 5) trains with ``0.4 focal + 0.3 Dice + 0.3
Lovasz``; the focal term is Lin et al.'s focal loss (ICCV 2017, Eq. 5) on the
softmax probability of the true class:

    FL = -alpha_t (1 - p_t)^gamma log(p_t),

averaged over the labelled pixels (``ignore_index`` pixels left out).

mmseg's :class:`~mmseg.models.losses.FocalLoss` is a one-vs-all *sigmoid*
focal loss, and with class-index labels its CPU path selects a single
one-hot column (``target[:, num_classes]``) and fails on any map with more
than one class; this module is the softmax form, runs on every device and
reduces to cross-entropy for ``gamma = 0`` and no ``alpha``.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class SoftmaxFocalLoss(nn.Module):
    """``mean over labelled pixels of -alpha_t (1 - p_t)^gamma log p_t``.

    Args:
        gamma (float): Focusing parameter. Defaults to 2.0 (Lin et al.).
        alpha (Sequence[float], optional): Per-class weight ``alpha_t``.
            Defaults to None (1 for every class).
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        ignore_index (int): Label value left out. Defaults to 255 (the decode
            head's ``ignore_index`` takes precedence when it passes one).
        loss_name (str): Name in the loss dict. Defaults to 'loss_focal'.
    """

    def __init__(self, gamma: float = 2.0, alpha: Optional[Sequence[float]] = None,
                 loss_weight: float = 1.0, ignore_index: int = 255,
                 loss_name: str = 'loss_focal'):
        super().__init__()
        self.gamma = gamma
        self.alpha = None if alpha is None else [float(a) for a in alpha]
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                ignore_index: Optional[int] = None, **kwargs) -> Tensor:
        """Args:
            pred (Tensor): (N, C, H, W) logits.
            target (Tensor): (N, H, W) class indices.
            weight (Tensor, optional): (N, H, W) per-pixel weights.
            ignore_index (int, optional): Overrides the module's value.
        """
        ignore = self.ignore_index if ignore_index is None else ignore_index
        valid = target != ignore
        safe_target = torch.where(valid, target, torch.zeros_like(target)).unsqueeze(1)
        log_p = F.log_softmax(pred, dim=1).gather(1, safe_target).squeeze(1)
        loss = -(1 - log_p.exp()).pow(self.gamma) * log_p
        if self.alpha is not None:
            if len(self.alpha) != pred.shape[1]:
                raise ValueError(f'alpha has {len(self.alpha)} values for {pred.shape[1]} '
                                 'classes')
            loss = loss * pred.new_tensor(self.alpha)[safe_target.squeeze(1)]
        if weight is not None:
            loss = loss * weight
        loss = loss[valid]
        mean = loss.sum() / loss.numel() if loss.numel() else pred.sum() * 0
        return self.loss_weight * mean
