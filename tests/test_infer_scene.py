"""Scene inference (mmcd_plugin/apis, tools/infer_scene.py) on small GeoTIFF scenes.

Two hand-built models make the answers known:

* ``known``: a 1 x 1 identity encoder, |difference| fusion and a 1 x 1
  classifier with set weights: a pixel is "changed" exactly when the sum over
  channels of |pre - post| / std exceeds 2.6. The post-event image adds 100 to
  a 60 x 100 rectangle, so the change map, its polygons and areas are known.
* ``local``: random 3 x 3 convolutions (receptive-field radius 3, no global
  operation), for which stitched windows must equal one full-scene forward.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope
from rasterio.transform import from_origin
from torch import nn

from mmcd_plugin.apis import BiTemporalScene, ChangeSceneInferencer, SceneGridError, \
    WindowGrid
from mmcd_plugin.apis.scene_outputs import AreaMeter
from mmcd_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
H, W, PIXEL = 300, 420, 0.5
ORIGIN = (600000.0, 5700000.0)
CHANGE = np.s_[100:160, 200:300]          # 6000 changed pixels
PRE_NODATA = np.s_[120:130, 220:240]      # 200 pixels, inside the change
POST_NAN = np.s_[250:260, 10:30]          # 200 pixels
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
CLASSES = ('unchanged', 'changed')
PALETTE = [[0, 0, 0], [255, 0, 0]]
RUN = dict(window=128, overlap=32, batch_size=4, progress=False)


@MODELS.register_module(force=True)
class SceneTestConvStack(BaseModule):
    """Convolutions with ReLU between them; one feature level (tests only)."""

    def __init__(self, in_channels=3, channels=8, kernel_sizes=(3, 3)):
        super().__init__()
        layers = []
        for index, k in enumerate(kernel_sizes):
            layers += [nn.ReLU()] if index else []
            layers.append(nn.Conv2d(in_channels if index == 0 else channels, channels, k,
                                    padding=k // 2))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return (self.layers(x), )


def model_config(kernel_sizes, channels, num_classes, in_channels=(3, 3), head_convs=0):
    """No size_divisor: padding the scene's input would change the convolutions'
    border values (zero-padded inputs are not zero-padded features)."""
    optical = in_channels[1] == 3     # else date 2 is SAR (dB + 30 statistics)
    stats = dict(mean=[MEAN, MEAN if optical else [20.0] * in_channels[1]],
                 std=[STD, STD if optical else [5.0] * in_channels[1]])
    backbone = dict(type='SceneTestConvStack', channels=channels, kernel_sizes=kernel_sizes)
    model = dict(
        type='BiTemporalEncoderDecoder',
        data_preprocessor=dict(type='MultiModalDataPreprocessor', in_channels=in_channels,
                               **stats),
        backbone=backbone, neck=dict(type='FeatureFusionNeck', policy='abs_diff'),
        decode_head=dict(type='FCNHead', in_channels=channels, channels=channels,
                         num_convs=head_convs, kernel_size=3, concat_input=False,
                         dropout_ratio=0, num_classes=num_classes, in_index=0, norm_cfg=None,
                         loss_decode=dict(type='CrossEntropyLoss')),
        test_cfg=dict(mode='whole'))
    if in_channels[1] != in_channels[0]:
        model['backbone_to'] = dict(in_channels=in_channels[1])
    pipeline = [dict(type='LoadBiTemporalImages', channels=in_channels),
                dict(type='PackChangeInputs')]
    return Config(dict(model=model, default_scope='mmcd_plugin',
                       test_dataloader=dict(dataset=dict(pipeline=pipeline))))


def save_checkpoint(model, path, classes):
    """The Runner's layout: ``state_dict`` + ``meta.dataset_meta``."""
    palette = (PALETTE + [[0, 128, 255]])[:len(classes)]
    torch.save(dict(meta=dict(dataset_meta=dict(classes=classes, palette=palette)),
                    state_dict=model.state_dict()), path)


def build(cfg):
    init_default_scope('mmcd_plugin')
    return MODELS.build(cfg.model)


