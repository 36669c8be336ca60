"""The metric keys of mmseg's ``IoUMetric`` and Open-CD's ``SCDMetric``.

Open-CD's configs evaluate binary change maps with
``dict(type='mmseg.IoUMetric', iou_metrics=['mFscore', 'mIoU'])`` and
semantic change maps with its ``SCDMetric``, and select the best checkpoint
with ``save_best='mIoU'``. Our metrics report these keys as well, with the
values those metrics give on the same predictions, so that a config keeps
its hooks when it swaps our metric in.

Both peers reduce a data set to per-class areas (intersection, union,
prediction, reference), which are the diagonal, column and row sums of our
confusion matrix. From there the arithmetic below is theirs: float32 areas,
mmseg's own ``IoUMetric.total_area_to_metrics``, NaN (and so left out of the
class mean) where a class is absent from prediction and reference, and
``np.round(np.nanmean(...) * 100, 2)``. One difference is deliberate: the
peers count pixels in float32 (``torch.histc``), which stops being exact past
2^24 pixels of one class in a data set; we count in int64 and convert the
totals, so on such data sets our values are the exactly counted ones.
"""
from typing import Dict, Tuple

import numpy as np
import torch
from mmseg.evaluation import IoUMetric

IOU_METRICS = ('mIoU', 'mDice', 'mFscore')


def class_areas(cm: np.ndarray) -> Tuple[torch.Tensor, ...]:
    """``(intersect, union, pred, label)`` float32 areas per class of ``cm``
    (rows = reference), as mmseg's ``IoUMetric.intersect_and_union``."""
    intersect = torch.from_numpy(np.diag(cm).astype(np.float32))
    pred = torch.from_numpy(cm.sum(axis=0).astype(np.float32))
    label = torch.from_numpy(cm.sum(axis=1).astype(np.float32))
    return intersect, pred + label - intersect, pred, label


def iou_summary(cm: np.ndarray) -> Dict[str, np.float32]:
    """mmseg's summary row of ``cm``: ``aAcc`` and the ``m<name>`` class
    means (percent, NaN classes left out) of all its ``iou_metrics``."""
    per_class = IoUMetric.total_area_to_metrics(
        *class_areas(cm), metrics=list(IOU_METRICS), nan_to_num=None, beta=1)
    return {key if key == 'aAcc' else f'm{key}': np.round(np.nanmean(value) * 100, 2)
            for key, value in per_class.items()}


def iou_metric_keys(cm: np.ndarray) -> Dict[str, float]:
    """``aAcc``, ``mIoU``, ``mAcc``, ``mDice``, ``mFscore``, ``mPrecision``,
    ``mRecall`` of mmseg's ``IoUMetric`` (all its ``iou_metrics``, beta 1).

    Args:
        cm (ndarray): ``(C, C)`` confusion matrix, rows = reference.

    Returns:
        dict[str, float]: The values ``IoUMetric`` reports (float32 values,
        as there), keyed as there.
    """
    return {key: float(value) for key, value in iou_summary(cm).items()}


def separated_kappa_float32(cm: np.ndarray) -> np.ndarray:
    """SeK as Open-CD's ``SCDMetric.get_sek`` computes it (float32 areas)."""
    intersect, _, pred, label = class_areas(cm)
    no_change = torch.zeros_like(intersect)
    no_change[0] = intersect[0]
    intersect, pred, label = intersect - no_change, pred - no_change, label - no_change
    observed = intersect.sum() / label.sum()
    chance = (label * pred).sum() / pred.sum() ** 2
    kappa = (observed - chance) / (1 - chance)
    iou_change = (label[1:].sum() - pred[0]) / label.sum()
    return (kappa * torch.exp(iou_change) / torch.e).numpy()


def scd_metric_keys(binary_cm: np.ndarray, semantic_cm: np.ndarray) -> Dict[str, float]:
    """The keys of Open-CD's ``SCDMetric(cal_sek=True)`` with its default
    prefixes: ``binary/<k>`` and ``semantic/<k>`` for each
    :func:`iou_metric_keys` key, plus ``semantic/Sek`` and
    ``semantic/SCD_Score`` (``0.3 binary mIoU + 0.7 SeK``).

    Args:
        binary_cm (ndarray): Confusion matrix of the change maps.
        semantic_cm (ndarray): Confusion matrix of both dates' semantic maps
            (class 0 = no change), summed.

    Returns:
        dict[str, float]: The values ``SCDMetric`` reports.
    """
    binary, semantic = iou_summary(binary_cm), iou_summary(semantic_cm)
    sek = separated_kappa_float32(semantic_cm)
    semantic['Sek'] = np.round(sek * 100, 2)
    semantic['SCD_Score'] = np.round(0.3 * binary['mIoU'] + 0.7 * sek * 100, 2)
    return {**{f'binary/{k}': float(v) for k, v in binary.items()},
            **{f'semantic/{k}': float(v) for k, v in semantic.items()}}
