"""Loading bi-temporal / multimodal images and change labels.

Results-dict convention (shared by every transform of the plugin, compatible
with Open-CD): ``results['img']`` is a list ``[img_from, img_to]`` of
``(H, W, C)`` arrays, ``results['img_path']`` the two paths,
``results['modalities']`` e.g. ``['optical', 'sar']`` and ``results['geo']``
the two georeferences (``crs``/``transform``/``nodata``). Label maps are
``gt_seg_map`` (change, class indices, 0 = no change), ``gt_seg_map_from`` and
``gt_seg_map_to`` (semantic maps), all listed in ``results['seg_fields']``.
"""
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mmcd_plugin.datasets.io import read_image
from mmcd_plugin.registry import TRANSFORMS

LABEL_KEYS = {'seg_map_path': 'gt_seg_map', 'seg_map_path_from': 'gt_seg_map_from',
              'seg_map_path_to': 'gt_seg_map_to'}


def _bands_per_date(bands) -> list:
    """``[0, 1, 2]`` applies to both dates; ``(None, [0, 1, 2])`` is per date."""
    if bands is None or all(isinstance(b, int) for b in bands):
        return [bands, bands]
    return list(bands)


def label_values(label: np.ndarray) -> np.ndarray:
    """The distinct values of a label map, sorted.

    8-bit labels (nearly all) are counted into a 256-bin histogram, one pass
    over the pixels instead of ``np.unique``'s sort: about ten times faster
    on a 256 x 256 tile, which matters in the data-loader workers that share
    the CPU with training.
    """
    if label.dtype == np.uint8:
        return np.flatnonzero(np.bincount(label.ravel(), minlength=256)).astype(np.uint8)
    return np.unique(label)


def _repeat_per_date(repeat) -> list:
    return list(repeat) if isinstance(repeat, (list, tuple)) else [repeat, repeat]


def replace_nonfinite(image: np.ndarray, value: float) -> int:
    """Replace NaN/Inf in ``image`` in place by ``value``; return their count."""
    if not np.issubdtype(image.dtype, np.floating):
        return 0
    bad = ~np.isfinite(image)
    count = int(bad.sum())
    if count:
        image[bad] = value
    return count


@TRANSFORMS.register_module()
class LoadBiTemporalImages(BaseTransform):
    """Load the two images of a pair (GeoTIFF of any band count, or PNG/JPG/BMP).

    Plain images are returned in RGB order (like GeoTIFFs), so normalisation
    statistics are given in RGB order. NaN/Inf pixels (common in SAR
    calibration products) are replaced by ``nonfinite_value`` and reported in
    the log with the file name, so they never reach the loss.

    Args:
        bands (Sequence[int] | tuple[Sequence[int] | None, Sequence[int] | None], optional):
            0-based bands to keep, for both dates or per date; e.g.
            ``(None, [0, 1, 2])`` keeps the first three of four SAR
            polarisations. Defaults to None (all bands).
        repeat_channels (int | tuple[int | None, int | None], optional):
            Repeat a single-band image to this many channels (e.g. SAR -> 3
            for an RGB-pretrained encoder). Defaults to None.
        channels (tuple[int, int], optional): Channel count each date must
            have after band selection and repetition; a mismatch raises an
            error naming the file. Defaults to None (no check).
        to_float32 (bool): Cast both images to float32. Images of different
            dtypes are always cast. Defaults to False.
        nonfinite_value (float): Value replacing NaN/Inf. Defaults to 0.0.
        check_geo (bool): Require equal CRS and transform when both dates are
            georeferenced. Defaults to True.
        geo_atol (float): Tolerance on transform coefficients. Defaults to 1e-6.
    """

    def __init__(self, bands=None, repeat_channels=None,
                 channels: Optional[Sequence[int]] = None, to_float32: bool = False,
                 nonfinite_value: float = 0.0, check_geo: bool = True,
                 geo_atol: float = 1e-6):
        self.bands = _bands_per_date(bands)
        self.repeat_channels = _repeat_per_date(repeat_channels)
        self.channels = None if channels is None else list(channels)
        self.to_float32 = to_float32
        self.nonfinite_value = nonfinite_value
        self.check_geo = check_geo
        self.geo_atol = geo_atol

    def transform(self, results: Dict) -> Dict:
        paths = results['img_path']
        images, geos, nonfinite = [], [], []
        for index, path in enumerate(paths):
            image, geo = read_image(path, self.bands[index])
            image = self._repeat(image, self.repeat_channels[index])
            self._check_channels(image, index, path, results)
            nonfinite.append(replace_nonfinite(image, self.nonfinite_value))
            if nonfinite[-1]:
                print_log(f'{path}: {nonfinite[-1]} NaN/Inf pixel(s) replaced by '
                          f'{self.nonfinite_value}', logger='current', level=30)
            images.append(image)
            geos.append(geo)
        self._check_pair(images, geos, paths)
        if self.to_float32 or images[0].dtype != images[1].dtype:
            images = [image.astype(np.float32) for image in images]
        results.update(img=images, geo=geos, nonfinite_pixels=nonfinite,
                       img_shape=images[0].shape[:2], ori_shape=images[0].shape[:2])
        results.setdefault('modalities', ['optical', 'optical'])
        results.setdefault('seg_fields', [])
        return results

    @staticmethod
    def _repeat(image: np.ndarray, repeat: Optional[int]) -> np.ndarray:
        if repeat is None or image.shape[2] == repeat:
            return image
        if image.shape[2] != 1:
            raise ValueError(f'repeat_channels={repeat} needs a single-band image, got '
                             f'{image.shape[2]} bands')
        return np.repeat(image, repeat, axis=2)

    def _check_channels(self, image, index, path, results):
        if self.channels is None or image.shape[2] == self.channels[index]:
            return
        modality = results.get('modalities', ['?', '?'])[index]
        raise ValueError(
            f'{path} ({modality}, date {index + 1}) has {image.shape[2]} channel(s) after '
            f'band selection, but the config expects {self.channels[index]}. Fix '
            '`bands`/`repeat_channels` of LoadBiTemporalImages or the model in_channels.')

    def _check_pair(self, images, geos, paths):
        if images[0].shape[:2] != images[1].shape[:2]:
            raise ValueError(f'Date-1 and date-2 images differ in size: {paths[0]} is '
                             f'{images[0].shape[:2]}, {paths[1]} is {images[1].shape[:2]}. '
                             'Co-register / resample them onto one grid first.')
        if not self.check_geo or geos[0]['crs'] is None or geos[1]['crs'] is None:
            return
        if not _same_crs(geos[0]['crs'], geos[1]['crs']):
            raise ValueError(f'CRS differs between {paths[0]} and {paths[1]}. Reproject '
                             'the date-2 image onto the date-1 grid first.')
        if not np.allclose(geos[0]['transform'], geos[1]['transform'], atol=self.geo_atol):
            raise ValueError(
                f'Geotransform differs between {paths[0]} {geos[0]["transform"]} and '
                f'{paths[1]} {geos[1]["transform"]}: the pixels do not cover the same '
                'ground. Resample the date-2 image onto the date-1 grid first.')


