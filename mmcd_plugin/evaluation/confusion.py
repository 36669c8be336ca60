"""Confusion-matrix machinery shared by every change-detection metric.

A metric reduces a data set to ONE confusion matrix ``cm`` of shape
``(C, C)`` whose entry ``cm[r, p]`` counts the pixels of reference (ground
truth) class ``r`` predicted as class ``p``; class 0 is always "no change".
All scores are then functions of ``cm`` alone, so per-sample matrices can be
summed across batches and processes without changing any result.

Notation used in the docstrings: ``TP_i = cm[i, i]``,
``FP_i = sum_r cm[r, i] - TP_i`` (predicted ``i``, wrong),
``FN_i = sum_p cm[i, p] - TP_i`` (reference ``i``, missed), ``n = sum cm``.

Zero denominators: a score whose denominator is zero is 1 (100 %) when the
prediction makes no error on the pixels the score concerns (e.g. the class is
absent from both prediction and reference) and 0 otherwise. This one rule
replaces NaNs; on a full test set where every class occurs it never applies.

The functions return fractions in [0, 1]; :func:`percent` converts them.
"""
import math
from typing import Optional, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


def confusion_matrix(pred: ArrayLike, label: ArrayLike, num_classes: int,
                     ignore_index: Optional[int] = 255) -> np.ndarray:
    """Count (reference, prediction) pairs of one map with ``bincount``.

    Args:
        pred (Tensor | ndarray): Predicted class indices, any shape.
        label (Tensor | ndarray): Reference class indices, same shape.
        num_classes (int): Number of classes ``C``.
        ignore_index (int, optional): Reference value whose pixels are not
            counted. Defaults to 255.

    Returns:
        ndarray: int64 matrix of shape ``(C, C)``, rows = reference.

    Raises:
        ValueError: On a shape mismatch or a value outside ``[0, C)`` (other
            than ``ignore_index`` in the reference).
    """
    pred = torch.as_tensor(pred)
    label = torch.as_tensor(label, device=pred.device)
    if pred.shape != label.shape:
        raise ValueError(f'prediction shape {tuple(pred.shape)} differs from '
                         f'label shape {tuple(label.shape)}')
    pred, label = pred.flatten().long(), label.flatten().long()
    if ignore_index is not None:
        valid = label != ignore_index
        pred, label = pred[valid], label[valid]
    for name, values in (('prediction', pred), ('label', label)):
        if values.numel() and (values.min() < 0
                               or values.max() >= num_classes):
            raise ValueError(
                f'{name} values must lie in [0, {num_classes}) (labels may '
                f'also equal ignore_index={ignore_index}); got range '
                f'[{int(values.min())}, {int(values.max())}]. Check the '
                f'dataset classes and the label mapping (e.g. 0/255 masks).')
    counts = torch.bincount(label * num_classes + pred,
                            minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).cpu().numpy()


def binary_change_map(seg: ArrayLike,
                      ignore_index: Optional[int] = None) -> torch.Tensor:
    """Map every change class ``> 0`` to 1, keeping ``ignore_index`` pixels.

    Args:
        seg (Tensor | ndarray): Class-index map, 0 = no change.
        ignore_index (int, optional): Value left untouched. Defaults to None.

    Returns:
        Tensor: int64 map of 0 / 1 (and ``ignore_index``).
    """
    seg = torch.as_tensor(seg).long()
    binary = (seg > 0).long()
    if ignore_index is None:
        return binary
    return torch.where(seg == ignore_index, seg, binary)


def ratio(num, den, errors) -> np.ndarray:
    """``num / den``; where ``den == 0``: 1 if ``errors == 0``, else 0.

    Args:
        num (array-like): Numerators.
        den (array-like): Denominators (broadcast with ``num``).
        errors (array-like): Error counts deciding the ``den == 0`` value.

    Returns:
        ndarray: float64 ratios (0-d for scalar inputs).
    """
    num, den, errors = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (num, den, errors)))
    out = np.where(errors == 0, 1.0, 0.0)
    np.divide(num, den, out=out, where=den != 0)
    return out


