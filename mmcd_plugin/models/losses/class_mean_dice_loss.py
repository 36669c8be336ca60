"""Dice loss averaged over classes, for multi-class (softmax) maps.

S2M (Zheng, Dong et al., Eq. 5) adds a Dice term "to address class
imbalance", citing V-Net (Milletari et al., 2016), whose Dice is that of one
foreground class: ``D = 2 sum(p y) / (sum(p^2) + sum(y^2))``. For C classes
the reading that keeps the term's purpose is one Dice per class, averaged:
``L = 1 - (1 / C') sum_c D_c``, so a class of a few hundred pixels weighs as
much as the background. The mean runs over the C' classes present in the
reference (of the batch, or of each image with ``per_image``): with V-Net's
formula an absent class scores Dice 0 whatever is predicted, a constant
that carries no gradient; false alarms of such a class are left to the other
terms of Eq. 5 (focal, Lovasz). Averaging over present classes only keeps
the loss's scale independent of how many classes a batch lacks.

mmseg's :class:`~mmseg.models.losses.DiceLoss` computes a different figure:
it flattens the C x H x W one-hot map of each image into one vector, so its
single Dice per image is a pixel-weighted mix in which the background
dominates. This subclass hands mmseg's ``dice_loss`` one row per class (and
per image when ``per_image``) instead, so the Dice formula, its ``eps`` and
``naive_dice`` are mmseg's; it also leaves ``ignore_index`` pixels out of
every sum (mmseg's ``ignore_index`` drops a channel, not pixels).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.models.losses import DiceLoss
from torch import Tensor

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class ClassMeanDiceLoss(DiceLoss):
    """``1 - mean_c Dice_c`` of ``softmax(logits)`` against the labels, over
    the classes present in the labels.

    Args:
        per_image (bool): One Dice per class and image, averaged over both
            (True), or one Dice per class over the whole batch (False, a
            class absent from one image still counts there). Defaults to
            False.
        naive_dice (bool): Denominator ``sum(p) + sum(y)`` (True) or V-Net's
            ``sum(p^2) + sum(y^2)`` (False, the paper's citation). Defaults
            to False.
        eps (float): Smoothing term (mmseg's). Defaults to 1e-3.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        loss_name (str): Name in the loss dict. Defaults to 'loss_dice'.
    """

    def __init__(self, per_image: bool = False, naive_dice: bool = False, eps: float = 1e-3,
                 loss_weight: float = 1.0, loss_name: str = 'loss_dice'):
        super().__init__(use_sigmoid=False, activate=False, naive_dice=naive_dice,
                         loss_weight=loss_weight, ignore_index=None, eps=eps,
                         loss_name=loss_name)
        self.per_image = per_image

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor=None, reduction_override=None, ignore_index: int = 255,
                **kwargs) -> Tensor:
        """``pred``: ``(N, C, H, W)`` logits; ``target``: ``(N, H, W)`` labels
        in ``[0, C)`` or ``ignore_index`` (the decode head passes its own).
        ``weight``, ``avg_factor`` and ``reduction_override`` are mmseg's loss
        interface; the result is always the mean over present classes."""
        if pred.dim() != 4 or pred.shape[1] < 2 or target.shape != (pred.shape[0],
                                                                   *pred.shape[2:]):
            raise ValueError(f'ClassMeanDiceLoss expects (N, C >= 2, H, W) logits and (N, H, W) '
                             f'labels, got {tuple(pred.shape)} and {tuple(target.shape)}; use '
                             f'BinaryDiceLoss for a one-channel map.')
        num_classes = pred.shape[1]
        valid = (target != ignore_index).unsqueeze(1)
        prob = pred.softmax(dim=1) * valid
        one_hot = F.one_hot(torch.where(valid[:, 0], target, 0), num_classes)
        one_hot = one_hot.permute(0, 3, 1, 2).to(prob.dtype) * valid
        if self.per_image:  # rows (image, class)
            prob, one_hot = (t.flatten(2).flatten(0, 1) for t in (prob, one_hot))
        else:  # rows: classes, over the whole batch
            prob, one_hot = (t.transpose(0, 1).reshape(num_classes, -1) for t in (prob, one_hot))
        losses = super().forward(prob, one_hot, reduction_override='none')
        present = one_hot.sum(1) > 0
        if not present.any():  # every pixel ignored: nothing to score
            return pred.sum() * 0
        return losses[present].mean()