def _same_crs(a: str, b: str) -> bool:
    if a == b:
        return True
    from rasterio.crs import CRS
    return CRS.from_user_input(a) == CRS.from_user_input(b)


@TRANSFORMS.register_module()
class LoadChangeAnnotations(BaseTransform):
    """Load the change label and, for semantic change detection, both dates'
    semantic maps, validating every value against the class tables.

    Labels must hold class indices (``0 .. num_classes - 1``, 255 = ignore).
    Binary datasets stored as 0/255 (LEVIR-CD, WHU-CD, SYSU-CD, Wuhan-Het) use
    ``binary=True``: 255 means change.

    Args:
        binary (bool): The change label is 0/255 (or 0/1); map 255 -> 1.
            Defaults to False.
        derive_change (bool): Build ``gt_seg_map`` as "either date's semantic
            label is not 0" when the dataset has no change-label file (SECOND,
            Landsat-SCD). Defaults to False.
        ignore_index (int): Label value that is ignored. Defaults to 255.
    """

    def __init__(self, binary: bool = False, derive_change: bool = False,
                 ignore_index: int = 255):
        self.binary = binary
        self.derive_change = derive_change
        self.ignore_index = ignore_index

    def transform(self, results: Dict) -> Dict:
        for path_key, map_key in LABEL_KEYS.items():
            if results.get(path_key) is None:
                continue
            is_change = map_key == 'gt_seg_map'
            num_classes = results.get('num_classes' if is_change else 'semantic_num_classes')
            label = self._read(results[path_key], num_classes, is_change and self.binary)
            results[map_key] = label
            results['seg_fields'].append(map_key)
        if self.derive_change:
            self._derive_change(results)
        return results

    def _read(self, path: str, num_classes: Optional[int], binary: bool) -> np.ndarray:
        label, _ = read_image(path)
        if label.shape[2] != 1:
            if label.shape[2] >= 3 and not (label[..., 0] == label[..., 1]).all():
                raise ValueError(
                    f'{path} is an RGB-coded label but class indices are expected. '
                    'Convert the dataset first (tools/dataset_converters/).')
            label = label[..., :1]
        label = label[..., 0]
        if binary:
            label = self._binarise(label, path)
        self._check_values(label, num_classes, path)
        return label.astype(np.uint8)

    def _binarise(self, label: np.ndarray, path: str) -> np.ndarray:
        values = set(label_values(label).tolist())
        if not values <= {0, 1, 255}:
            raise ValueError(f'{path}: binary change labels must be 0/255 (or 0/1), found '
                             f'values {sorted(values - {0, 1, 255})}.')
        return (label > 0).astype(np.uint8)

    def _check_values(self, label: np.ndarray, num_classes: Optional[int], path: str):
        if num_classes is None:
            return
        values = label_values(label)
        bad = values[(values >= num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f'{path}: label values {bad.tolist()} are outside the class table '
                f'(0..{num_classes - 1}, ignore {self.ignore_index}). Check the '
                'dataset type / metainfo classes, or `binary=True` for 0/255 masks.')

    def _derive_change(self, results: Dict):
        if 'gt_seg_map_from' not in results or 'gt_seg_map_to' not in results:
            raise KeyError('derive_change=True needs both semantic label maps '
                           '(seg_map_path_from / seg_map_path_to in the dataset).')
        a, b = results['gt_seg_map_from'], results['gt_seg_map_to']
        change = ((a != 0) | (b != 0)).astype(np.uint8)
        change[(a == self.ignore_index) | (b == self.ignore_index)] = self.ignore_index
        results['gt_seg_map'] = change
        if 'gt_seg_map' not in results['seg_fields']:
            results['seg_fields'].append('gt_seg_map')
