"""Tests of the change-detection metrics against hand-computed values.

Every expected number below is worked out by hand in the comments (``cm`` is
a confusion matrix with rows = reference, columns = prediction) or by an
independent pixel-loop implementation; the metrics return percentages
rounded to 2 decimals, hence ``approx(..., abs=0.006)`` where rounding can
differ from the unrounded hand value.
"""
import math
import sys

import numpy as np
import pytest
import torch
from mmengine.registry import METRICS as ROOT_METRICS

from mmcd_plugin.evaluation import (BinaryChangeMetric, MultiClassChangeMetric,
                                    MultimodalChangeMetric,
                                    SemanticChangeMetric)
from mmcd_plugin.evaluation import base_metric
from mmcd_plugin.evaluation.base_metric import format_table
from mmcd_plugin.evaluation.confusion import confusion_matrix, kappa
from mmcd_plugin.registry import METRICS

ROUND = 0.006  # percentages are rounded to 2 decimals


def seg(rows):
    """A (1, H, W) int64 map, as in a packed data sample."""
    return torch.tensor([rows], dtype=torch.long)


def sample(pred, gt, **extra):
    """A data sample dict with change maps and optional SCD maps."""
    out = dict(pred_sem_seg=dict(data=seg(pred)),
               gt_sem_seg=dict(data=seg(gt)))
    out.update({key: dict(data=seg(value)) for key, value in extra.items()})
    return out


def run(metric, samples, classes=None):
    """Process ``samples`` as one batch and compute the metrics."""
    if classes is not None:
        metric.dataset_meta = dict(classes=classes)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


MMSEG_KEYS = ('aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore', 'mPrecision', 'mRecall')


def own(result):
    """The keys of our own metric, without mmseg's / Open-CD's keys."""
    return {key: value for key, value in result.items()
            if '/' not in key and key not in MMSEG_KEYS}


def mmseg_iou_metric(pairs, num_classes):
    """mmseg's IoUMetric (every ``iou_metrics``) on (pred, gt) map pairs."""
    from mmseg.evaluation import IoUMetric
    metric = IoUMetric(iou_metrics=['mIoU', 'mDice', 'mFscore'])
    metric.dataset_meta = dict(classes=[str(i) for i in range(num_classes)])
    metric.process(None, [dict(pred_sem_seg=dict(data=seg(pred)),
                               gt_sem_seg=dict(data=seg(gt))) for pred, gt in pairs])
    return metric.compute_metrics(metric.results)


# ----------------------------------------------------------------------------
# confusion-matrix machinery
# ----------------------------------------------------------------------------
def test_confusion_matrix_counts_pairs_and_skips_ignored():
    pred = seg([[1, 1, 0], [0, 1, 2]])
    gt = seg([[1, 0, 0], [1, 1, 255]])
    # pixels (gt, pred): (1,1) (0,1) (0,0) / (1,0) (1,1) (255 ignored)
    # -> cm[0,0]=1, cm[0,1]=1, cm[1,0]=1, cm[1,1]=2; the ignored pixel's
    #    prediction 2 is never looked at (no range error).
    cm = confusion_matrix(pred, gt, num_classes=2, ignore_index=255)
    np.testing.assert_array_equal(cm, [[1, 1], [1, 2]])
    assert cm.dtype == np.int64


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match='label values'):
        confusion_matrix(seg([[0, 1]]), seg([[0, 2]]), num_classes=2)
    with pytest.raises(ValueError, match='prediction values'):
        confusion_matrix(seg([[0, 3]]), seg([[0, 1]]), num_classes=2)
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(seg([[0, 1]]), seg([[0, 1, 1]]), num_classes=2)


def test_kappa_matches_textbook_formula():
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 50, size=(4, 4))
    n = cm.sum()
    p_o = np.trace(cm) / n
    p_e = (cm.sum(0) * cm.sum(1)).sum() / n**2
    assert kappa(cm) == pytest.approx((p_o - p_e) / (1 - p_e), rel=1e-12)


