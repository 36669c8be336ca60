"""Semantic change detection (SCD) scores: mIoU, SeK, Fscd, OA.

The SECOND benchmark convention (Yang et al., "Asymmetric Siamese networks
for semantic change detection in aerial images", IEEE TGRS 60, 2022) as the
Bi-SRNet (Ding et al., IEEE TGRS 60, 2022) and SCanNet evaluation code and
Open-CD's SeK compute it. The LSAFNet seed paper reports mIoU, SeK and Fscd
this way on SECOND and Landsat-SCD; its "Avg" column (about 87 % on
SECOND) appears to be the OA below.
"""
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

from mmcd_plugin.registry import METRICS
from .base_metric import ConfusionMatrixMetric
from .confusion import (change_matrix, iou, overall_accuracy, percent,
                        semantic_change_scores, separated_kappa)
from .peer_keys import scd_metric_keys

DATES = ('from', 'to')


@METRICS.register_module()
class SemanticChangeMetric(ConfusionMatrixMetric):
    """mIoU, SeK, Fscd and OA of bi-temporal semantic change maps.

    The semantic maps of both dates hold 0 for "no change" and ``1..K`` for
    the land-cover class of a changed pixel. ONE ``(K+1) x (K+1)`` matrix
    ``cm`` (rows = reference) counts both dates: ``pred_sem_seg_from`` vs
    ``gt_sem_seg_from`` plus ``pred_sem_seg_to`` vs ``gt_sem_seg_to``, summed
    over the data set. With ``B = change_matrix(cm)``, the 2x2 no-change /
    change split of ``cm`` (every class ``>= 1`` is "change"):

    - ``OA = trace(cm) / sum(cm)`` (pixel accuracy of the semantic maps of
      both dates, no-change pixels included).
    - ``mIoU = (IoU_nc + IoU_c) / 2``, the IoUs of no change and change in
      ``B``, e.g. ``IoU_c = B11 / (B11 + B01 + B10)``.
    - ``SeK = kappa(cm') * exp(IoU_c - 1)``, ``cm'`` = ``cm`` with
      ``cm[0, 0]`` set to 0 (no-change / no-change pixels left out);
      ``kappa = (p_o - p_e) / (1 - p_e)``.
    - ``Fscd = 2 Pscd Rscd / (Pscd + Rscd)`` with ``Pscd = H / P`` and
      ``Rscd = H / R``, where ``H = sum_{i>=1} cm[i, i]`` (changed pixels of
      the right class), ``P`` the pixels predicted as changed (columns
      ``>= 1``) and ``R`` the pixels changed in the reference (rows ``>= 1``).
    - ``Score = 0.3 mIoU + 0.7 SeK`` (the SECOND benchmark score).

    Values are percentages rounded to 2 decimals (``Score`` is computed
    from the unrounded mIoU and SeK). Zero denominators follow
    :mod:`.confusion`: 100 without errors, else 0. The kappa of ``cm'`` thus
    differs from the reference code (which returns 0) in one degenerate case
    only: a perfect prediction with at most one changed class, where ``cm'``
    is empty or has a single non-zero diagonal cell; here it is 100.

    For Open-CD's configs and hooks, the keys of its ``SCDMetric`` (with
    ``cal_sek=True`` and its default prefixes) come too, with its values on
    the same predictions (:mod:`.peer_keys`): ``binary/<k>`` of the change
    maps ``pred_sem_seg`` / ``gt_sem_seg`` and ``semantic/<k>`` of both
    dates' semantic maps as the model gives them (Open-CD scores them
    unmasked; its ``cover_semantic`` models mask them themselves), for
    ``<k>`` in ``aAcc mIoU mAcc mDice mFscore mPrecision mRecall``, plus
    ``semantic/Sek`` and ``semantic/SCD_Score``.

    Class names come from ``dataset_meta['semantic_classes']`` (Open-CD's
    key), else ``dataset_meta['classes']``; they include the no-change class.

    Args:
        mask_by_change (bool): Set the predicted semantic maps to 0 where the
            predicted change map ``pred_sem_seg`` is 0, as the SECOND protocol
            does before scoring. Harmless if the model already masks them.
            Defaults to True.
        num_classes (int, optional): ``K + 1``. Defaults to None (from the
            class names).
        ignore_index (int): Label value excluded from evaluation.
            Defaults to 255.
        collect_device (str): Device for gathering results across processes.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
    """
    class_keys = ('semantic_classes', 'classes')

    def __init__(self,
                 mask_by_change: bool = True,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(num_classes=num_classes, ignore_index=ignore_index,
                         collect_device=collect_device, prefix=prefix)
        self.mask_by_change = mask_by_change

    def label_pairs(self, data_sample: dict, masked: Optional[bool] = None
                    ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """The semantic map pairs of the first and of the second date,
        predictions masked by the change map if ``masked`` (default:
        ``mask_by_change``)."""
        masked = self.mask_by_change if masked is None else masked
        changed = data_sample['pred_sem_seg']['data'] != 0
        for date in DATES:
            pred = data_sample[f'pred_sem_seg_{date}']['data']
            if masked:
                pred = pred * changed
            yield pred, data_sample[f'gt_sem_seg_{date}']['data']

    def sample_matrices(self, data_sample: dict) -> Tuple[np.ndarray, ...]:
        """Our semantic matrix, then Open-CD's change-map matrix and its
        semantic matrix (of the maps as the model gives them)."""
        semantic, = super().sample_matrices(data_sample)
        if 'gt_sem_seg' not in data_sample:
            raise KeyError('SemanticChangeMetric needs the change label gt_sem_seg in each data '
                           'sample (for the change-map scores Open-CD reports); load it, e.g. '
                           'LoadChangeAnnotations(derive_change=True) for SECOND.')
        binary = self.matrix([(data_sample['pred_sem_seg']['data'],
                               data_sample['gt_sem_seg']['data'])], num_classes=2)
        unmasked = self.matrix(self.label_pairs(data_sample, masked=False)) \
            if self.mask_by_change else semantic
        return semantic, binary, unmasked

    def scores(self, cm: np.ndarray, binary_cm: np.ndarray,
               unmasked_cm: np.ndarray) -> dict:
        """OA, mIoU, SeK, Fscd and Score (percent); Open-CD's keys."""
        miou = float(np.mean(iou(change_matrix(cm))))
        sek = separated_kappa(cm)
        return dict(
            OA=percent(overall_accuracy(cm)),
            mIoU=percent(miou),
            SeK=percent(sek),
            Fscd=percent(semantic_change_scores(cm)[2]),
            Score=percent(0.3 * miou + 0.7 * sek),
            **scd_metric_keys(binary_cm, unmasked_cm))
