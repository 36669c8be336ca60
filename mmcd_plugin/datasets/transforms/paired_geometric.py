"""Geometric transforms applied identically to both dates and every label map.

Each transform draws its random parameters once per sample and applies them to
``results['img']`` (both images) and to every key in ``results['seg_fields']``
(labels use nearest-neighbour resampling), so pixels of the two dates and the
labels stay aligned.
"""
from typing import Dict, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmcd_plugin.registry import TRANSFORMS


def _apply(results: Dict, image_fn, label_fn=None) -> None:
    label_fn = label_fn or image_fn
    results['img'] = [image_fn(image) for image in results['img']]
    for key in results.get('seg_fields', []):
        results[key] = label_fn(results[key])
    results['img_shape'] = results['img'][0].shape[:2]


@TRANSFORMS.register_module()
class PairedRandomCrop(BaseTransform):
    """Random crop of the same window from both dates and all labels.

    As mmseg's ``RandomCrop``: when one category would cover more than
    ``cat_max_ratio`` of the change label inside the window, up to 10 other
    windows are tried.

    Args:
        crop_size (int | tuple[int, int]): (h, w) of the window.
        cat_max_ratio (float): Largest share of one category. Defaults to 1.0.
        ignore_index (int): Label ignored in the ratio. Defaults to 255.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]],
                 cat_max_ratio: float = 1.0, ignore_index: int = 255):
        self.crop_size = (crop_size, crop_size) if isinstance(crop_size, int) \
            else tuple(crop_size)
        assert min(self.crop_size) > 0, 'crop_size must be positive'
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def random_window(self, shape: Tuple[int, int]) -> Tuple[int, int, int, int]:
        margin_h = max(shape[0] - self.crop_size[0], 0)
        margin_w = max(shape[1] - self.crop_size[1], 0)
        y = np.random.randint(0, margin_h + 1)
        x = np.random.randint(0, margin_w + 1)
        return y, min(y + self.crop_size[0], shape[0]), x, min(x + self.crop_size[1], shape[1])

    def _dominated(self, label: np.ndarray) -> bool:
        values, counts = np.unique(label[label != self.ignore_index], return_counts=True)
        return not (len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio)

    def transform(self, results: Dict) -> Dict:
        window = self.random_window(results['img'][0].shape[:2])
        label = results.get('gt_seg_map')
        if label is not None and self.cat_max_ratio < 1.0:
            for _ in range(10):
                y1, y2, x1, x2 = window
                if not self._dominated(label[y1:y2, x1:x2]):
                    break
                window = self.random_window(label.shape)
        y1, y2, x1, x2 = window
        _apply(results, lambda a: a[y1:y2, x1:x2])
        return results


@TRANSFORMS.register_module()
class PairedRandomFlip(BaseTransform):
    """Flip both dates and all labels with probability ``prob``.

    Args:
        prob (float): Probability of flipping. Defaults to 0.5.
        directions (Sequence[str]): Directions drawn from uniformly when
            flipping: 'horizontal', 'vertical', 'diagonal'.
            Defaults to ('horizontal', 'vertical').
    """

    def __init__(self, prob: float = 0.5,
                 directions: Sequence[str] = ('horizontal', 'vertical')):
        assert 0 <= prob <= 1
        for direction in directions:
            assert direction in ('horizontal', 'vertical', 'diagonal'), direction
        self.prob = prob
        self.directions = list(directions)

    def transform(self, results: Dict) -> Dict:
        flip = np.random.rand() < self.prob
        direction = self.directions[np.random.randint(len(self.directions))] if flip else None
        if flip:
            _apply(results, lambda a: np.ascontiguousarray(mmcv.imflip(a, direction)))
        results['flip'], results['flip_direction'] = flip, direction
        return results


@TRANSFORMS.register_module()
class PairedRandomRotate90(BaseTransform):
    """Rotate both dates and all labels by k * 90 degrees, k drawn from 1..3,
    with probability ``prob`` (lossless, unlike arbitrary-angle rotation).

    Args:
        prob (float): Probability of rotating. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5):
        assert 0 <= prob <= 1
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        k = int(np.random.randint(1, 4)) if np.random.rand() < self.prob else 0
        if k:
            _apply(results, lambda a: np.ascontiguousarray(np.rot90(a, k, axes=(0, 1))))
        results['rot90_k'] = k
        return results


@TRANSFORMS.register_module()
class PairedResize(BaseTransform):
    """Resize both dates (bilinear) and all labels (nearest) to one size.

    Args:
        scale (int | tuple[int, int]): Target (w, h) as in mmcv, or the long
            side when ``keep_ratio`` and an int is given.
        keep_ratio (bool): Keep the aspect ratio (fit inside ``scale``).
            Defaults to True.
    """

    def __init__(self, scale: Union[int, Tuple[int, int]], keep_ratio: bool = True):
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        self.keep_ratio = keep_ratio

    def target_size(self, shape: Tuple[int, int]) -> Tuple[int, int]:
        if not self.keep_ratio:
            return self.scale
        h, w = shape
        factor = min(max(self.scale) / max(h, w), min(self.scale) / min(h, w))
        return int(w * factor + 0.5), int(h * factor + 0.5)

    def transform(self, results: Dict) -> Dict:
        size = self.target_size(results['img'][0].shape[:2])
        _apply(results,
               lambda a: _keep_channel_axis(cv2.resize(a, size, interpolation=cv2.INTER_LINEAR), a),
               lambda a: cv2.resize(a, size, interpolation=cv2.INTER_NEAREST))
        h, w = results['img_shape']
        oh, ow = results['ori_shape']
        results['scale_factor'] = (w / ow, h / oh)
        results['keep_ratio'] = self.keep_ratio
        return results


def _keep_channel_axis(resized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """OpenCV drops the channel axis of single-channel images; restore it."""
    return resized[..., None] if original.ndim == 3 and resized.ndim == 2 else resized