# ----------------------------------------------------------------------------
# BinaryChangeMetric
# ----------------------------------------------------------------------------
def test_binary_change_metric_hand_computed():
    # pred [[1,1,0],[0,1,0]] vs gt [[1,0,0],[1,1,255]], pixel by pixel:
    #   TP (1,1)  FP (0,1)  TN (0,0)  /  FN (1,0)  TP (1,1)  ignored
    # TP=2 FP=1 FN=1 TN=1, n=5
    # Precision = 2/3, Recall = 2/3, F1 = 2*2/(4+1+1) = 2/3, IoU = 2/4
    # OA = 3/5; Kappa: rows (gt) = [2, 3], cols (pred) = [2, 3]
    #   p_e = (2*2 + 3*3)/25 = 0.52, p_o = 0.6 -> (0.6-0.52)/0.48 = 1/6
    # mmseg's keys, means over both classes: cm = [[1, 1], [1, 2]]
    #   IoU = (1/3, 2/4) -> mIoU 41.67; Acc = recall = (1/2, 2/3) -> 58.33
    #   Precision = (1/2, 2/3) -> 58.33; Dice = Fscore = (2/4, 4/6) -> 58.33
    metric = BinaryChangeMetric()
    result = run(metric, [sample([[1, 1, 0], [0, 1, 0]],
                                 [[1, 0, 0], [1, 1, 255]])])
    assert own(result) == dict(Precision=66.67, Recall=66.67, F1=66.67, IoU=50.0,
                               OA=60.0, Kappa=16.67)
    expected = dict(aAcc=60.0, mIoU=41.67, mAcc=58.33, mDice=58.33, mFscore=58.33,
                    mPrecision=58.33, mRecall=58.33)
    assert {key: result[key] for key in MMSEG_KEYS} == pytest.approx(expected, abs=1e-5)


def test_binary_change_metric_binarizes_multi_class_maps():
    # classes 2 and 3 count as "change": same counts as the 0/1 case above
    metric = BinaryChangeMetric()
    result = run(metric, [sample([[3, 1, 0], [0, 2, 0]],
                                 [[2, 0, 0], [1, 3, 255]])])
    assert result['F1'] == 66.67 and result['Kappa'] == 16.67
    # without binarisation a label 2 is out of range for a 2-class metric
    with pytest.raises(ValueError, match='label values'):
        run(BinaryChangeMetric(binarize=False),
            [sample([[1, 0]], [[2, 0]])])


def test_binary_change_metric_degenerate_cases_have_no_nan():
    # no change anywhere and none predicted: no error at all -> 100 everywhere
    # (Kappa's p_e = 1 here: 0/0, perfect agreement -> 100)
    zeros = [[0, 0], [0, 0]]
    result = run(BinaryChangeMetric(), [sample(zeros, zeros)])
    assert own(result) == dict(Precision=100.0, Recall=100.0, F1=100.0, IoU=100.0,
                               OA=100.0, Kappa=100.0)
    # mmseg leaves the absent change class out of its means (NaN): class 0 only
    assert result['mIoU'] == result['mFscore'] == 100.0
    # change in the reference, nothing predicted: TP=FP=0, FN=2, TN=2
    # Precision 0/0 with errors -> 0; Recall 0/2; F1 0/2; IoU 0/2
    # Kappa: rows [2, 2], cols [4, 0]: p_e = 8/16, p_o = 2/4 -> 0
    result = run(BinaryChangeMetric(), [sample(zeros, [[1, 1], [0, 0]])])
    assert own(result) == dict(Precision=0.0, Recall=0.0, F1=0.0, IoU=0.0,
                               OA=50.0, Kappa=0.0)
    # mmseg: IoU = (2/4, 0/2) -> 25; precision of class 1 is 0/0 = NaN, left out
    assert (result['mIoU'], result['mPrecision']) == (25.0, 50.0)


def test_binary_change_metric_matches_pixel_loops():
    rng = np.random.default_rng(1)
    samples = []
    tp = fp = fn = tn = 0
    for _ in range(3):
        pred = rng.integers(0, 2, size=(6, 7))
        gt = rng.integers(0, 2, size=(6, 7))
        gt[rng.random((6, 7)) < 0.1] = 255
        samples.append(sample(pred.tolist(), gt.tolist()))
        for p, g in zip(pred.ravel().tolist(), gt.ravel().tolist()):
            if g == 255:
                continue
            tp += p == 1 and g == 1
            fp += p == 1 and g == 0
            fn += p == 0 and g == 1
            tn += p == 0 and g == 0
    n = tp + fp + fn + tn
    p_o = (tp + tn) / n
    p_e = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / n**2
    expected = dict(Precision=tp / (tp + fp), Recall=tp / (tp + fn),
                    F1=2 * tp / (2 * tp + fp + fn), IoU=tp / (tp + fp + fn),
                    OA=p_o, Kappa=(p_o - p_e) / (1 - p_e))
    result = run(BinaryChangeMetric(), samples)
    for key, value in expected.items():
        assert result[key] == pytest.approx(100 * value, abs=ROUND), key