def write_raster(path, array, nodata=None, crs='EPSG:32631', origin=ORIGIN, pixel=PIXEL):
    profile = dict(driver='GTiff', height=array.shape[1], width=array.shape[2],
                   count=array.shape[0], dtype=array.dtype, nodata=nodata, crs=crs,
                   transform=from_origin(*origin, pixel, pixel))
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(array)
    return str(path)


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp('scene')
    rng = np.random.RandomState(0)
    pre = rng.randint(20, 121, (3, H, W)).astype(np.uint8)
    post = pre.astype(np.float32)
    post[(slice(None), ) + CHANGE] += 100
    # Without nodata, and different everywhere (the seam test looks at every pixel).
    clean_pre = write_raster(root / 'clean_pre.tif', pre)
    clean_post = write_raster(root / 'clean_post.tif', post + rng.normal(0, 20, post.shape)
                              .astype(np.float32))
    pre[(slice(None), ) + PRE_NODATA] = 0
    post[(slice(None), ) + POST_NAN] = np.nan
    return dict(root=root, pre=write_raster(root / 'pre.tif', pre, nodata=0),
                post=write_raster(root / 'post.tif', post), post_array=post,
                clean_pre=clean_pre, clean_post=clean_post)


@pytest.fixture(scope='module')
def known(tmp_path_factory):
    """Changed <=> sum_c |pre_c - post_c| / std_c > 2.6."""
    cfg = model_config(kernel_sizes=(1, ), channels=3, num_classes=2)
    model = build(cfg)
    with torch.no_grad():
        conv = model.backbone.layers[0]
        conv.weight.copy_(torch.eye(3)[:, :, None, None])
        conv.bias.zero_()
        model.decode_head.conv_seg.weight.copy_(torch.tensor([[0.0] * 3, [1.0] * 3])[..., None,
                                                                                       None])
        model.decode_head.conv_seg.bias.copy_(torch.tensor([0.0, -2.6]))
    path = str(tmp_path_factory.mktemp('known') / 'known.pth')
    save_checkpoint(model, path, CLASSES)
    return ChangeSceneInferencer(cfg, path, device='cpu')


@pytest.fixture(scope='module')
def local(tmp_path_factory):
    cfg = model_config(kernel_sizes=(3, 3), channels=8, num_classes=3, head_convs=1)
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('local') / 'local.pth')
    save_checkpoint(build(cfg), path, ('unchanged', 'a', 'b'))
    return ChangeSceneInferencer(cfg, path, device='cpu')


def read_band(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band)


def test_window_grid_weights_partition_unity():
    grid = WindowGrid((H, W), window=128, overlap=32)
    assert grid.rows == [0, 96, 172] and grid.cols == [0, 96, 192, 288, 292]
    total = np.zeros((H, W))
    for row in grid.rows:
        for col in grid.cols:
            total[row:row + 128, col:col + 128] += grid.weight(row, col)
    # Regular overlaps of 32 pixels sum exactly to 1; everything is covered.
    assert np.allclose(total[:160, :192], 1.0, atol=1e-6)
    assert total.min() > 0.5
    weight = grid.weight(96, 96)
    assert (weight[:8] == 0).all() and (weight[:, -8:] == 0).all()  # margin = 32 // 4
    assert (weight[24:104, 24:104] == 1).all()


