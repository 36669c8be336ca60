"""Dataset classes on their real on-disk layouts, and on the real sample data."""
import os.path as osp

import cv2
import numpy as np
import pytest

import mmcd_plugin  # noqa: F401
from mmcd_plugin.datasets import (BiTemporalDataset, BRIGHTDataset, DeltaSN6Dataset,
                                  LandsatSCDDataset, LEVIRCDDataset, SECONDDataset,
                                  SYSUCDDataset, WuhanHetDataset)
from mmcd_plugin.datasets.io import write_geotiff

PIPELINE = [dict(type='LoadBiTemporalImages'), dict(type='LoadChangeAnnotations'),
            dict(type='PackChangeInputs')]
UTM = 'EPSG:32631'


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), array)


def test_levir_real_tiles_load_exactly(shared_data):
    root = shared_data('levir_cd_samples')
    pipeline = [dict(type='LoadBiTemporalImages', channels=(3, 3)),
                dict(type='LoadChangeAnnotations', binary=True), dict(type='PackChangeInputs')]
    dataset = LEVIRCDDataset(data_root=root, pipeline=pipeline)
    names = sorted(n for n in __import__('os').listdir(osp.join(root, 'A')))
    assert len(dataset) == len(names)
    index = names.index('test_2_0000_0000.png')
    sample = dataset[index]
    a = cv2.imread(osp.join(root, 'A', names[index]))[..., ::-1]
    b = cv2.imread(osp.join(root, 'B', names[index]))[..., ::-1]
    label = cv2.imread(osp.join(root, 'label', names[index]), cv2.IMREAD_UNCHANGED)
    inputs = sample['inputs'].numpy()
    assert inputs.shape == (6, 256, 256)
    np.testing.assert_array_equal(inputs[:3].transpose(1, 2, 0), a)  # RGB order
    np.testing.assert_array_equal(inputs[3:].transpose(1, 2, 0), b)
    gt = sample['data_samples'].gt_sem_seg.data.numpy()[0]
    np.testing.assert_array_equal(gt, (label == 255).astype(np.int64))
    assert gt.sum() == (label == 255).sum() > 0
    assert sample['data_samples'].metainfo['in_channels'] == [3, 3]


@pytest.mark.parametrize('order', ['sar_first', 'optical_first'])
def test_shuguang_real_optical_sar_pair_in_both_orders(tmp_path, order, shared_data):
    root = shared_data('shuguang_optical_sar')
    files = ['t1_sar.png', 't2_optical.png'] if order == 'sar_first' else \
        ['t2_optical.png', 't1_sar.png']
    modalities = ('sar', 'optical') if order == 'sar_first' else ('optical', 'sar')
    channels = (1, 3) if order == 'sar_first' else (3, 1)
    split = tmp_path / 'scene.txt'
    split.write_text(' '.join(files + ['gt.png']) + '\n')
    dataset = BiTemporalDataset(
        data_root=root, ann_file=str(split), metainfo=dict(modalities=modalities),
        pipeline=[dict(type='LoadBiTemporalImages', channels=channels),
                  dict(type='LoadChangeAnnotations', binary=True),
                  dict(type='PackChangeInputs')])
    sample = dataset[0]
    sar = cv2.imread(osp.join(root, 't1_sar.png'), cv2.IMREAD_UNCHANGED)
    gt = cv2.imread(osp.join(root, 'gt.png'), cv2.IMREAD_UNCHANGED)
    inputs = sample['inputs'].numpy()
    assert inputs.shape == (4, 593, 921)
    sar_channel = 0 if order == 'sar_first' else 3
    np.testing.assert_array_equal(inputs[sar_channel], sar)
    meta = sample['data_samples'].metainfo
    assert meta['modalities'] == list(modalities)
    assert meta['in_channels'] == list(channels)
    np.testing.assert_array_equal(sample['data_samples'].gt_sem_seg.data[0].numpy(), gt > 0)


def test_shuguang_sar_repeated_to_three_channels(tmp_path, shared_data):
    root = shared_data('shuguang_optical_sar')
    split = tmp_path / 'scene.txt'
    split.write_text('t1_sar.png t2_optical.png gt.png\n')
    dataset = BiTemporalDataset(
        data_root=root, ann_file=str(split), metainfo=dict(modalities=('sar', 'optical')),
        pipeline=[dict(type='LoadBiTemporalImages', repeat_channels=(3, None),
                       channels=(3, 3)), dict(type='PackChangeInputs')])
    inputs = dataset[0]['inputs']
    assert inputs.shape[0] == 6
    assert (inputs[0] == inputs[1]).all() and (inputs[1] == inputs[2]).all()


def make_geotiff_pair(root, name_from, name_to, label_name, shape=(16, 16), bands=(3, 4),
                      label_values=(0, 1)):
    rng = np.random.default_rng(0)
    transform = (0.5, 0.0, 590000.0, 0.0, -0.5, 5750000.0)
    write_geotiff(str(root / name_from), rng.integers(0, 255, (*shape, bands[0]), np.uint8),
                  UTM, transform)
    write_geotiff(str(root / name_to), rng.random((*shape, bands[1]), np.float32), UTM,
                  transform)
    label = np.zeros(shape, np.uint8)
    label[:4] = label_values[1]
    write_geotiff(str(root / label_name), label, UTM, transform)
    return label