def test_binary_change_metric_reports_mmseg_iou_metric_values_exactly():
    # Open-CD's BCD configs score with mmseg's IoUMetric and save_best='mIoU'
    rng = np.random.default_rng(11)
    pairs = []
    for _ in range(4):
        pred = rng.integers(0, 2, size=(9, 11))
        gt = rng.integers(0, 2, size=(9, 11))
        gt[rng.random(gt.shape) < 0.1] = 255
        pairs.append((pred.tolist(), gt.tolist()))
    ours = run(BinaryChangeMetric(), [sample(pred, gt) for pred, gt in pairs])
    theirs = mmseg_iou_metric(pairs, 2)
    assert set(theirs) == set(MMSEG_KEYS)
    assert {key: ours[key] for key in MMSEG_KEYS} == theirs


# ----------------------------------------------------------------------------
# SemanticChangeMetric
# ----------------------------------------------------------------------------
SCD_CLASSES = ('unchanged', 'water', 'building')


def scd_sample():
    """Two 2x3 dates; the third column is unchanged and predicted so.

    Raw semantic predictions are non-zero everywhere; masked by the predicted
    change map [[1,1,0],[1,1,0]] they become
    from [[1,1,0],[2,1,0]] and to [[2,2,0],[1,2,0]].
    """
    return sample(
        [[1, 1, 0], [1, 1, 0]], [[1, 1, 0], [1, 1, 0]],
        pred_sem_seg_from=[[1, 1, 2], [2, 1, 1]],
        gt_sem_seg_from=[[0, 1, 0], [2, 2, 0]],
        pred_sem_seg_to=[[2, 2, 1], [1, 2, 2]],
        gt_sem_seg_to=[[0, 2, 0], [1, 255, 0]])


def test_semantic_change_metric_hand_computed():
    # (gt, masked pred) per pixel
    #   from: (0,1) (1,1) (0,0) / (2,2) (2,1) (0,0)
    #   to:   (0,2) (2,2) (0,0) / (1,1) ignored (0,0)
    # cm = [[4, 1, 1],      rows (gt)  = [6, 2, 3]
    #       [0, 2, 0],      cols (pred) = [4, 4, 3], n = 11
    #       [0, 1, 2]]
    # OA = (4+2+2)/11 = 72.727 %
    # change split B = [[4, 1+1], [0+0, 2+0+1+2]] = [[4, 2], [0, 5]]
    #   IoU_nc = 4/(4+2+0) = 2/3, IoU_c = 5/(5+2+0) = 5/7
    #   mIoU = (2/3 + 5/7)/2 = 0.690476
    # cm' (cm[0,0] := 0): rows [2, 2, 3], cols [0, 4, 3], n' = 7
    #   p_o = (0+2+2)/7 = 4/7, p_e = (2*0 + 2*4 + 3*3)/49 = 17/49
    #   kappa = (28/49 - 17/49)/(32/49) = 11/32
    #   SeK = 11/32 * exp(5/7 - 1) = 0.343750 * 0.751477 = 0.258320
    # Fscd: H = cm11 + cm22 = 4, P = cols 1..2 = 7, R = rows 1..2 = 5
    #   Pscd = 4/7, Rscd = 4/5, Fscd = 2*4/(7+5) = 2/3
    # Score = 0.3*0.690476 + 0.7*0.258320 = 0.387967
    metric = SemanticChangeMetric()
    result = run(metric, [scd_sample()], classes=SCD_CLASSES)
    assert own(result) == dict(OA=72.73, SeK=25.83, Fscd=66.67, Score=38.80)
    assert result['mIoU'] == 69.05


