"""Tests of the change detection visualizer and visualization hook."""
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import rasterio
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from rasterio.crs import CRS
from rasterio.transform import Affine

from mmcd_plugin.datasets.io import write_geotiff
from mmcd_plugin.engine.visualization_hook import ChangeVisualizationHook
from mmcd_plugin.registry import HOOKS, VISUALIZERS
from mmcd_plugin.visualization import (ChangeLocalVisualizer, colorize, compose_panel,
                                       image_to_rgb, panel_layout, sar_to_grey,
                                       stretch_to_uint8)
from mmcd_plugin.visualization.change_visualizer import IGNORE_COLOR, looks_linear

PALETTE = [[0, 0, 0], [255, 255, 255]]
SEM_PALETTE = [[255, 255, 255], [0, 0, 255], [0, 128, 0], [200, 30, 30]]
META = dict(classes=('unchanged', 'changed'), palette=PALETTE)
SCD_META = dict(META, semantic_classes=('unchanged', 'water', 'tree', 'building'),
                semantic_palette=SEM_PALETTE)
CRS_WKT = CRS.from_epsg(32631).to_wkt()
TRANSFORM = (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
# Linear intensities whose dB values are -30 (49x), -20, -10 and 0 (49x): the
# 2nd/98th percentiles are -30/0 dB, so -20 and -10 dB map to 85 and 170.
SAR_LINEAR = np.array([1e-3] * 49 + [1e-2, 1e-1] + [1.] * 49, np.float32).reshape(10, 10)
SAR_GREY = np.array([0] * 49 + [85, 170] + [255] * 49, np.uint8).reshape(10, 10)


def make_visualizer(name, meta=META):
    vis = ChangeLocalVisualizer.get_instance(name)
    vis.dataset_meta = meta
    return vis


def label_map(shape, seed):
    labels = np.random.RandomState(seed).randint(0, 2, shape)
    return torch.from_numpy(labels[None]).long()


def make_sample(paths, modalities, gt, pred, **maps):
    sample = SegDataSample(metainfo=dict(img_path=list(paths), modalities=modalities))
    sample.gt_sem_seg = PixelData(data=gt)
    sample.pred_sem_seg = PixelData(data=pred)
    for key, data in maps.items():
        sample.set_data({key: PixelData(data=data)})
    return sample


def write_png_pair(folder, stem, shape, seed=0):
    """Two random RGB PNGs; returns their paths and RGB arrays."""
    rng = np.random.RandomState(seed)
    paths, images = [], []
    for date in ('A', 'B'):
        rgb = rng.randint(0, 256, shape + (3, ), dtype=np.uint8)
        path = osp.join(folder, f'{stem}_{date}.png')
        cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        paths.append(path)
        images.append(rgb)
    return paths, images


def read_png(path):
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def tile(panel, layout, row, col):
    y, x = layout.tile_origin(row, col)
    return panel[y:y + layout.tile_hw[0], x:x + layout.tile_hw[1]]


def test_registered():
    assert VISUALIZERS.get('ChangeLocalVisualizer') is ChangeLocalVisualizer
    assert HOOKS.get('ChangeVisualizationHook') is ChangeVisualizationHook


def test_stretch_to_uint8_maps_percentiles():
    band = np.append(np.arange(101, dtype=np.float32), [np.nan, np.inf])
    grey = stretch_to_uint8(band[None])[0]
    # p2 = 2 -> 0, p98 = 98 -> 255, 26 -> 24 / 96 * 255 = 63.75 -> 64
    assert grey[[0, 2, 26, 98, 100]].tolist() == [0, 0, 64, 255, 255]
    assert grey[-2:].tolist() == [0, 0]


def test_sar_to_grey_linear_and_db():
    assert looks_linear(SAR_LINEAR.ravel())
    np.testing.assert_array_equal(sar_to_grey(SAR_LINEAR), SAR_GREY)
    db = 10 * np.log10(SAR_LINEAR.astype(np.float64))
    assert not looks_linear(db.ravel())
    np.testing.assert_array_equal(sar_to_grey(db), SAR_GREY)
    # NaN/Inf and zero linear intensity are black and do not move the stretch.
    bad = np.concatenate([SAR_LINEAR, [[np.nan, np.inf, 0.] + [1.] * 7]])
    grey = sar_to_grey(bad)
    np.testing.assert_array_equal(grey[:10], SAR_GREY)
    assert grey[10, :3].tolist() == [0, 0, 0]


def test_image_to_rgb_rules():
    rgb = np.random.RandomState(0).randint(0, 256, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_rgb(rgb), rgb)
    # uint16 optical: first three bands, each stretched; the 4th band is unused.
    bands = np.stack([np.full((2, 51), 7, np.uint16)] * 4, axis=2)
    bands[..., 0] = np.arange(0, 1020, 10).reshape(2, 51)
    bands[..., 3] = 60000
    shown = image_to_rgb(bands)
    np.testing.assert_array_equal(shown[..., 0], stretch_to_uint8(bands[..., 0]))
    assert shown[..., 1:].max() == 0
    # float optical: a NaN in one band blacks out the whole pixel.
    floats = np.random.RandomState(1).rand(3, 3, 3).astype(np.float32)
    floats[1, 1, 2] = np.nan
    assert image_to_rgb(floats)[1, 1].tolist() == [0, 0, 0]
    # SAR (by modality or as a single float band): first band, grey, in dB.
    sar = np.stack([SAR_LINEAR, np.ones_like(SAR_LINEAR)], axis=2)
    for shown in (image_to_rgb(sar, 'sar'), image_to_rgb(SAR_LINEAR[..., None])):
        np.testing.assert_array_equal(shown, np.repeat(SAR_GREY[..., None], 3, axis=2))


def test_colorize_palette_and_ignore():
    labels = np.array([[0, 1, 2], [3, 255, 1]])
    colors = colorize(labels, SEM_PALETTE[:3])
    assert colors[0].tolist() == SEM_PALETTE[:3]
    assert colors[1].tolist() == [list(IGNORE_COLOR)] * 2 + [SEM_PALETTE[1]]


def test_bcd_panel_png(tmp_path):
    shape = (24, 32)
    paths, images = write_png_pair(str(tmp_path), 'tile', shape)
    gt = torch.zeros((1, ) + shape, dtype=torch.long)
    gt[0, 5:10, 8:20] = 1
    gt[0, 20:, :4] = 255
    pred = label_map(shape, 1)
    sample = make_sample(paths, ['optical', 'optical'], gt, pred)
    out_file = str(tmp_path / 'out' / 'tile.png')
    make_visualizer('bcd_panel').add_datasample('tile', data_sample=sample, out_file=out_file)

    panel = read_png(out_file)
    layout = panel_layout(shape, 1, 4)
    assert panel.shape[1] == layout.width
    assert panel.shape[0] > layout.grid_height  # the legend
    np.testing.assert_array_equal(tile(panel, layout, 0, 0), images[0])
    np.testing.assert_array_equal(tile(panel, layout, 0, 1), images[1])
    gt_tile = tile(panel, layout, 0, 2)
    assert gt_tile[7, 10].tolist() == PALETTE[1]
    assert gt_tile[0, 0].tolist() == PALETTE[0]
    assert gt_tile[22, 2].tolist() == list(IGNORE_COLOR)
    np.testing.assert_array_equal(tile(panel, layout, 0, 3),
                                  colorize(pred[0].numpy(), PALETTE))
    assert not list((tmp_path / 'out').glob('*.tif'))  # PNG input has no CRS


def test_scd_panel_second_row(tmp_path):
    shape = (16, 16)
    paths, _ = write_png_pair(str(tmp_path), 'scd', shape)
    sem = {key: torch.randint(0, 4, (1, ) + shape) for key in
           ('gt_sem_seg_from', 'gt_sem_seg_to', 'pred_sem_seg_from', 'pred_sem_seg_to')}
    sample = make_sample(paths, ['optical', 'optical'], label_map(shape, 2),
                         label_map(shape, 3), **sem)
    vis = make_visualizer('scd_panel', SCD_META)
    out_file = str(tmp_path / 'scd.png')
    vis.add_datasample('scd', data_sample=sample, out_file=out_file)

    panel = read_png(out_file)
    layout = panel_layout(shape, 2, 4)
    for col, key in enumerate(sem):
        np.testing.assert_array_equal(tile(panel, layout, 1, col),
                                      colorize(sem[key][0].numpy(), SEM_PALETTE))
    # Without semantic_* keys the semantic maps use the change palette.
    vis.dataset_meta = META
    vis.add_datasample('scd', data_sample=sample, out_file=out_file)
    np.testing.assert_array_equal(tile(read_png(out_file), layout, 1, 0),
                                  colorize(sem['gt_sem_seg_from'][0].numpy(), PALETTE))


def test_geotiff_inputs_and_prediction_geotiffs(tmp_path):
    shape = SAR_LINEAR.shape
    optical = np.random.RandomState(0).randint(0, 4000, shape + (4, )).astype(np.uint16)
    paths = [str(tmp_path / 'img1.tif'), str(tmp_path / 'img2.tif')]
    write_geotiff(paths[0], optical, CRS_WKT, TRANSFORM)
    write_geotiff(paths[1], SAR_LINEAR[..., None], CRS_WKT, TRANSFORM)
    pred = torch.from_numpy(np.arange(100).reshape((1, ) + shape) % 2)
    pred_from = torch.from_numpy(np.arange(100).reshape((1, ) + shape) % 4)
    pred_to = torch.from_numpy(3 - np.arange(100).reshape((1, ) + shape) % 4)
    sample = make_sample(paths, ['optical', 'sar'], label_map(shape, 0), pred,
                         pred_sem_seg_from=pred_from, pred_sem_seg_to=pred_to)
    out_file = str(tmp_path / 'img1.png')
    make_visualizer('geotiff', SCD_META).add_datasample('img1', data_sample=sample,
                                                        out_file=out_file)

    panel = read_png(out_file)
    layout = panel_layout(shape, 2, 4)
    np.testing.assert_array_equal(tile(panel, layout, 0, 0), image_to_rgb(optical))
    np.testing.assert_array_equal(tile(panel, layout, 0, 1)[..., 0], SAR_GREY)
    expected = dict(_pred=(pred, PALETTE), _pred_from=(pred_from, SEM_PALETTE),
                    _pred_to=(pred_to, SEM_PALETTE))
    for suffix, (labels, palette) in expected.items():
        with rasterio.open(tmp_path / f'img1{suffix}.tif') as src:
            assert src.crs == CRS.from_epsg(32631)
            assert src.transform == Affine(*TRANSFORM)
            assert src.dtypes == ('uint8', )
            np.testing.assert_array_equal(src.read(1), labels[0].numpy())
            colormap = src.colormap(1)
            assert [list(colormap[i][:3]) for i in range(len(palette))] == palette


def test_hook_writes_one_panel_per_test_sample(tmp_path):
    vis = make_visualizer('hook_test')
    hook = ChangeVisualizationHook(draw=True, show_dir='show')
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='20240101_000000', iter=0)
    samples = []
    for stem in ('t1', 't2', 't3'):
        paths, _ = write_png_pair(str(tmp_path), stem, (8, 8))
        samples.append(make_sample(paths, ['optical', 'optical'], label_map((8, 8), 0),
                                   label_map((8, 8), 1)))
    assert hook._visualizer is vis
    hook.after_test_iter(runner, 0, {}, samples[:2])
    hook.after_test_iter(runner, 1, {}, samples[2:])
    out_dir = tmp_path / '20240101_000000' / 'show'
    assert sorted(p.name for p in out_dir.iterdir()) == ['t1_A.png', 't2_A.png', 't3_A.png']