def test_known_answer_nodata_polygons_and_geotiff(known, scene, tmp_path):
    result = known(scene['pre'], scene['post'], str(tmp_path), probabilities=True, **RUN)
    assert result['status'] == 'complete'
    outputs = result['outputs']
    expected = np.zeros((H, W), np.uint8)
    expected[CHANGE] = 1
    expected[PRE_NODATA] = expected[POST_NAN] = 255      # never change, even where it is
    with rasterio.open(outputs['class_map']) as src:
        np.testing.assert_array_equal(src.read(1), expected)
        assert src.crs.to_epsg() == 32631
        assert src.transform == from_origin(*ORIGIN, PIXEL, PIXEL)
        assert src.nodata == 255 and src.dtypes[0] == 'uint8'
        assert src.profile['tiled'] and src.block_shapes[0] == (256, 256)
        assert src.compression.name == 'deflate'
        assert src.colormap(1)[1] == (255, 0, 0, 255)
        assert json.loads(src.tags(1)['CLASSES']) == list(CLASSES)
    with rasterio.open(outputs['probabilities']) as src:
        probs = src.read()
        assert src.descriptions == CLASSES and src.nodata == 255
    # logit margin 100 / std summed over channels - 2.6 = 2.648: p = sigmoid-like softmax.
    margin = sum(100 / s for s in STD) - 2.6
    inside = probs[1][CHANGE][expected[CHANGE] == 1]
    assert (inside == round(100 / (1 + np.exp(-margin)))).all()
    assert (probs[:, expected == 255] == 255).all()
    # One region: the rectangle minus the pre-event nodata hole, 0.25 m^2 pixels.
    import fiona
    with fiona.open(outputs['polygons']['geojson']) as features:
        records = list(features)
    assert len(records) == 1
    props = records[0]['properties']
    assert props['class_name'] == 'changed' and props['pixels'] == 6000 - 200
    assert props['area_m2'] == pytest.approx(5800 * PIXEL ** 2)
    assert len(records[0]['geometry']['coordinates']) == 2  # exterior + hole
    summary = json.load(open(outputs['summary']))
    assert summary['scene']['nodata_pixels'] == 400
    assert summary['scene']['nodata_pixels_by_date'] == [200, 200]
    changed = summary['classes'][1]
    assert changed['area_m2'] == pytest.approx(1450.0) and changed['regions'] == 1
    assert changed['direction'] == 'centre'
    # Centre of mass of the rectangle minus its hole, in pixels, then in the CRS.
    col = (6000 * 250 - 200 * 230) / 5800
    row = (6000 * 130 - 200 * 125) / 5800
    assert summary['largest_regions'][0]['centroid'] == pytest.approx(
        [ORIGIN[0] + PIXEL * col, ORIGIN[1] - PIXEL * row])
    report = open(outputs['report']).read()
    assert '1,450 m^2' in report and 'nodata: 400 pixels' in report
    assert 'pre-event 200, post-event 200' in report
    assert not osp.exists(osp.join(tmp_path, '.infer_scene'))


def full_scene_probabilities(inferencer, pre, post):
    """Softmax of one forward pass over the whole scene (the reference)."""
    from mmcd_plugin.datasets.io import read_image
    images = [read_image(p)[0] for p in (pre, post)]
    data = inferencer.pipeline.transforms(dict(img=images, img_shape=(H, W),
                                               ori_shape=(H, W), seg_fields=[]))
    logits = inferencer.forward(inferencer.collate_fn([data]))[0]
    return torch.from_numpy(logits).softmax(0).numpy()


def test_stitching_is_seam_free(local, scene, tmp_path):
    result = local(scene['clean_pre'], scene['clean_post'], str(tmp_path), probabilities=True,
                   probability_dtype='float32', polygons=(), **RUN)
    with rasterio.open(result['outputs']['probabilities']) as src:
        stitched = src.read()
    reference = full_scene_probabilities(local, scene['clean_pre'], scene['clean_post'])
    np.testing.assert_allclose(stitched, reference, atol=2e-6)
    # Without the weighting, the window borders would show: one window alone
    # differs from the full forward along its edges inside the scene.
    with BiTemporalScene(scene['clean_pre'], scene['clean_post'],
                         local.pipeline.loader) as pair:
        batch, _ = next(local.preprocess([(96, 96)], 1, scene=pair, window_hw=(128, 128)))
    window = torch.from_numpy(local.forward(batch)[0]).softmax(0).numpy()
    assert np.abs(window[:, :, 0] - reference[:, 96:224, 96]).max() > 1e-2
    np.testing.assert_allclose(window[:, 8:-8, 8:-8], reference[:, 104:216, 104:216],
                               atol=2e-6)