def test_semantic_change_metric_reports_opencd_keys_of_the_unmasked_maps():
    # Open-CD's SCDMetric scores the maps as the model gives them, unmasked:
    #   binary: the change maps [[1,1,0],[1,1,0]] vs the same -> 100 everywhere
    #   semantic (gt, raw pred): from (0,1) (1,1) (0,2) / (2,2) (2,1) (0,1)
    #                            to   (0,2) (2,2) (0,1) / (1,1) ign.  (0,2)
    #   cm = [[0, 3, 3], [0, 2, 0], [0, 1, 2]], rows [6, 2, 3], cols [0, 6, 5]
    #   aAcc = 4/11; IoU = (0/6, 2/6, 2/6) -> mIoU 22.22
    #   Sek: cm00 = 0 so cm' = cm; p_o = 4/11, p_e = (0 + 12 + 15)/121
    #     kappa = (44/121 - 27/121)/(94/121) = 17/94; IoU_c = 5/11
    #     Sek = 17/94 * exp(5/11 - 1) = 0.104799 -> 10.48
    #   SCD_Score = 0.3 * 100 + 0.7 * 10.4799 = 37.34
    result = run(SemanticChangeMetric(), [scd_sample()], classes=SCD_CLASSES)
    assert result['binary/mIoU'] == result['binary/aAcc'] == 100.0
    semantic = {key: result[f'semantic/{key}'] for key in ('aAcc', 'mIoU', 'Sek', 'SCD_Score')}
    assert semantic == pytest.approx(dict(aAcc=36.36, mIoU=22.22, Sek=10.48, SCD_Score=37.34),
                                     abs=1e-4)
    pred, gt = scd_sample(), scd_sample()
    pairs = [(pred[f'pred_sem_seg_{d}']['data'][0].tolist(),
              gt[f'gt_sem_seg_{d}']['data'][0].tolist()) for d in ('from', 'to')]
    theirs = mmseg_iou_metric(pairs, 3)
    assert {key: result[f'semantic/{key}'] for key in MMSEG_KEYS} == theirs


def test_semantic_change_metric_masks_predictions_by_change_map():
    masked = sample(
        [[1, 1, 0], [1, 1, 0]], [[1, 1, 0], [1, 1, 0]],
        pred_sem_seg_from=[[1, 1, 0], [2, 1, 0]],
        gt_sem_seg_from=[[0, 1, 0], [2, 2, 0]],
        pred_sem_seg_to=[[2, 2, 0], [1, 2, 0]],
        gt_sem_seg_to=[[0, 2, 0], [1, 255, 0]])
    reference = run(SemanticChangeMetric(mask_by_change=False), [masked],
                    classes=SCD_CLASSES)
    assert own(run(SemanticChangeMetric(), [scd_sample()],
                   classes=SCD_CLASSES)) == own(reference)
    # unmasked raw maps add false changes in the third column: OA drops
    # from 8/11 to 4/11 (the 4 unchanged pixels become errors)
    raw = run(SemanticChangeMetric(mask_by_change=False), [scd_sample()],
              classes=SCD_CLASSES)
    assert raw['OA'] == 36.36


def test_semantic_change_metric_prefers_semantic_classes_key():
    metric = SemanticChangeMetric()
    metric.dataset_meta = dict(classes=('unchanged', 'changed'),
                               semantic_classes=SCD_CLASSES)
    assert metric.num_classes == 3
    metric.process(None, [scd_sample()])
    assert metric.compute_metrics(metric.results)['SeK'] == 25.83


def test_semantic_change_metric_perfect_no_change_is_100():
    # nothing changed, nothing predicted: cm' is empty (no error -> kappa 1),
    # IoU_c = 0/0 without errors -> 1, so SeK = 1 * exp(0) = 100 %
    zeros = [[0, 0], [0, 0]]
    result = run(SemanticChangeMetric(), [sample(
        zeros, zeros, pred_sem_seg_from=zeros, gt_sem_seg_from=zeros,
        pred_sem_seg_to=zeros, gt_sem_seg_to=zeros)], classes=SCD_CLASSES)
    assert own(result) == dict(OA=100.0, SeK=100.0, Fscd=100.0, Score=100.0)
    assert result['mIoU'] == 100.0


