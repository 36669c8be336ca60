"""Packing a bi-temporal sample into model inputs and a data sample."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmcd_plugin.registry import TRANSFORMS

DATA_SAMPLE_FIELDS = {'gt_seg_map': 'gt_sem_seg', 'gt_seg_map_from': 'gt_sem_seg_from',
                      'gt_seg_map_to': 'gt_sem_seg_to'}


@TRANSFORMS.register_module()
class PackChangeInputs(BaseTransform):
    """Pack a pair into ``inputs`` and an Open-CD-compatible ``SegDataSample``.

    ``inputs`` is the two images concatenated along channels, ``(C1 + C2, H, W)``
    (Open-CD's 6-channel input is the case C1 = C2 = 3); the per-date channel
    counts go to the metainfo key ``in_channels`` so a model can split them.
    Labels become ``gt_sem_seg`` (change), ``gt_sem_seg_from`` and
    ``gt_sem_seg_to`` (semantic maps).

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo when present.
            ``crs`` and ``transform`` are those of the date-1 image;
            ``change_text`` is the S2M sentence of ``GenerateChangeText``.
    """

    def __init__(self, meta_keys: Sequence[str] = (
            'img_path', 'seg_map_path', 'seg_map_path_from', 'seg_map_path_to',
            'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
            'rot90_k', 'temporal_exchange', 'modalities', 'in_channels', 'crs',
            'transform', 'texts', 'change_text', 'nonfinite_pixels', 'sample_idx')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        images = results['img']
        dtype = np.result_type(*[image.dtype for image in images])
        stacked = np.concatenate([image.astype(dtype, copy=False) for image in images], axis=2)
        inputs = torch.from_numpy(np.ascontiguousarray(stacked.transpose(2, 0, 1)))
        results['in_channels'] = [image.shape[2] for image in images]
        geo = results.get('geo', [{}])[0]
        results['crs'], results['transform'] = geo.get('crs'), geo.get('transform')
        data_sample = SegDataSample()
        for key, field in DATA_SAMPLE_FIELDS.items():
            if key in results:
                label = torch.from_numpy(results[key][None].astype(np.int64))
                data_sample.set_data({field: PixelData(data=label)})
        data_sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=data_sample)