def test_resume_is_byte_identical(local, scene, tmp_path, monkeypatch):
    kwargs = dict(RUN, probabilities=True, probability_dtype='float32')
    names = ('change_map.tif', 'change_probabilities.tif', 'change_polygons.geojson')
    local(scene['pre'], scene['post'], str(tmp_path / 'once'), **kwargs)
    resumed = str(tmp_path / 'resumed')
    assert local(scene['pre'], scene['post'], resumed, max_strips=1, **kwargs)['status'] == \
        'incomplete'
    calls = []
    forward = local.forward

    def crash_in_second_batch(data):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return forward(data)
    monkeypatch.setattr(local, 'forward', crash_in_second_batch)
    with pytest.raises(KeyboardInterrupt):
        local(scene['pre'], scene['post'], resumed, **kwargs)
    monkeypatch.setattr(local, 'forward', forward)
    state = json.load(open(osp.join(resumed, '.infer_scene', 'state.json')))
    assert state['finished_strips'] == 1        # the half-done strip 2 was not kept
    assert local(scene['pre'], scene['post'], resumed, **kwargs)['status'] == 'complete'
    for name in names:
        with open(tmp_path / 'once' / name, 'rb') as a, open(osp.join(resumed, name), 'rb') as b:
            assert a.read() == b.read(), name


@pytest.mark.parametrize('change, words', [
    (dict(crs='EPSG:32632'), 'CRS'),
    (dict(origin=(ORIGIN[0] + 1.0, ORIGIN[1])), 'transform'),
    (dict(shape=(H, W - 20)), 'size'),
])
def test_grid_mismatch_is_refused_before_compute(known, scene, tmp_path, monkeypatch, change,
                                                 words):
    shape = change.pop('shape', (H, W))
    post = write_raster(tmp_path / 'moved.tif', scene['post_array'][:, :shape[0], :shape[1]],
                        **change)
    monkeypatch.setattr(known, 'forward', lambda data: pytest.fail('computed before checks'))
    with pytest.raises(SceneGridError, match=words) as error:
        known(scene['pre'], post, str(tmp_path / 'out'), **RUN)
    assert scene['pre'] in str(error.value) and post in str(error.value)
    assert '--resample-post' in str(error.value)


def test_resample_post_onto_pre_grid(known, scene, tmp_path):
    rows, cols = 6, 10   # the post-event image starts 6 rows lower, 10 columns further east
    shifted = scene['post_array'][:, rows:, cols:]
    post = write_raster(tmp_path / 'shifted.tif', shifted,
                        origin=(ORIGIN[0] + cols * PIXEL, ORIGIN[1] - rows * PIXEL))
    result = known(scene['pre'], post, str(tmp_path / 'out'), resample_post=True,
                   resampling='nearest', polygons=(), **RUN)
    aligned = known(scene['pre'], scene['post'], str(tmp_path / 'ref'), polygons=(), **RUN)
    got = read_band(result['outputs']['class_map'])
    want = read_band(aligned['outputs']['class_map'])
    uncovered = np.zeros((H, W), bool)
    uncovered[:, :cols] = uncovered[:rows] = True
    np.testing.assert_array_equal(got[~uncovered], want[~uncovered])
    assert (got[uncovered] == 255).all()
    assert result['summary']['scene']['nodata_pixels_by_date'][1] == 200 + uncovered.sum()


def test_optical_sar_channels_and_errors(scene, tmp_path):
    cfg = model_config(kernel_sizes=(1, ), channels=4, num_classes=2, in_channels=(3, 4))
    model = build(cfg)
    save_checkpoint(model, tmp_path / 'mm.pth', CLASSES)
    inferencer = ChangeSceneInferencer(cfg, str(tmp_path / 'mm.pth'), device='cpu')
    sar = np.random.RandomState(1).gamma(4, 5, (4, H, W)).astype(np.float32)
    result = inferencer(scene['clean_pre'], write_raster(tmp_path / 'sar.tif', sar),
                        str(tmp_path / 'out'), polygons=(), **RUN)
    assert set(np.unique(read_band(result['outputs']['class_map']))) <= {0, 1}
    with pytest.raises(ValueError, match=r'sar2\.tif \(date 2\) gives 2 channel'):
        inferencer(scene['clean_pre'], write_raster(tmp_path / 'sar2.tif', sar[:2]),
                   str(tmp_path / 'out2'), **RUN)


