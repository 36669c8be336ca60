"""Multimodal (optical-SAR) change detection scores of STSF-Net.

STSF-Net (the optical-SAR MMCD seed paper, Sec. V-A "Evaluation Metrics",
Eq. 9-14) scores one change map whose class 0 is "unchanged" and whose
classes 1..N are change categories (Delta-SN6: added / disappeared building,
road, water; BRIGHT: intact / damaged / destroyed; Wuhan-Het: change).
"""
import numpy as np

from mmcd_plugin.registry import METRICS
from .base_metric import ConfusionMatrixMetric
from .confusion import (change_matrix, f1_score, iou, overall_accuracy,
                        percent, precision, recall)
from .peer_keys import iou_metric_keys


@METRICS.register_module()
class MultimodalChangeMetric(ConfusionMatrixMetric):
    """OA, mIoU, per-class IoU, F1_bcd and F1_clf of STSF-Net (Eq. 9-14).

    ``cm`` is the ``(N+1) x (N+1)`` confusion matrix of the change maps
    ``pred_sem_seg`` / ``gt_sem_seg`` over the data set (classes 0..N, 0 =
    unchanged). The paper writes ``x_ij`` with ``i`` the predicted class; our
    ``cm`` is its transpose (rows = reference), which changes none of the
    formulas below:

    - Eq. 9: ``OA = sum_{i=0}^{N} x_ii / sum_{i,j} x_ij``.
    - Eq. 11: ``IoU_i = TP_i / (TP_i + FP_i + FN_i)``, reported for every
      class as ``IoU.<class name>``.
    - Eq. 10: ``mIoU = (1 / C) sum_i IoU_i`` "averaging the IoU across all
      classes". We take all ``C = N + 1`` classes, the unchanged class
      included, as the paper's own numbers require: on BRIGHT it reports
      F1_clf = 75.83 (mean over the 4 classes, Eq. 14) and mIoU = 67.91.
      With the unchanged F1 in the high 90s (OA = 96.10), the three change
      classes average an F1 near 68-69; as ``IoU = F1 / (2 - F1) <= F1``
      with equality only at 0 and 100, their mean IoU could reach 67.91
      only if every change-class F1 were close to 0 or 100. The value is
      mmseg's ``IoUMetric`` mIoU of ``cm`` (:mod:`.peer_keys`, which also
      adds its ``aAcc``, ``mAcc``, ``mDice``, ``mFscore``, ``mPrecision``,
      ``mRecall``): this mean, except that a class absent from prediction
      and reference is left out (mmseg's NaN), in float32.
    - Eq. 12: ``P_c = TP_c / (TP_c + FP_c)``, ``R_c = TP_c / (TP_c + FN_c)``
      on the binary change areas: every class ``>= 1`` is "change", so
      ``TP_c`` counts changed pixels predicted as changed, whatever the
      category. Reported as ``Precision_bcd`` / ``Recall_bcd``.
    - Eq. 13: ``F1_bcd = 2 P_c R_c / (P_c + R_c) = 2 TP_c / (2 TP_c + FP_c +
      FN_c)``.
    - Eq. 14: ``F1_clf = (1 / (N + 1)) sum_{i=0}^{N} 2 TP_i / (2 TP_i + FP_i
      + FN_i)``, the unchanged class included.

    Values are percentages rounded to 2 decimals. Zero denominators follow
    :mod:`.confusion`: 100 without errors (a class absent from prediction and
    reference scores 100 and counts in F1_clf, as the equations average over
    all classes), else 0.

    Args:
        num_classes (int, optional): ``N + 1``. Defaults to None (the length
            of ``dataset_meta['classes']``).
        ignore_index (int): Label value excluded from evaluation.
            Defaults to 255.
        collect_device (str): Device for gathering results across processes.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def scores(self, cm: np.ndarray) -> dict:
        """OA, F1_bcd, F1_clf, P_c, R_c, IoU.<class> (percent); mmseg's
        mIoU and its other keys."""
        binary = change_matrix(cm)
        class_iou = iou(cm)
        return dict(
            OA=percent(overall_accuracy(cm)),
            F1_bcd=percent(f1_score(binary)[1]),
            F1_clf=percent(np.mean(f1_score(cm))),
            Precision_bcd=percent(precision(binary)[1]),
            Recall_bcd=percent(recall(binary)[1]),
            **self.per_class('IoU', class_iou),
            **iou_metric_keys(cm))
