"""Multi-class cross-entropy of one date's semantic map, no-change ignored.

Paper: LSAFNet, Sec. II-E, Eq. 15: ``L_SS = -(1/N) sum_i y_i log(p_i)``,
"We ignore the no-change class in the semantic change labels". SCD labels
(SECOND, Landsat-SCD) hold a land-cover class only where the pixel changed
and 0 ("no change") elsewhere, so the semantic branches learn from changed
pixels only, averaged over them (the authors' code: ``NLLLoss(ignore_index=0)``
with mean reduction). A batch without changed pixels gives 0 (not NaN).
"""
from mmseg.models.losses import CrossEntropyLoss
from torch import Tensor

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class SemanticCELoss(CrossEntropyLoss):
    """mmseg's softmax ``CrossEntropyLoss`` that also ignores the no-change
    label (Eq. 15), averaged over the remaining pixels.

    Args:
        no_change_index (int): Label of the no-change class. Defaults to 0.
        loss_weight (float): Eq. 18 weighs each date by 0.5 (set in the
            head's config). Defaults to 1.0.
        class_weight (list[float], optional): Per-class weights.
            Defaults to None.
        loss_name (str): Defaults to 'loss_ss'.
    """

    def __init__(self, no_change_index: int = 0, loss_weight: float = 1.0,
                 class_weight=None, loss_name: str = 'loss_ss'):
        super().__init__(use_sigmoid=False, class_weight=class_weight,
                         loss_weight=loss_weight, loss_name=loss_name, avg_non_ignore=True)
        self.no_change_index = no_change_index

    def forward(self, cls_score: Tensor, label: Tensor, weight=None, avg_factor=None,
                reduction_override=None, ignore_index: int = 255, **kwargs) -> Tensor:
        label = label.masked_fill(label == self.no_change_index, ignore_index)
        return super().forward(cls_score, label, weight, avg_factor=avg_factor,
                               reduction_override=reduction_override,
                               ignore_index=ignore_index, **kwargs)