def test_areas_in_geographic_crs():
    """A 1 x 1 arc-second pixel at 52 N against the exact ellipsoidal cell area."""
    from rasterio.crs import CRS
    degree = 1 / 3600
    transform = from_origin(5.0, 52.0 + 100 * degree, degree, degree)
    meter = AreaMeter(CRS.from_epsg(4326), transform, (200, 200))
    a, f = 6378137.0, 1 / 298.257223563
    e = np.sqrt(f * (2 - f))

    def q(lat):
        s = np.sin(np.radians(lat))
        return s / (1 - e * e * s * s) + np.log((1 - e * s) / (1 + e * s)) / (-2 * e)
    b2 = (a * (1 - f)) ** 2   # cell area = b^2 / 2 * dlon * (q(lat2) - q(lat1)) (Snyder)
    x0, y0 = 5.0 + 10 * degree, 52.0 + degree   # a 30 x 50 pixel rectangle
    ring = [(x0, y0), (x0 + 30 * degree, y0), (x0 + 30 * degree, y0 - 50 * degree),
            (x0, y0 - 50 * degree), (x0, y0)]
    lats = 52.0 + degree - np.arange(50) * degree
    exact = sum(b2 / 2 * np.radians(30 * degree) * (q(lat) - q(lat - degree)) for lat in lats)
    polygon = dict(type='Polygon', coordinates=[ring])
    assert meter.polygon_area_m2(polygon) == pytest.approx(exact, rel=1e-5)
    assert meter.pixel_count(polygon) == 1500
    row = meter.row_pixel_areas(99, 100)[0]    # the row just north of 52 N
    assert row == pytest.approx(b2 / 2 * np.radians(degree) * (q(52.0 + degree) - q(52.0)),
                                rel=1e-5)


def test_cli_end_to_end(scene, tmp_path):
    """tools/infer_scene.py with a repository config and a Runner-layout checkpoint.

    The default 512 window covers the scene in one window, which the data
    preprocessor pads to 320 x 448 (size_divisor 32): the padding is cropped.
    """
    config = osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    save_checkpoint(build(cfg), tmp_path / 'tiny.pth', CLASSES)
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/infer_scene.py'), config,
         str(tmp_path / 'tiny.pth'), '--pre', scene['pre'], '--post', scene['post'],
         '--out-dir', str(out), '--probabilities', '--precision', 'bf16',
         '--polygons', 'geojson', 'gpkg', '--no-progress'],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, 'PYTHONPATH': REPO})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Scene change report' in proc.stdout and 'nodata: 400 pixels' in proc.stdout
    for name in ('change_map.tif', 'change_probabilities.tif', 'change_polygons.geojson',
                 'change_polygons.gpkg', 'change_report.txt', 'change_summary.json',
                 'change_quicklook.png'):
        assert (out / name).is_file(), name
    classes = read_band(out / 'change_map.tif')
    assert (classes[PRE_NODATA] == 255).all() and (classes[POST_NAN] == 255).all()
    assert set(np.unique(classes)) <= {0, 1, 255} and classes.shape == (H, W)


def test_compass_direction_follows_the_map():
    from affine import Affine
    from rasterio.crs import CRS

    from mmcd_plugin.apis.scene_report import compass_direction
    north_up = AreaMeter(CRS.from_epsg(32631), from_origin(*ORIGIN, PIXEL, PIXEL), (H, W))
    assert compass_direction(north_up, W - 10, 10) == 'north-east'
    assert compass_direction(north_up, W / 2, H - 5) == 'south'
    assert compass_direction(north_up, W / 2 + 5, H / 2) == 'centre'
    south_up = AreaMeter(CRS.from_epsg(32631), Affine(PIXEL, 0, ORIGIN[0], 0, PIXEL, ORIGIN[1]),
                         (H, W))
    assert compass_direction(south_up, W / 2, H - 5) == 'north'


def test_stale_state_is_discarded(tmp_path):
    from mmcd_plugin.apis.scene_state import StripStore
    arrays = dict(classes=np.zeros((2, 3), np.uint8))
    store = StripStore(str(tmp_path), dict(options=1))
    store.save_strip(0, arrays, dict(origin=np.array(2)), dict(nodata_by_date=[1, 0]))
    assert StripStore(str(tmp_path), dict(options=1)).finished_strips == 1
    fresh = StripStore(str(tmp_path), dict(options=2))     # other model / inputs / options
    assert fresh.finished_strips == 0 and fresh.carry() is None and fresh.stats == {}


