"""Paired transforms keep both dates and every label aligned; temporal
exchange swaps everything tied to a date; per-image transforms respect the
modality."""
import numpy as np
import pytest

import mmcd_plugin  # noqa: F401
from mmcd_plugin.datasets import DeltaSN6Dataset
from mmcd_plugin.datasets.transforms.loading import label_values
from mmcd_plugin.registry import TRANSFORMS


def coordinate_sample(h=12, w=10):
    """Date 1 encodes each pixel's index, date 2 = date 1 + 1000, labels are
    functions of the same index: any misalignment breaks the relations."""
    index = np.arange(h * w, dtype=np.float32).reshape(h, w)
    img_from = np.stack([index, index, index], axis=2)
    img_to = img_from[..., :1] + 1000
    return dict(img=[img_from, img_to], gt_seg_map=(index % 7).astype(np.uint8),
                gt_seg_map_from=(index % 5).astype(np.uint8),
                gt_seg_map_to=(index % 3).astype(np.uint8),
                seg_fields=['gt_seg_map', 'gt_seg_map_from', 'gt_seg_map_to'],
                img_shape=(h, w), ori_shape=(h, w), modalities=['optical', 'sar'])


def assert_aligned(results):
    index = results['img'][0][..., 0]
    np.testing.assert_array_equal(results['img'][1][..., 0], index + 1000)
    np.testing.assert_array_equal(results['gt_seg_map'], index % 7)
    np.testing.assert_array_equal(results['gt_seg_map_from'], index % 5)
    np.testing.assert_array_equal(results['gt_seg_map_to'], index % 3)
    assert results['img_shape'] == index.shape


@pytest.mark.parametrize('cfg', [
    dict(type='PairedRandomCrop', crop_size=(5, 4)),
    dict(type='PairedRandomFlip', prob=1.0, directions=('horizontal', 'vertical', 'diagonal')),
    dict(type='PairedRandomRotate90', prob=1.0)])
def test_paired_geometric_transforms_keep_alignment(cfg):
    transform = TRANSFORMS.build(cfg)
    np.random.seed(3)
    for _ in range(6):
        results = transform(coordinate_sample())
        assert_aligned(results)


def test_flip_and_rotation_values():
    np.random.seed(0)
    flipped = TRANSFORMS.build(dict(type='PairedRandomFlip', prob=1.0,
                                    directions=('horizontal', )))(coordinate_sample(2, 3))
    np.testing.assert_array_equal(flipped['img'][0][..., 0], [[2, 1, 0], [5, 4, 3]])
    rotated = TRANSFORMS.build(dict(type='PairedRandomRotate90', prob=1.0))(
        coordinate_sample(2, 3))
    k = rotated['rot90_k']
    np.testing.assert_array_equal(rotated['img'][0][..., 0],
                                  np.rot90(np.arange(6).reshape(2, 3), k))
    assert rotated['img'][0].shape[:2] == ((3, 2) if k % 2 else (2, 3))


def test_crop_window_and_size():
    np.random.seed(1)
    results = TRANSFORMS.build(dict(type='PairedRandomCrop', crop_size=(5, 4)))(
        coordinate_sample())
    index = results['img'][0][..., 0]
    assert index.shape == (5, 4)
    y0, x0 = divmod(int(index[0, 0]), 10)
    np.testing.assert_array_equal(index, np.arange(120).reshape(12, 10)[y0:y0 + 5, x0:x0 + 4])


def test_crop_cat_max_ratio_retries_dominated_windows(monkeypatch):
    label = np.zeros((8, 8), np.uint8)
    label[:, 4:] = 1
    image = np.zeros((8, 8, 3), np.uint8)
    transform = TRANSFORMS.build(dict(type='PairedRandomCrop', crop_size=(4, 4),
                                      cat_max_ratio=0.75))
    # windows (y1, y2, x1, x2): all-zero, 3/4 zeros (share 0.75, not < 0.75), half/half
    windows = iter([(0, 4, 0, 4), (0, 4, 1, 5), (0, 4, 2, 6), (0, 4, 0, 4)])
    monkeypatch.setattr(transform, 'random_window', lambda shape: next(windows))
    results = transform(dict(img=[image, image], gt_seg_map=label.copy(),
                             seg_fields=['gt_seg_map'], img_shape=(8, 8)))
    np.testing.assert_array_equal(results['gt_seg_map'], label[0:4, 2:6])