def scd_by_pixel_loops(pairs):
    """SECOND scores from a list of (gt, pred) semantic pixels, no matrix."""
    n = len(pairs)
    oa = sum(g == p for g, p in pairs) / n
    both_changed = sum(g != 0 and p != 0 for g, p in pairs)
    only_gt = sum(g != 0 and p == 0 for g, p in pairs)
    only_pred = sum(g == 0 and p != 0 for g, p in pairs)
    neither = n - both_changed - only_gt - only_pred
    iou_c = both_changed / (both_changed + only_gt + only_pred)
    iou_nc = neither / (neither + only_gt + only_pred)
    kept = [(g, p) for g, p in pairs if g != 0 or p != 0]
    m = len(kept)
    p_o = sum(g == p for g, p in kept) / m
    labels = {v for pair in kept for v in pair}
    p_e = sum(sum(g == k for g, _ in kept) * sum(p == k for _, p in kept)
              for k in labels) / m**2
    sek = (p_o - p_e) / (1 - p_e) * math.exp(iou_c - 1)
    hits = sum(g == p and g != 0 for g, p in pairs)
    p_scd = hits / sum(p != 0 for _, p in pairs)
    r_scd = hits / sum(g != 0 for g, _ in pairs)
    fscd = 2 * p_scd * r_scd / (p_scd + r_scd)
    return dict(OA=oa, mIoU=(iou_c + iou_nc) / 2, SeK=sek, Fscd=fscd)


def random_scd_samples(rng, count, size=(8, 8), classes=7):
    samples, pairs = [], []
    for _ in range(count):
        change = rng.integers(0, 2, size=size)
        maps = {}
        for date in ('from', 'to'):
            gt = rng.integers(1, classes, size=size) * (rng.random(size) < 0.4)
            gt[rng.random(size) < 0.05] = 255
            pred = rng.integers(0, classes, size=size)
            maps[f'pred_sem_seg_{date}'] = pred.tolist()
            maps[f'gt_sem_seg_{date}'] = gt.tolist()
            masked = (pred * change).ravel().tolist()
            pairs += [(g, p) for g, p in zip(gt.ravel().tolist(), masked)
                      if g != 255]
        samples.append(sample(change.tolist(), (change * 0).tolist(), **maps))
    return samples, pairs


def test_semantic_change_metric_matches_pixel_loops():
    rng = np.random.default_rng(2)
    samples, pairs = random_scd_samples(rng, count=3)
    metric = SemanticChangeMetric(num_classes=7)
    result = run(metric, samples)
    for key, value in scd_by_pixel_loops(pairs).items():
        assert result[key] == pytest.approx(100 * value, abs=ROUND), key


def test_accumulating_two_batches_equals_one_batch():
    rng = np.random.default_rng(3)
    samples, _ = random_scd_samples(rng, count=4)
    one = SemanticChangeMetric(num_classes=7)
    one.process(None, samples)
    two = SemanticChangeMetric(num_classes=7)
    two.process(None, samples[:1])
    two.process(None, samples[1:])
    # one small matrix per sample, whatever the batching
    assert len(one.results) == len(two.results) == 4
    assert one.evaluate(4) == two.evaluate(4)


# ----------------------------------------------------------------------------
# MultimodalChangeMetric (STSF-Net Eq. 9-14)
# ----------------------------------------------------------------------------
MM_CLASSES = ('unchanged', 'added building', 'removed building')