def test_delta_sn6_layout_and_geo_metadata(tmp_path):
    for folder in ('pre-event', 'post-event', 'target'):
        (tmp_path / folder).mkdir()
    stem = 'SN6_Train_AOI_11_Rotterdam_PS-RGB_20190822_20190822_tile_7'
    sar = stem.replace('PS-RGB', 'SAR-Intensity')
    label = make_geotiff_pair(tmp_path, f'pre-event/{stem}.tif', f'post-event/{sar}.tif',
                              f'target/{stem}.tif', label_values=(0, 4))
    (tmp_path / 'train_list.txt').write_text(stem + '.tif\n')
    dataset = DeltaSN6Dataset(data_root=str(tmp_path), ann_file='train_list.txt',
                              pipeline=PIPELINE)
    sample = dataset[0]
    meta = sample['data_samples'].metainfo
    assert meta['img_path'][1].endswith(f'post-event/{sar}.tif')
    assert meta['modalities'] == ['optical', 'sar'] and meta['in_channels'] == [3, 4]
    assert 'UTM zone 31N' in meta['crs'] and meta['transform'][2] == 590000.0
    np.testing.assert_array_equal(sample['data_samples'].gt_sem_seg.data[0].numpy(), label)
    assert dataset.metainfo['classes'][4] == 'disappeared building'


def test_bright_layout(tmp_path):
    for folder in ('pre-event', 'post-event', 'target'):
        (tmp_path / folder).mkdir()
    make_geotiff_pair(tmp_path, 'pre-event/la-fire_00012_pre_disaster.tif',
                      'post-event/la-fire_00012_post_disaster.tif',
                      'target/la-fire_00012_building_damage.tif', bands=(3, 1),
                      label_values=(0, 3))
    dataset = BRIGHTDataset(data_root=str(tmp_path), pipeline=PIPELINE)
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample['data_samples'].metainfo['in_channels'] == [3, 1]
    assert sample['data_samples'].gt_sem_seg.data.max() == 3


def test_wuhan_het_layout(tmp_path):
    (tmp_path / 'rgb').mkdir()
    write_geotiff(str(tmp_path / 'rgb' / '0001.tif'), np.zeros((8, 8, 4), np.uint16), None, None)
    write_png(tmp_path / 'sar' / '0001.png', np.full((8, 8), 9, np.uint8))
    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:4] = 255
    write_png(tmp_path / 'mask' / '0001.png', mask)
    (tmp_path / 'test_set.txt').write_text('0001\n')
    dataset = WuhanHetDataset(
        data_root=str(tmp_path), ann_file='test_set.txt',
        pipeline=[dict(type='LoadBiTemporalImages', bands=([0, 1, 2], None), channels=(3, 1)),
                  dict(type='LoadChangeAnnotations', binary=True), dict(type='PackChangeInputs')])
    sample = dataset[0]
    assert sample['inputs'].shape == (4, 8, 8) and sample['inputs'].dtype.is_floating_point
    assert sample['inputs'][3].eq(9).all()
    assert sample['data_samples'].gt_sem_seg.data.sum() == 4


def test_sysu_layout(tmp_path):
    for folder in ('time1', 'time2'):
        write_png(tmp_path / folder / 'x.png', np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / 'label' / 'x.png', np.zeros((4, 4), np.uint8))
    dataset = SYSUCDDataset(data_root=str(tmp_path), pipeline=PIPELINE)
    assert dataset.get_data_info(0)['img_path'][1].endswith('time2/x.png')


@pytest.mark.parametrize('cls,folders', [
    (SECONDDataset, ('im1', 'im2', 'label1_index', 'label2_index')),
    (LandsatSCDDataset, ('A', 'B', 'labelA_index', 'labelB_index'))])
def test_scd_layouts_derive_change(tmp_path, cls, folders):
    write_png(tmp_path / folders[0] / 't.png', np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / folders[1] / 't.png', np.zeros((4, 4, 3), np.uint8))
    sem1 = np.array([[0, 1, 2, 0]] * 4, np.uint8)
    sem2 = np.array([[0, 3, 4, 0]] * 4, np.uint8)
    write_png(tmp_path / folders[2] / 't.png', sem1)
    write_png(tmp_path / folders[3] / 't.png', sem2)
    dataset = cls(data_root=str(tmp_path), pipeline=[
        dict(type='LoadBiTemporalImages'), dict(type='LoadChangeAnnotations', derive_change=True),
        dict(type='PackChangeInputs')])
    sample = dataset[0]['data_samples']
    np.testing.assert_array_equal(sample.gt_sem_seg_from.data[0].numpy(), sem1)
    np.testing.assert_array_equal(sample.gt_sem_seg_to.data[0].numpy(), sem2)
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), sem1 > 0)
    assert len(dataset.metainfo['semantic_classes']) == {SECONDDataset: 7,
                                                         LandsatSCDDataset: 5}[cls]


def test_generic_multiclass_metainfo_from_config(tmp_path):
    write_png(tmp_path / 'A' / 'g.png', np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / 'B' / 'g.png', np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / 'label' / 'g.png', np.full((4, 4), 2, np.uint8))
    cfg_classes = ('no change', 'damaged building', 'destroyed building')
    from mmcd_plugin.registry import DATASETS
    dataset = DATASETS.build(dict(type='MultiClassCDDataset', data_root=str(tmp_path),
                                  metainfo=dict(classes=cfg_classes), pipeline=PIPELINE))
    assert dataset.metainfo['classes'] == cfg_classes
    assert dataset[0]['data_samples'].gt_sem_seg.data.max() == 2
