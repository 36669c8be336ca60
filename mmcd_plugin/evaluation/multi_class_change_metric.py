"""Multi-class change detection (MCD) scores of the S2M tables.

S2M (the seed paper on mask-derived text supervision, Tables 2, 4, 5 on
Gaza-Change-v2) reports Sek, Fscd, mIoU, Pre., Rec. and mF1 for ONE change
map whose class 0 is "no change" and whose classes 1..K are change types.
It gives no formulas, only "Evaluation metrics follow the reference paper
[8]" (Bi-SRNet, Ding et al., TGRS 2022), which defines SeK and Fscd.
"""
import numpy as np

from mmcd_plugin.registry import METRICS
from .base_metric import ConfusionMatrixMetric
from .confusion import (f1_score, iou, overall_accuracy, percent,
                        semantic_change_scores, separated_kappa)
from .peer_keys import iou_metric_keys


@METRICS.register_module()
class MultiClassChangeMetric(ConfusionMatrixMetric):
    """SeK, Fscd, mIoU, mPrecision, mRecall, mF1 and OA of a change map.

    ``cm`` is the ``(K+1) x (K+1)`` confusion matrix (rows = reference) of
    ``pred_sem_seg`` / ``gt_sem_seg`` over the data set, class 0 = no change.
    The change map plays the role of Bi-SRNet's semantic map (0 = no change,
    ``>= 1`` = what the changed pixel is):

    - ``SeK = kappa(cm') * exp(IoU_c - 1)`` (Bi-SRNet [8]); ``cm'`` is
      ``cm`` with ``cm[0, 0]`` set to 0 and ``IoU_c`` the IoU of "change"
      once all classes ``>= 1`` are merged.
    - ``Fscd = 2 H / (P + R)``, the harmonic mean of ``Pscd = H / P`` and
      ``Rscd = H / R`` (Bi-SRNet [8]): ``H = sum_{i>=1} cm[i, i]``, ``P`` =
      pixels predicted as changed, ``R`` = pixels changed in the reference.
    - ``mIoU``, ``mPrecision``, ``mRecall``, ``mF1``: per-class IoU,
      precision, recall and F1 averaged over all ``K + 1`` classes, no change
      included (macro means, the quadruple mmseg's ``IoUMetric`` reports).
    - ``OA = trace(cm) / sum(cm)``; ``IoU.<class>`` per class.
    - ``mIoU``, ``mPrecision``, ``mRecall`` (and ``aAcc``, ``mAcc``,
      ``mDice``, ``mFscore``) are mmseg's ``IoUMetric`` values of ``cm``
      (:mod:`.peer_keys`), so the names mean what they mean in mmseg and
      Open-CD. They are the class means above, except that a class absent
      from prediction and reference is left out of the mean (mmseg's NaN)
      and that they are float32 values.

    Where the paper is vague:

    (a) mIoU is the class mean, not Bi-SRNet's ``(IoU_nc + IoU_c) / 2``.
    S2M's own numbers make the latter implausible: Fscd <= F1 of the merged
    change class, so Fscd = 66.14 forces ``IoU_c >= 49.4`` and then
    mIoU = 66.39 forces ``IoU_nc <= 83.4``; together these need about 14 %
    or more of all pixels to be changed, while the Gaza data set is
    described as damage covering small areas.
    (b) Pre., Rec. and mF1 are macro means over classes, not change-class
    values: in every row of Tables 2, 4 and 5, mF1 lies below the harmonic
    mean of Pre. and Rec. (78.10 < 79.03 for S2M), as a mean of per-class
    F1 must, and mIoU >= mF1 / (2 - mF1), as holds when both are means over
    the same classes (``IoU = F1 / (2 - F1)`` per class, a convex map).
    (c) The no-change class is included in those means, as in mmseg's and
    Open-CD's metric, whose outputs carry these names.

    Values are percentages rounded to 2 decimals. Zero denominators of our
    own keys follow :mod:`.confusion`: 100 without errors, else 0 (a class
    absent from prediction and reference scores 100 and counts in mF1).

    Args:
        num_classes (int, optional): ``K + 1``. Defaults to None (the length
            of ``dataset_meta['classes']``).
        ignore_index (int): Label value excluded from evaluation.
            Defaults to 255.
        collect_device (str): Device for gathering results across processes.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """

    def scores(self, cm: np.ndarray) -> dict:
        """SeK, Fscd, mF1, OA, IoU.<class>; mmseg's mIoU, mPrecision,
        mRecall (and its other keys)."""
        return dict(
            SeK=percent(separated_kappa(cm)),
            Fscd=percent(semantic_change_scores(cm)[2]),
            mF1=percent(np.mean(f1_score(cm))),
            OA=percent(overall_accuracy(cm)),
            **self.per_class('IoU', iou(cm)),
            **iou_metric_keys(cm))