def test_multimodal_change_metric_hand_computed():
    # gt   [[0,0,1,1],[2,2,0,255]]
    # pred [[0,1,1,2],[2,0,2,1]]
    # (gt, pred): (0,0) (0,1) (1,1) (1,2) / (2,2) (2,0) (0,2) ignored
    # cm = [[1, 1, 1],    rows = [3, 2, 2], cols = [2, 2, 3], n = 7
    #       [0, 1, 1],
    #       [1, 0, 1]]
    # Eq. 9  OA = 3/7 = 42.857 %
    # class 0: TP 1 FP 1 FN 2 -> IoU 1/4, F1 2/5
    # class 1: TP 1 FP 1 FN 1 -> IoU 1/3, F1 2/4
    # class 2: TP 1 FP 2 FN 1 -> IoU 1/4, F1 2/5
    # Eq. 10 mIoU = (1/4 + 1/3 + 1/4)/3 = 0.277778
    # Eq. 14 F1_clf = (0.4 + 0.5 + 0.4)/3 = 0.433333
    # change split: TP_c = 1+1+0+1 = 3, FP_c = 1+1 = 2, FN_c = 0+1 = 1
    # Eq. 12 P_c = 3/5, R_c = 3/4; Eq. 13 F1_bcd = 6/(6+2+1) = 2/3
    metric = MultimodalChangeMetric()
    result = run(metric, [sample([[0, 1, 1, 2], [2, 0, 2, 1]],
                                 [[0, 0, 1, 1], [2, 2, 0, 255]])],
                 classes=MM_CLASSES)
    assert own(result) == {
        'OA': 42.86, 'F1_bcd': 66.67, 'F1_clf': 43.33,
        'Precision_bcd': 60.0, 'Recall_bcd': 75.0, 'IoU.unchanged': 25.0,
        'IoU.added building': 33.33, 'IoU.removed building': 25.0}
    assert result['mIoU'] == pytest.approx(27.78, abs=1e-5)


def test_multimodal_change_metric_binary_dataset():
    # Wuhan-Het style 0/1 maps: F1_bcd is the change-class F1 and mIoU the
    # mean of the two IoUs. Same pixels as the binary hand case:
    # TP=2 FP=1 FN=1 TN=1 -> F1_bcd 2/3; IoU_0 = 1/3, IoU_1 = 1/2
    # mIoU = 5/12 = 41.67 %; F1_clf = (1/2 + 2/3)/2 = 58.33 %
    result = run(MultimodalChangeMetric(num_classes=2),
                 [sample([[1, 1, 0], [0, 1, 0]], [[1, 0, 0], [1, 1, 255]])])
    assert (result['F1_bcd'], result['F1_clf']) == (66.67, 58.33)
    assert result['mIoU'] == pytest.approx(41.67, abs=1e-5)
    assert result['IoU.0'] == 33.33 and result['IoU.1'] == 50.0


# ----------------------------------------------------------------------------
# MultiClassChangeMetric (S2M tables, Bi-SRNet SeK / Fscd)
# ----------------------------------------------------------------------------
MC_CLASSES = ('no change', 'destroyed', 'new shelter')


def test_multi_class_change_metric_hand_computed():
    # gt   [[0,0,0],[1,1,2],[2,2,255]]
    # pred [[0,0,1],[1,2,2],[2,1,0]]
    # (gt, pred): (0,0) (0,0) (0,1) / (1,1) (1,2) (2,2) / (2,2) (2,1) ignored
    # cm = [[2, 1, 0],    rows = [3, 2, 3], cols = [2, 3, 3], n = 8
    #       [0, 1, 1],
    #       [0, 1, 2]]
    # class 0: TP 2 FP 0 FN 1 -> P 1,   R 2/3, F1 4/5, IoU 2/3
    # class 1: TP 1 FP 2 FN 1 -> P 1/3, R 1/2, F1 2/5, IoU 1/4
    # class 2: TP 2 FP 1 FN 1 -> P 2/3, R 2/3, F1 2/3, IoU 1/2
    # mIoU = (2/3 + 1/4 + 1/2)/3 = 0.472222; mPrecision = (1+1/3+2/3)/3 = 2/3
    # mRecall = (2/3 + 1/2 + 2/3)/3 = 0.611111
    # mF1 = (0.8 + 0.4 + 2/3)/3 = 0.622222
    # OA = 5/8
    # change split B = [[2, 1], [0, 5]] -> IoU_c = 5/6
    # cm' = cm with cm[0,0] := 0: rows [1, 2, 3], cols [0, 3, 3], n' = 6
    #   p_o = 3/6, p_e = (0 + 2*3 + 3*3)/36 = 15/36
    #   kappa = (18/36 - 15/36)/(21/36) = 1/7
    #   SeK = 1/7 * exp(5/6 - 1) = 0.142857 * 0.846482 = 0.120926
    # Fscd: H = 1 + 2 = 3, P = 3 + 3 = 6, R = 2 + 3 = 5 -> 2*3/11 = 0.545455
    metric = MultiClassChangeMetric()
    result = run(metric, [sample([[0, 0, 1], [1, 2, 2], [2, 1, 0]],
                                 [[0, 0, 0], [1, 1, 2], [2, 2, 255]])],
                 classes=MC_CLASSES)
    assert own(result) == {
        'SeK': 12.09, 'Fscd': 54.55, 'mF1': 62.22, 'OA': 62.5, 'IoU.no change': 66.67,
        'IoU.destroyed': 25.0, 'IoU.new shelter': 50.0}
    means = {key: result[key] for key in ('mIoU', 'mPrecision', 'mRecall')}
    assert means == pytest.approx(dict(mIoU=47.22, mPrecision=66.67, mRecall=61.11),
                                  abs=1e-5)