@pytest.mark.parametrize('draw', [True, False])
def test_hook_val_interval(tmp_path, draw):
    vis = make_visualizer(f'hook_val_{draw}')
    calls = []
    vis.add_datasample = lambda name, **kwargs: calls.append((name, kwargs['out_file']))
    hook = ChangeVisualizationHook(draw=draw, interval=2)
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='t', iter=5)
    for batch_idx in range(4):
        sample = SegDataSample(metainfo=dict(img_path=[f'/d/A/b{batch_idx}.tif', '/d/B/x.tif']))
        hook.after_val_iter(runner, batch_idx, {}, [sample])
    assert calls == ([('val_b1', None), ('val_b3', None)] if draw else [])


def test_compose_panel_without_legend():
    tiles = [[('a', np.zeros((4, 6, 3), np.uint8)), ('b', np.full((4, 6, 3), 9, np.uint8))]]
    panel = compose_panel(tiles)
    layout = panel_layout((4, 6), 1, 2)
    assert panel.shape == (layout.grid_height, layout.width, 3)
    assert (tile(panel, layout, 0, 1) == 9).all()


def test_backend_gets_panel_without_out_file(tmp_path):
    shape = (12, 12)
    paths, _ = write_png_pair(str(tmp_path), 'val', shape)
    sample = make_sample(paths, ['optical', 'sar'], label_map(shape, 0), label_map(shape, 1))
    vis = ChangeLocalVisualizer.get_instance(
        'backend', vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path / 'vis'))
    vis.dataset_meta = dict(classes=('unchanged', 'changed'))  # no palette: generated
    vis.add_datasample('val_tile', data_sample=sample, step=3)
    written = read_png(str(tmp_path / 'vis' / 'vis_data' / 'vis_image' / 'val_tile_3.png'))
    np.testing.assert_array_equal(written, vis._image)
    assert list(tmp_path.glob('*.tif')) == []
