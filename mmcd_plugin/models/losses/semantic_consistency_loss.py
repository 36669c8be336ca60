"""Semantic consistency loss between the two dates' semantic maps.

Paper: LSAFNet, Sec. II-E, Eq. 17 (from Bi-SRNet, Ding et al. 2022): per
pixel, ``1 - cos(x_1, x_2)`` on one kind of pixel and ``cos(x_1, x_2)`` on
the other, averaged over the pixels, with x_1, x_2 the pixel's vectors in
X_1 and X_2.

Which kind is which: the authors' code (``ChangeSimilarity``, as Bi-SRNet's)
is ``CosineEmbeddingLoss(margin=0)`` with target +1 on unchanged and -1 on
changed pixels, i.e. ``1 - cos`` where NOTHING changed (both dates' class
distributions pulled together) and ``cos`` where something changed (pushed
apart). Eq. 17 as printed puts ``1 - cos`` at ``y_c = 1``, and Eq. 16 uses
``y_c = 1`` for change; read with that meaning Eq. 17 would pull changed
pixels together, against the semantic loss (changed pixels carry different
classes) and the loss's purpose. We follow the code:
``similar_where='unchanged'`` (default); ``'changed'`` is the literal
reading of the printed equation.

As in the authors' code the vectors are the softmax probabilities over the
land-cover classes, the no-change channel left out before the softmax (it
has no target, Eq. 15). Probabilities are non-negative, so cos >= 0 and
``max(0, cos) = cos``.

The loss takes both dates' logits and the change label, so it plugs into
any SCD model (an Open-CD ``SiamEncoderMultiDecoder`` subclass, or our
:class:`SemanticChangeEncoderDecoder` via ``consistency_loss``).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class SemanticConsistencyLoss(nn.Module):
    """Eq. 17 on two (N, K + 1, h, w) semantic logit maps and an (N, H, W)
    change label (0/1, ``ignore_index`` left out).

    Args:
        loss_weight (float): Defaults to 1.0 (Eq. 18).
        no_change_index (int, optional): Channel dropped before the softmax;
            None keeps every channel. Defaults to 0.
        use_softmax (bool): Compare softmax probabilities (the authors'
            code) or the raw logits. Defaults to True.
        similar_where (str): ``'unchanged'``: ``1 - cos`` on unchanged and
            ``cos`` on changed pixels (the authors' code); ``'changed'``: the
            reverse (Eq. 17 read with Eq. 16's ``y_c = 1`` = change).
            Defaults to 'unchanged'.
        align_corners (bool): Of the bilinear resize of the logits to the
            label size (when they differ). Defaults to False.
        loss_name (str): Defaults to 'loss_sc'.
    """

    def __init__(self, loss_weight: float = 1.0, no_change_index: Optional[int] = 0,
                 use_softmax: bool = True, similar_where: str = 'unchanged',
                 align_corners: bool = False, loss_name: str = 'loss_sc'):
        super().__init__()
        if similar_where not in ('unchanged', 'changed'):
            raise ValueError(f"similar_where must be 'unchanged' or 'changed', got "
                             f'{similar_where!r}')
        self.similar_where = similar_where
        self.loss_weight = loss_weight
        self.no_change_index = no_change_index
        self.use_softmax = use_softmax
        self.align_corners = align_corners
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def pixel_vectors(self, logits: Tensor, size) -> Tensor:
        if logits.shape[2:] != tuple(size):
            logits = F.interpolate(logits, size=size, mode='bilinear',
                                   align_corners=self.align_corners)
        if self.no_change_index is not None:
            keep = [c for c in range(logits.shape[1]) if c != self.no_change_index]
            logits = logits[:, keep]
        return logits.softmax(dim=1) if self.use_softmax else logits

    def forward(self, logits_from: Tensor, logits_to: Tensor, change_label: Tensor,
                ignore_index: int = 255) -> Tensor:
        if logits_from.shape != logits_to.shape:
            raise ValueError(f'semantic logits differ in shape: {tuple(logits_from.shape)} '
                             f'vs {tuple(logits_to.shape)}')
        size = change_label.shape[-2:]
        cos = F.cosine_similarity(self.pixel_vectors(logits_from, size),
                                  self.pixel_vectors(logits_to, size), dim=1)
        valid = change_label != ignore_index
        similar = change_label == (1 if self.similar_where == 'changed' else 0)
        loss = torch.where(similar, 1 - cos, cos)[valid]
        total = loss.sum() / valid.sum().clamp(min=1)
        return self.loss_weight * total