@pytest.mark.parametrize('metric_cls', [MultiClassChangeMetric, MultimodalChangeMetric])
def test_multi_class_metrics_report_mmseg_iou_metric_values_exactly(metric_cls):
    # class 3 occurs nowhere: mmseg leaves it out of its means (NaN)
    rng = np.random.default_rng(12)
    pairs = []
    for _ in range(3):
        gt = rng.integers(0, 3, size=(7, 8))
        gt[rng.random(gt.shape) < 0.1] = 255
        pairs.append((rng.integers(0, 3, size=(7, 8)).tolist(), gt.tolist()))
    ours = run(metric_cls(num_classes=4), [sample(pred, gt) for pred, gt in pairs])
    assert {key: ours[key] for key in MMSEG_KEYS} == mmseg_iou_metric(pairs, 4)



def test_multi_class_sek_and_fscd_match_pixel_loops():
    rng = np.random.default_rng(4)
    samples, pairs = [], []
    for _ in range(3):
        gt = rng.integers(1, 5, size=(9, 9)) * (rng.random((9, 9)) < 0.3)
        pred = np.where(rng.random((9, 9)) < 0.6, gt,
                        rng.integers(0, 5, size=(9, 9)))
        samples.append(sample(pred.tolist(), gt.tolist()))
        pairs += list(zip(gt.ravel().tolist(), pred.ravel().tolist()))
    result = run(MultiClassChangeMetric(num_classes=5), samples)
    expected = scd_by_pixel_loops(pairs)
    for key in ('SeK', 'Fscd', 'OA'):
        assert result[key] == pytest.approx(100 * expected[key], abs=ROUND)


# ----------------------------------------------------------------------------
# registration, class names, logging
# ----------------------------------------------------------------------------
@pytest.mark.parametrize('name', [
    'BinaryChangeMetric', 'SemanticChangeMetric', 'MultimodalChangeMetric',
    'MultiClassChangeMetric'
])
def test_metrics_are_registered(name):
    assert type(METRICS.build(dict(type=name))).__name__ == name
    # reachable from another project's config (e.g. default_scope='opencd')
    assert type(ROOT_METRICS.build(
        dict(type=f'mmcd_plugin.{name}'))).__name__ == name


def test_class_names_need_meta_or_num_classes():
    metric = MultiClassChangeMetric()
    with pytest.raises(ValueError, match='num_classes'):
        metric.process(None, [sample([[0]], [[0]])])
    assert MultiClassChangeMetric(num_classes=3).class_names == ('0', '1', '2')


def test_compute_metrics_logs_per_class_table(monkeypatch):
    logged = []
    monkeypatch.setattr(base_metric, 'print_log',
                        lambda msg, logger=None: logged.append(msg))
    run(MultimodalChangeMetric(), [sample([[0, 1, 1, 2], [2, 0, 2, 1]],
                                          [[0, 0, 1, 1], [2, 2, 0, 255]])],
        classes=MM_CLASSES)
    assert len(logged) == 1
    row = next(line for line in logged[0].splitlines()
               if 'added building' in line)
    # class 1: IoU 1/3, F1 1/2, precision 1/2, recall 1/2
    assert [cell.strip() for cell in row.strip('|').split('|')] == \
        ['added building', '33.33', '50.0', '50.0', '50.0']


def test_format_table_without_prettytable(monkeypatch):
    monkeypatch.setitem(sys.modules, 'prettytable', None)  # import fails
    assert format_table(['Class', 'IoU'], [['a', 1.5], ['b', 2.0]]) == \
        'Class | IoU\na | 1.5\nb | 2.0'
