"""Every kind of bad input gets an error naming the file or key and the fix."""
import logging

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

import mmcd_plugin  # noqa: F401
from mmcd_plugin.datasets import DeltaSN6Dataset, LEVIRCDDataset
from mmcd_plugin.datasets.io import ImageReadError, write_geotiff
from mmcd_plugin.registry import TRANSFORMS

UTM = 'EPSG:32631'
GRID = (0.5, 0.0, 590000.0, 0.0, -0.5, 5750000.0)


def levir_layout(root, n=2, size_b=(8, 8), label_value=255):
    for folder in ('A', 'B', 'label'):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / 'A' / f'{i}.png'), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(root / 'B' / f'{i}.png'), np.zeros((*size_b, 3), np.uint8))
        label = np.zeros((8, 8), np.uint8)
        label[0, 0] = label_value
        cv2.imwrite(str(root / 'label' / f'{i}.png'), label)
    return root


def load(dataset_root, **load_args):
    pipeline = [dict(type='LoadBiTemporalImages', **load_args),
                dict(type='LoadChangeAnnotations', binary=True), dict(type='PackChangeInputs')]
    return LEVIRCDDataset(data_root=str(dataset_root), pipeline=pipeline)


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data root '.*nowhere' does not exist.*"
                       r"img_path_from: A/.*data_root"):
        load(tmp_path / 'nowhere')


def test_missing_split_list(tmp_path):
    (tmp_path / 'pre-event').mkdir()
    with pytest.raises(FileNotFoundError, match=r'split list .*train_list.txt not found'):
        DeltaSN6Dataset(data_root=str(tmp_path), ann_file='train_list.txt')


