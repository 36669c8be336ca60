"""Temporal exchange: swap the two dates of a training pair."""
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmcd_plugin.registry import TRANSFORMS

SWAPPED_PAIRS = ('img', 'img_path', 'geo', 'texts', 'nonfinite_pixels')


@TRANSFORMS.register_module()
class TemporalExchange(BaseTransform):
    """Swap date 1 and date 2 with probability ``prob``.

    Everything tied to a date moves with it: the images, their paths and
    georeferences, per-image texts (captions, S2M sentences) and the two
    semantic maps. Change classes that carry a direction are remapped through
    ``class_swap`` (e.g. Delta-SN6: added building 1 <-> disappeared building 4);
    symmetric classes (binary change, "damaged") stay.

    A pair of different modalities cannot be exchanged: the optical image
    would enter the SAR encoder. Such a pair raises an error on the first
    sample, whatever the random draw, so a wrong pipeline fails at once.

    Args:
        prob (float): Probability of swapping. Defaults to 0.5.
        class_swap (dict[int, int], optional): Change-class remapping applied
            to ``gt_seg_map`` on swap; must be an involution. Defaults to None.
    """

    def __init__(self, prob: float = 0.5, class_swap: Optional[Dict[int, int]] = None):
        assert 0 <= prob <= 1
        self.prob = prob
        self.class_swap = dict(class_swap or {})
        for src, dst in self.class_swap.items():
            if self.class_swap.get(dst) != src:
                raise ValueError(f'class_swap must map both ways: {src}->{dst} needs '
                                 f'{dst}->{src}')
        self.lut = np.arange(256, dtype=np.uint8)
        for src, dst in self.class_swap.items():
            self.lut[src] = dst

    def transform(self, results: Dict) -> Dict:
        modalities = results.get('modalities', ['optical', 'optical'])
        if modalities[0] != modalities[1]:
            raise ValueError(
                f'TemporalExchange cannot swap a {modalities[0]}/{modalities[1]} pair '
                f'({results.get("img_path")}): the {modalities[1]} image would enter the '
                f'{modalities[0]} branch. Remove TemporalExchange from this pipeline.')
        swap = np.random.rand() < self.prob
        if swap:
            for key in SWAPPED_PAIRS:
                if key in results:
                    results[key] = list(results[key])[::-1]
            if 'gt_seg_map_from' in results and 'gt_seg_map_to' in results:
                results['gt_seg_map_from'], results['gt_seg_map_to'] = \
                    results['gt_seg_map_to'], results['gt_seg_map_from']
            if 'gt_seg_map' in results and self.class_swap:
                results['gt_seg_map'] = self.lut[results['gt_seg_map']]
        results['temporal_exchange'] = swap
        return results