def class_counts(cm: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class ``(TP, FP, FN)`` of a confusion matrix (rows = reference)."""
    tp = np.diag(cm).astype(np.int64)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


def precision(cm: np.ndarray) -> np.ndarray:
    """Per-class precision ``TP_i / (TP_i + FP_i)``."""
    tp, fp, fn = class_counts(cm)
    return ratio(tp, tp + fp, fp + fn)


def recall(cm: np.ndarray) -> np.ndarray:
    """Per-class recall ``TP_i / (TP_i + FN_i)``."""
    tp, fp, fn = class_counts(cm)
    return ratio(tp, tp + fn, fp + fn)


def f1_score(cm: np.ndarray) -> np.ndarray:
    """Per-class F1 ``2 TP_i / (2 TP_i + FP_i + FN_i)``."""
    tp, fp, fn = class_counts(cm)
    return ratio(2 * tp, 2 * tp + fp + fn, fp + fn)


def iou(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU ``TP_i / (TP_i + FP_i + FN_i)``."""
    tp, fp, fn = class_counts(cm)
    return ratio(tp, tp + fp + fn, fp + fn)


def overall_accuracy(cm: np.ndarray) -> float:
    """OA ``= trace(cm) / n``."""
    correct, total = int(np.trace(cm)), int(cm.sum())
    return float(ratio(correct, total, total - correct))


def kappa(cm: np.ndarray) -> float:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)``.

    ``p_o = trace(cm) / n`` and ``p_e = sum_i rows_i * cols_i / n^2``. The
    value is computed as ``(n trace - S) / (n^2 - S)`` with ``S = sum_i rows_i
    cols_i`` in exact integer arithmetic. Its denominator is zero only for an
    empty matrix or when prediction and reference put every pixel in one and
    the same class (perfect agreement): then kappa is 1.
    """
    rows, cols = cm.sum(axis=1).tolist(), cm.sum(axis=0).tolist()
    total, correct = int(cm.sum()), int(np.trace(cm))
    chance = sum(int(r) * int(c) for r, c in zip(rows, cols))
    return float(ratio(total * correct - chance, total * total - chance,
                       total - correct))


def change_matrix(cm: np.ndarray) -> np.ndarray:
    """Collapse a change-class matrix to the 2x2 no-change / change matrix.

    Classes ``1..C-1`` all become "change": ``[[cm00, sum cm0p], [sum cmr0,
    sum cmrp]]`` with ``r, p >= 1``.
    """
    return np.array([[cm[0, 0], cm[0, 1:].sum()],
                     [cm[1:, 0].sum(), cm[1:, 1:].sum()]], dtype=np.int64)


def separated_kappa(cm: np.ndarray) -> float:
    """SeK of a change-class matrix (SECOND / Bi-SRNet / SCanNet convention).

    ``SeK = kappa(cm with cm[0, 0] := 0) * exp(IoU_change - 1)`` where
    ``IoU_change`` is the IoU of class "change" in :func:`change_matrix`.
    Setting ``cm[0, 0]`` to zero removes the dominant, trivially correct
    no-change / no-change pixels from the kappa.
    """
    unchanged_removed = cm.copy()
    unchanged_removed[0, 0] = 0
    iou_change = iou(change_matrix(cm))[1]
    return kappa(unchanged_removed) * math.exp(iou_change - 1.0)


def semantic_change_scores(cm: np.ndarray) -> Tuple[float, float, float]:
    """``(P_scd, R_scd, F_scd)``: semantic accuracy on the changed pixels.

    With ``H = sum_{i>=1} cm[i, i]`` (changed pixels whose change class is
    right), ``P = sum_{r, p>=1} cm[r, p]`` (pixels predicted as changed) and
    ``R = sum_{r>=1, p} cm[r, p]`` (pixels changed in the reference):
    ``P_scd = H / P``, ``R_scd = H / R`` and
    ``F_scd = 2 P_scd R_scd / (P_scd + R_scd) = 2 H / (P + R)``.
    """
    hits = int(np.trace(cm[1:, 1:]))
    pred_changed, ref_changed = int(cm[:, 1:].sum()), int(cm[1:, :].sum())
    errors = pred_changed + ref_changed - 2 * hits
    return (float(ratio(hits, pred_changed, errors)),
            float(ratio(hits, ref_changed, errors)),
            float(ratio(2 * hits, pred_changed + ref_changed, errors)))


def percent(value) -> float:
    """A fraction as a percentage rounded to 2 decimals (mmseg style)."""
    return round(float(value) * 100.0, 2)