def test_listed_file_missing(tmp_path):
    levir_layout(tmp_path)
    (tmp_path / 'B' / '1.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'(?s)1 listed file\(s\) missing.*B/1.png'):
        load(tmp_path)


def test_empty_dataset(tmp_path):
    for folder in ('A', 'B', 'label'):
        (tmp_path / folder).mkdir()
    with pytest.raises(ValueError, match=r'no samples in .*suffix'):
        load(tmp_path)


def test_sizes_differ(tmp_path):
    dataset = load(levir_layout(tmp_path, size_b=(8, 9)))
    with pytest.raises(ValueError, match=r'differ in size: .*A/0.png is \(8, 8\), .*B/0.png '
                       r'is \(8, 9\)'):
        dataset[0]


def geotiff_pair(tmp_path, crs_to=UTM, grid_to=GRID):
    write_geotiff(str(tmp_path / 'a.tif'), np.zeros((4, 4, 3), np.uint8), UTM, GRID)
    write_geotiff(str(tmp_path / 'b.tif'), np.zeros((4, 4, 1), np.float32), crs_to, grid_to)
    return dict(img_path=[str(tmp_path / 'a.tif'), str(tmp_path / 'b.tif')])


def test_crs_differs(tmp_path):
    loader = TRANSFORMS.build(dict(type='LoadBiTemporalImages'))
    with pytest.raises(ValueError, match=r'CRS differs between .*a.tif and .*b.tif'):
        loader(geotiff_pair(tmp_path, crs_to='EPSG:4326'))


def test_transform_differs(tmp_path):
    loader = TRANSFORMS.build(dict(type='LoadBiTemporalImages'))
    shifted = (0.5, 0.0, 590010.0, 0.0, -0.5, 5750000.0)
    with pytest.raises(ValueError, match=r'Geotransform differs .*a.tif.*b.tif'):
        loader(geotiff_pair(tmp_path, grid_to=shifted))
    equal = loader(geotiff_pair(tmp_path))
    assert equal['geo'][0]['transform'] == GRID


def test_wrong_band_count(tmp_path):
    loader = TRANSFORMS.build(dict(type='LoadBiTemporalImages', channels=(3, 4)))
    with pytest.raises(ValueError, match=r'b.tif \(sar, date 2\) has 1 channel.*expects 4'):
        loader(dict(geotiff_pair(tmp_path), modalities=['optical', 'sar']))


def test_band_selection_beyond_file(tmp_path):
    loader = TRANSFORMS.build(dict(type='LoadBiTemporalImages', bands=(None, [0, 1, 2])))
    with pytest.raises(ImageReadError, match=r'b.tif has 1 band\(s\) but the config selects'):
        loader(geotiff_pair(tmp_path))


@pytest.mark.parametrize('suffix', ['.png', '.tif'])
def test_truncated_image(tmp_path, suffix):
    levir_layout(tmp_path)
    path = tmp_path / f'broken{suffix}'
    if suffix == '.png':
        data = (tmp_path / 'A' / '0.png').read_bytes()
    else:
        write_geotiff(str(path), np.ones((64, 64, 3), np.uint8) * 7, UTM, GRID)
        data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    loader = TRANSFORMS.build(dict(type='LoadBiTemporalImages'))
    with pytest.raises(ImageReadError, match=r'broken\{}'.format(suffix)):
        loader(dict(img_path=[str(path), str(tmp_path / 'B' / '0.png')]))


def test_label_values_outside_class_table(tmp_path):
    levir_layout(tmp_path, label_value=3)
    dataset = LEVIRCDDataset(data_root=str(tmp_path), pipeline=[
        dict(type='LoadBiTemporalImages'), dict(type='LoadChangeAnnotations')])
    with pytest.raises(ValueError, match=r'label/0.png: label values \[3\] are outside the '
                       r'class table \(0..1'):
        dataset[0]


def test_binary_label_with_other_values(tmp_path):
    dataset = load(levir_layout(tmp_path, label_value=128))
    with pytest.raises(ValueError, match=r'label/0.png: binary change labels must be 0/255.*'
                       r'\[128\]'):
        dataset[0]


def test_rgb_label_where_indices_expected(tmp_path):
    levir_layout(tmp_path)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[0, 0] = (0, 0, 255)
    cv2.imwrite(str(tmp_path / 'label' / '0.png'), rgb)
    dataset = LEVIRCDDataset(data_root=str(tmp_path), pipeline=[
        dict(type='LoadBiTemporalImages'), dict(type='LoadChangeAnnotations')])
    with pytest.raises(ValueError, match=r'label/0.png is an RGB-coded label.*dataset_converters'):
        dataset[0]


def test_nan_and_inf_in_sar_are_replaced_and_logged(tmp_path):
    sar = np.ones((4, 4, 1), np.float32)
    sar[0, 0], sar[1, 1], sar[2, 2] = np.nan, np.inf, -np.inf
    write_geotiff(str(tmp_path / 'a.tif'), np.zeros((4, 4, 3), np.uint8), UTM, GRID)
    write_geotiff(str(tmp_path / 'b.tif'), sar, UTM, GRID)
    loader = TRANSFORMS.build(dict(type='LoadBiTemporalImages', nonfinite_value=-1.0))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        results = loader(dict(img_path=[str(tmp_path / 'a.tif'), str(tmp_path / 'b.tif')]))
    finally:
        logger.removeHandler(handler)
    image = results['img'][1][..., 0]
    assert np.isfinite(image).all()
    assert image[0, 0] == image[1, 1] == image[2, 2] == -1.0 and image.sum() == 13 - 3
    assert results['nonfinite_pixels'] == [0, 3]
    messages = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any('b.tif: 3 NaN/Inf pixel(s) replaced by -1.0' in m for m in messages)


def test_config_naming_unknown_module():
    with DefaultScope.overwrite_default_scope('mmcd_plugin'), pytest.raises(
            KeyError, match='NoSuchBackbone is not in the mmcd_plugin::model registry'):
        ROOT_MODELS.build(dict(type='NoSuchBackbone'))