def test_report_describes_changes_in_s2m_words():
    """S2M quantity (Eq. 3 thresholds x 4 for a 1024^2 valid area), type, category, where."""
    from mmcd_plugin.apis import describe_changes
    from mmcd_plugin.datasets.change_text import make_class_table

    def entry(index, pixels, direction, regions, largest):
        return dict(id=index, name='changed', change=True, pixels=pixels, area_m2=pixels * 0.25,
                    fraction_of_valid=pixels / 1024 ** 2, direction=direction, regions=regions,
                    largest_region_m2=largest)

    summary = dict(scene=dict(valid_pixels=1024 ** 2),
                   classes=[dict(id=0, name='unchanged', change=False, pixels=1024 ** 2 - 20000),
                            entry(1, 20000, 'north-east', 2, 3000.0)])
    table = make_class_table('levir_cd')
    assert describe_changes(summary, table) == [
        'several newly built buildings: 2 regions, 5,000 m^2 (1.9 % of the valid area), '
        'in the north-east; largest region 3,000 m^2.']
    summary['classes'][1] = entry(1, 3199, 'centre', 1, 799.75)
    assert describe_changes(summary, table) == [
        'a single newly built building: 1 region, 800 m^2 (0.3 % of the valid area), '
        'in the centre.']
    assert describe_changes(summary) == [
        'changed: 1 region, 800 m^2 (0.3 % of the valid area), in the centre.']