def test_crop_without_ratio_takes_first_window(monkeypatch):
    transform = TRANSFORMS.build(dict(type='PairedRandomCrop', crop_size=(4, 4)))
    monkeypatch.setattr(transform, 'random_window', lambda shape: (0, 4, 0, 4))
    label = np.zeros((8, 8), np.uint8)
    results = transform(dict(img=[np.zeros((8, 8, 3))] * 2, gt_seg_map=label,
                             seg_fields=['gt_seg_map'], img_shape=(8, 8)))
    assert results['gt_seg_map'].shape == (4, 4)


def test_resize_images_bilinear_labels_nearest():
    results = TRANSFORMS.build(dict(type='PairedResize', scale=(4, 4), keep_ratio=False))(
        coordinate_sample(2, 2))
    assert results['img'][0].shape == (4, 4, 3) and results['img'][1].shape == (4, 4, 1)
    np.testing.assert_array_equal(results['gt_seg_map'],
                                  [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    # bilinear on date 1: OpenCV half-pixel centres, corners keep their values
    assert results['img'][0][0, 0, 0] == 0 and results['img'][0][3, 3, 0] == 3
    assert results['img'][0][0, 1, 0] == pytest.approx(0.25)
    assert results['scale_factor'] == (2.0, 2.0)


def optical_pair_with_text():
    sample = coordinate_sample(3, 3)
    sample['img'][1] = sample['img'][0] + 1000
    sample.update(modalities=['optical', 'optical'], img_path=['a.png', 'b.png'],
                  texts=['text of date 1', 'text of date 2'])
    sample['gt_seg_map'] = np.array([[0, 1, 4], [2, 5, 3], [6, 0, 255]], np.uint8)
    return sample


def test_temporal_exchange_swaps_everything_and_remaps_directions():
    exchange = TRANSFORMS.build(dict(type='TemporalExchange', prob=1.0,
                                     class_swap=DeltaSN6Dataset.CLASS_SWAP))
    original = optical_pair_with_text()
    results = exchange(optical_pair_with_text())
    np.testing.assert_array_equal(results['img'][0], original['img'][1])
    np.testing.assert_array_equal(results['img'][1], original['img'][0])
    assert results['img_path'] == ['b.png', 'a.png']
    assert results['texts'] == ['text of date 2', 'text of date 1']
    np.testing.assert_array_equal(results['gt_seg_map_from'], original['gt_seg_map_to'])
    np.testing.assert_array_equal(results['gt_seg_map_to'], original['gt_seg_map_from'])
    np.testing.assert_array_equal(results['gt_seg_map'],
                                  [[0, 4, 1], [5, 2, 6], [3, 0, 255]])
    assert results['temporal_exchange'] is True


def test_temporal_exchange_without_swap_changes_nothing():
    results = TRANSFORMS.build(dict(type='TemporalExchange', prob=0.0))(optical_pair_with_text())
    assert results['texts'] == ['text of date 1', 'text of date 2']
    assert results['temporal_exchange'] is False


def test_temporal_exchange_refuses_optical_sar_pairs():
    exchange = TRANSFORMS.build(dict(type='TemporalExchange', prob=0.0))
    with pytest.raises(ValueError, match='sar image would enter the optical branch'):
        exchange(coordinate_sample())


def test_temporal_exchange_class_swap_must_be_symmetric():
    with pytest.raises(ValueError, match='both ways'):
        TRANSFORMS.build(dict(type='TemporalExchange', class_swap={1: 4}))


def test_per_image_transform_touches_only_chosen_modality():
    sample = coordinate_sample(4, 4)
    sample['img'] = [np.full((4, 4, 3), 100, np.uint8), np.full((4, 4, 1), 7.5, np.float32)]
    np.random.seed(0)
    results = TRANSFORMS.build(dict(
        type='PerImageTransform', modalities=('optical', ),
        transform=dict(type='PhotoMetricDistortion', brightness_delta=50)))(sample)
    assert results['img'][1].dtype == np.float32 and (results['img'][1] == 7.5).all()
    assert results['img'][0].shape == (4, 4, 3)
    # PhotoMetricDistortion with this seed changes the optical image
    assert not (results['img'][0] == 100).all()


@pytest.mark.parametrize('dtype, classes', [(np.uint8, [0, 3, 7, 200, 255]),
                                            (np.uint16, [0, 2, 300, 1000])])
def test_label_values_are_the_sorted_distinct_values(dtype, classes):
    """The histogram path (8-bit) and np.unique (other types) agree with a
    sorted set of the pixels."""
    label = np.random.default_rng(0).choice(np.array(classes, dtype=dtype), size=(37, 41))
    label[0, 0] = classes[-1]
    values = label_values(label)
    assert values.tolist() == sorted(set(label.ravel().tolist())) == classes
    assert values.dtype == dtype
