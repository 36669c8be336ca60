"""Binary change detection (BCD) scores of the change class.

Change-detection papers (LEVIR-CD, WHU-CD, SYSU-CD tables; e.g. the S2M and
MMChange seed papers) report precision, recall, F1 and IoU of the CHANGE
class, plus OA and Kappa, whereas Open-CD's configs use mmseg's
``IoUMetric``, which reports means over both classes (and ``save_best='mIoU'``
picks checkpoints by one of them). This metric reports the change-class
values and, for those configs and their hooks, ``IoUMetric``'s keys.
"""
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

from mmcd_plugin.registry import METRICS
from .base_metric import ConfusionMatrixMetric
from .confusion import (binary_change_map, f1_score, iou, kappa,
                        overall_accuracy, percent, precision, recall)
from .peer_keys import iou_metric_keys


@METRICS.register_module()
class BinaryChangeMetric(ConfusionMatrixMetric):
    """Precision, recall, F1, IoU of the change class, OA and Kappa.

    From the 2x2 matrix (rows = reference, 0 no change, 1 change) summed over
    the whole data set, with ``TP = cm[1, 1]``, ``FP = cm[0, 1]``,
    ``FN = cm[1, 0]``, ``n = sum cm``:

    - ``Precision = TP / (TP + FP)``, ``Recall = TP / (TP + FN)``
    - ``F1 = 2 TP / (2 TP + FP + FN)``, ``IoU = TP / (TP + FP + FN)``
    - ``OA = (TP + TN) / n``
    - ``Kappa = (p_o - p_e) / (1 - p_e)``, ``p_o = OA``,
      ``p_e = sum_i rows_i cols_i / n^2``.
    - ``aAcc``, ``mIoU``, ``mAcc``, ``mDice``, ``mFscore``, ``mPrecision``,
      ``mRecall``: mmseg's ``IoUMetric`` on the same (binarised) maps, means
      over both classes with its conventions (:mod:`.peer_keys`), so that
      Open-CD's ``save_best='mIoU'`` finds its key.

    Values are percentages rounded to 2 decimals. A zero denominator gives
    100 when the prediction makes no error (e.g. no change anywhere and none
    predicted) and 0 otherwise (see :mod:`.confusion`).

    Args:
        binarize (bool): Map every class ``> 0`` of predictions and labels to
            "change" (for multi-class change maps). If False, the maps must
            already hold 0 / 1. Defaults to True.
        ignore_index (int): Label value excluded from evaluation.
            Defaults to 255.
        collect_device (str): Device for gathering results across processes.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def __init__(self,
                 binarize: bool = True,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(num_classes=2, ignore_index=ignore_index,
                         collect_device=collect_device, prefix=prefix)
        self.binarize = binarize

    @property
    def class_names(self) -> Tuple[str, str]:
        """The two classes: ``('unchanged', 'changed')``."""
        return ('unchanged', 'changed')

    def label_pairs(self, data_sample: dict
                    ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """The change map pair, binarised if ``binarize``."""
        for pred, label in super().label_pairs(data_sample):
            if self.binarize:
                pred = binary_change_map(pred)
                label = binary_change_map(label, self.ignore_index)
            yield pred, label

    def scores(self, cm: np.ndarray) -> dict:
        """Change-class precision, recall, F1, IoU; OA; Kappa (percent);
        mmseg's ``IoUMetric`` keys."""
        return dict(
            Precision=percent(precision(cm)[1]),
            Recall=percent(recall(cm)[1]),
            F1=percent(f1_score(cm)[1]),
            IoU=percent(iou(cm)[1]),
            OA=percent(overall_accuracy(cm)),
            Kappa=percent(kappa(cm)),
            **iou_metric_keys(cm))