@pytest.fixture(scope='module')
def scd_inferencer(tmp_path_factory):
    """The tiny LSAFNet (random weights), its change bias set so that about
    half of the scene is predicted as change."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/lsafnet/lsafnet_tiny_second.py'))
    model = build(cfg)
    model.init_weights()
    model.eval()
    rng = np.random.RandomState(1)
    pre, post = (torch.from_numpy(rng.randint(0, 256, (3, 128, 160)).astype(np.float32))
                 for _ in range(2))
    data = model.data_preprocessor(dict(inputs=[torch.cat([pre, post])]), False)
    with torch.no_grad():
        logits = model.forward_scd(data['inputs'])['seg_logits']
        margin = (logits[:, 1] - logits[:, 0]).median()
        model.decode_head.conv_seg.bias[0] += margin
    path = str(tmp_path_factory.mktemp('scd') / 'lsafnet_tiny.pth')
    from mmcd_plugin.datasets.second import SECONDDataset
    torch.save(dict(meta=dict(dataset_meta=dict(SECONDDataset.METAINFO)),
                    state_dict=model.state_dict()), path)
    return ChangeSceneInferencer(cfg, path, device='cpu'), pre, post


def test_semantic_change_scene_outputs(scd_inferencer, tmp_path):
    """An SCD model writes each date's semantic change map (equal to the
    model's own pred_sem_seg_from / _to on the scene), with the semantic
    palette, nodata kept, and the from -> to transitions counted exactly."""
    from mmcd_plugin.apis.scene_outputs import NODATA_CLASS
    from mmcd_plugin.datasets.second import SECONDDataset
    inferencer, pre, post = scd_inferencer
    pre_path = write_raster(tmp_path / 'pre.tif', pre.numpy().astype(np.uint8))
    post_path = write_raster(tmp_path / 'post.tif', post.numpy().astype(np.uint8))
    result = inferencer(pre_path, post_path, str(tmp_path / 'out'), window=160, overlap=32,
                        progress=False)
    outputs = result['outputs']

    model = inferencer.model
    data = model.data_preprocessor(dict(inputs=[torch.cat([pre, post])]), False)
    with torch.no_grad():
        expected = model.predict(data['inputs'])[0]
    maps = {}
    for date in ('from', 'to'):
        with rasterio.open(outputs[f'semantic_{date}']) as src:
            maps[date] = src.read(1)
            assert src.crs == 'EPSG:32631' and src.transform == from_origin(*ORIGIN, PIXEL, PIXEL)
            assert src.colormap(1)[5] == (128, 0, 0, 255)          # 'building' of SECOND
            assert json.loads(src.tags(1)['CLASSES']) == list(
                SECONDDataset.METAINFO['semantic_classes'])
        reference = expected.get(f'pred_sem_seg_{date}').data[0].numpy()
        assert (maps[date] == reference).mean() > 0.999
    with rasterio.open(outputs['class_map']) as src:
        change = src.read(1)
        assert json.loads(src.tags(1)['CLASSES']) == ['unchanged', 'changed']
    assert {r['class_name'] for r in result['summary']['largest_regions']} == {'changed'}
    assert (change == expected.pred_sem_seg.data[0].numpy()).mean() > 0.999
    assert 0.2 < change.mean() < 0.8                                 # not a trivial map
    assert ((maps['from'] != 0) == (change == 1)).all()
    assert len(np.unique(maps['to'][change == 1])) > 1

    # Transitions: counted independently from the two written maps.
    transitions = result['summary']['transitions']
    changed = (maps['from'] != 0) | (maps['to'] != 0)
    pairs, counts = np.unique(np.stack([maps['from'][changed], maps['to'][changed]]), axis=1,
                              return_counts=True)
    got = {(t['from_id'], t['to_id']): t for t in transitions['transitions']}
    assert set(got) == {tuple(p) for p in pairs.T.tolist()}
    for (frm, to), count in zip(pairs.T.tolist(), counts):
        assert got[frm, to]['pixels'] == count
        assert got[frm, to]['area_m2'] == pytest.approx(count * PIXEL ** 2)
    assert transitions['changed_pixels'] == changed.sum()
    top = transitions['transitions'][0]
    assert top['pixels'] == counts.max()
    assert f'- {top["from_name"]} -> {top["to_name"]}: {top["area_m2"]:,.0f} m^2' in \
        result['report']
    listed = transitions['transitions'][10:]    # the report lists 10, sums the rest
    if listed:
        assert f'- {len(listed)} other transitions: ' \
            f'{sum(t["area_m2"] for t in listed):,.0f} m^2' in result['report']

    # Nodata on one date: 255 in every map, never counted as a transition.
    pre_nodata = np.maximum(pre.numpy(), 1).astype(np.uint8)
    pre_nodata[:, 10:30, 40:90] = 0
    pre_path = write_raster(tmp_path / 'pre_nodata.tif', pre_nodata, nodata=0)
    result = inferencer(pre_path, post_path, str(tmp_path / 'out_nodata'), window=160,
                        overlap=32, progress=False)
    for date in ('from', 'to'):
        with rasterio.open(result['outputs'][f'semantic_{date}']) as src:
            semantic = src.read(1)
        assert (semantic[10:30, 40:90] == NODATA_CLASS).all()
        assert (semantic != NODATA_CLASS).sum() == 128 * 160 - 20 * 50


def test_report_lists_ten_transitions_and_sums_the_rest():
    from mmcd_plugin.apis.scene_report import format_change_report
    names = ('unchanged', 'water', 'building')
    transitions = [dict(from_name=names[1 + i % 2], to_name=names[2 - i % 2], pixels=100 - i,
                        area_m2=(100 - i) * 0.25, fraction_of_changed=(100 - i) / 1134,
                        direction='north') for i in range(12)]
    summary = dict(scene=dict(width=10, height=10, crs=None, pixel_area_m2=None,
                              valid_pixels=100, nodata_pixels=0, valid_area_m2=None),
                   classes=[], largest_regions=[],
                   transitions=dict(changed_pixels=1134, transitions=transitions))
    lines = format_change_report(summary).splitlines()
    start = lines.index('semantic changes (from -> to):')
    assert lines[start + 1] == ('- water -> building: 25 m^2 (8.8 % of the changed area), '
                                'centred in the north')
    assert lines[start + 10].startswith('- building -> water: 23 m^2 (8.0 %')   # 91 px
    # 90 + 89 pixels = 44.75 m^2, 179 / 1134 = 15.8 %
    assert lines[start + 11] == ('- 2 other transitions: 45 m^2 (15.8 % of the changed '
                                 'area; all of them in the summary JSON)')
