"""The synthetic optical + SAR dataset: layout, georeference, determinism, physics."""
import filecmp
import importlib.util
import os
import os.path as osp
import re

import numpy as np
import pytest
import rasterio

from mmcd_plugin.datasets.synthetic import (BUILDING, CLASSES, GROUND, ROAD, SAR_BANDS,
                                            SAR_LOOKS, WATER, change_target,
                                            make_synthetic_delta_sn6, make_synthetic_tile,
                                            sar_db_to_linear, split_sizes)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRE_NAME = re.compile(r'^SN6_Train_AOI_11_Rotterdam_PS-RGB_\d{14}_\d{14}_tile_\d+\.tif$')
HH, HV, VH, VV = range(4)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('sn6'))
    summary = make_synthetic_delta_sn6(root, num_tiles=6, tile_size=64, seed=0,
                                       progress=False)
    return root, summary


@pytest.fixture(scope='module')
def tiles():
    return [make_synthetic_tile(128, seed=3, index=i) for i in range(8)]


def read_list(root, split):
    with open(osp.join(root, f'{split}_list.txt')) as f:
        return [line.strip() for line in f if line.strip()]


def all_files(root):
    return sorted(osp.relpath(osp.join(d, n), root) for d, _, names in os.walk(root)
                  for n in names)


def pixels(tiles, field, mask_fn):
    """Concatenate ``field`` values over ``mask_fn(tile)`` across tiles."""
    return np.concatenate([getattr(t, field)[mask_fn(t)] for t in tiles])


def sar_effects(tile):
    return tile.sar_roof | tile.sar_layover | tile.sar_double_bounce | tile.sar_shadow


def test_layout_names_and_splits(dataset):
    root, summary = dataset
    assert sorted(os.listdir(root)) == ['post-event', 'pre-event', 'target', 'test_list.txt',
                                        'train_list.txt', 'val_list.txt']
    splits = {s: read_list(root, s) for s in ('train', 'val', 'test')}
    assert {s: len(v) for s, v in splits.items()} == summary['splits'] == dict(
        train=4, val=1, test=1)
    listed = sorted(sum(splits.values(), []))
    assert listed == sorted(os.listdir(osp.join(root, 'pre-event')))
    assert sorted(os.listdir(osp.join(root, 'target'))) == listed
    for name in listed:
        assert PRE_NAME.match(name), name
        post = name.replace('PS-RGB', 'SAR-Intensity')
        assert osp.isfile(osp.join(root, 'post-event', post))
    assert sum(summary['class_pixels'].values()) == 6 * 64 * 64
    assert list(summary['class_pixels']) == list(CLASSES)


def test_georeference_bands_and_offsets(dataset):
    root, _ = dataset
    origins = set()
    for name in os.listdir(osp.join(root, 'pre-event')):
        paths = dict(pre=osp.join(root, 'pre-event', name),
                     post=osp.join(root, 'post-event',
                                   name.replace('PS-RGB', 'SAR-Intensity')),
                     target=osp.join(root, 'target', name))
        opened = {k: rasterio.open(p) for k, p in paths.items()}
        try:
            for src in opened.values():
                assert src.crs.to_epsg() == 32631
                assert src.res == (0.5, 0.5)
                assert src.transform == opened['pre'].transform
            assert (opened['pre'].count, opened['pre'].dtypes[0]) == (3, 'uint8')
            assert (opened['post'].count, opened['post'].dtypes[0]) == (4, 'float32')
            assert (opened['target'].count, opened['target'].dtypes[0]) == (1, 'uint8')
            assert opened['target'].read(1).max() < len(CLASSES)
            origins.add((opened['pre'].transform.c, opened['pre'].transform.f))
        finally:
            for src in opened.values():
                src.close()
    assert len(origins) == 6


def test_same_seed_gives_identical_files(dataset, tmp_path):
    root, _ = dataset
    make_synthetic_delta_sn6(str(tmp_path / 'a'), num_tiles=6, tile_size=64, seed=0,
                             progress=False)
    make_synthetic_delta_sn6(str(tmp_path / 'b'), num_tiles=6, tile_size=64, seed=1,
                             progress=False)
    files = all_files(root)
    assert files == all_files(str(tmp_path / 'a'))
    match, mismatch, errors = filecmp.cmpfiles(root, str(tmp_path / 'a'), files,
                                               shallow=False)
    assert (mismatch, errors) == ([], [])
    images = [f for f in files if f.endswith('.tif') and not f.startswith('target')]
    _, mismatch, _ = filecmp.cmpfiles(root, str(tmp_path / 'b'), images, shallow=False)
    assert mismatch == images  # another seed, other images


def test_speckle_std_over_mean_is_one_over_sqrt_looks():
    tile = make_synthetic_tile(256, seed=1, index=0)
    homogeneous = ((tile.land_cover2 == GROUND) & tile.vegetation & ~sar_effects(tile))
    assert homogeneous.sum() > 5000
    intensity = sar_db_to_linear(tile.sar)[homogeneous]
    for band in (HH, HV, VV):
        ratio = intensity[:, band].std() / intensity[:, band].mean()
        assert ratio == pytest.approx(1 / np.sqrt(SAR_LOOKS), abs=0.03), SAR_BANDS[band]


def test_cross_pol_channels_agree_and_are_weaker(tiles):
    ground = [sar_db_to_linear(t.sar)[(t.land_cover2 == GROUND) & ~sar_effects(t)]
              for t in tiles]
    ground = np.concatenate(ground)
    assert np.corrcoef(ground[:, HV], ground[:, VH])[0, 1] > 0.95
    assert ground[:, HV].mean() < 0.3 * ground[:, HH].mean()


def test_water_is_dark_in_sar_and_optical(tiles):
    sar = [sar_db_to_linear(t.sar) for t in tiles]
    water = [(t.land_cover2 == WATER) & ~sar_effects(t) for t in tiles]
    ground = [(t.land_cover2 == GROUND) & ~sar_effects(t) for t in tiles]
    assert sum(w.sum() for w in water) > 500
    for band in (HH, VV):
        water_mean = np.concatenate([s[w, band] for s, w in zip(sar, water)]).mean()
        ground_mean = np.concatenate([s[g, band] for s, g in zip(sar, ground)]).mean()
        assert water_mean / ground_mean < 0.15  # below -8 dB

    def lit(cover):
        return lambda t: (t.land_cover1 == cover) & ~t.optical_shadow

    water_rgb = pixels(tiles, 'optical', lit(WATER)).astype(float)
    ground_rgb = pixels(tiles, 'optical', lit(GROUND)).astype(float)
    assert water_rgb.mean() < 0.6 * ground_rgb.mean()
    assert water_rgb[:, 2].mean() > water_rgb[:, 0].mean()  # bluish


def test_double_bounce_brighter_than_roof_and_hh_dominant(tiles):
    sar = np.concatenate([sar_db_to_linear(t.sar)[t.sar_double_bounce] for t in tiles])
    roof = np.concatenate([sar_db_to_linear(t.sar)[t.sar_roof] for t in tiles])
    assert len(sar) > 100 and len(roof) > 100
    assert sar[:, HH].mean() > 5 * roof[:, HH].mean()
    assert sar[:, HH].mean() > 1.5 * sar[:, VV].mean()  # dihedral: HH above VV


def test_shadows_are_dark(tiles):
    sar = np.concatenate([sar_db_to_linear(t.sar)[t.sar_shadow] for t in tiles])
    ground = np.concatenate([sar_db_to_linear(t.sar)[(t.land_cover2 == GROUND)
                                                     & ~sar_effects(t)] for t in tiles])
    assert sar[:, HH].mean() < 0.05 * ground[:, HH].mean()
    shadowed = pixels(tiles, 'optical', lambda t: (t.land_cover1 == GROUND) & t.optical_shadow)
    lit = pixels(tiles, 'optical', lambda t: (t.land_cover1 == GROUND) & ~t.optical_shadow)
    assert len(shadowed) > 100
    assert shadowed.mean() < 0.7 * lit.mean()


def test_every_changed_pixel_is_a_real_change(tiles):
    covers = {1: BUILDING, 2: ROAD, 3: WATER, 4: BUILDING, 5: ROAD, 6: WATER}
    for tile in tiles:
        lc1, lc2, target = tile.land_cover1, tile.land_cover2, tile.target
        np.testing.assert_array_equal(target, change_target(lc1, lc2))
        assert (lc1[target == 0] == lc2[target == 0]).all()
        for cls, cover in covers.items():
            hit = target == cls
            if cls <= 3:  # added: absent at date 1, present at date 2
                assert (lc1[hit] != cover).all() and (lc2[hit] == cover).all()
            else:  # disappeared: present at date 1, ground at date 2
                assert (lc1[hit] == cover).all() and (lc2[hit] == GROUND).all()
    seen = np.unique(np.concatenate([t.target.ravel() for t in tiles]))
    assert {1, 4}.issubset(seen.tolist())


def test_sar_shows_date2_buildings_only(tiles):
    """Added buildings have a double-bounce line, disappeared ones none."""
    for tile in tiles:
        assert not (tile.sar_double_bounce & (tile.target == 4)).any()
        assert (tile.land_cover2[tile.sar_double_bounce] == BUILDING).all()
    added = [t for t in tiles if (t.target == 1).any()]
    assert added and all((t.sar_double_bounce & (t.target == 1)).any() for t in added)


def test_split_sizes():
    assert split_sizes(24, (0.7, 0.15, 0.15)) == [17, 3, 4]
    assert split_sizes(3, (0.7, 0.15, 0.15)) == [1, 1, 1]
    assert split_sizes(5, (1, 0, 0)) == [5, 0, 0]
    with pytest.raises(ValueError, match='three non-negative'):
        split_sizes(5, (0.5, 0.5))


def test_nan_option():
    clean = make_synthetic_tile(64, seed=2, index=5)
    holey = make_synthetic_tile(64, seed=2, index=5, sar_nan_fraction=0.02)
    assert not np.isnan(clean.sar).any()
    nan = np.isnan(holey.sar)
    assert (nan.all(axis=-1) == nan.any(axis=-1)).all()
    assert 0.005 < nan[..., 0].mean() < 0.04
    np.testing.assert_array_equal(holey.sar[~nan], clean.sar[~nan])
    np.testing.assert_array_equal(holey.target, clean.target)


def test_nan_option_sets_nodata(tmp_path):
    make_synthetic_delta_sn6(str(tmp_path), num_tiles=1, tile_size=32, seed=0,
                             sar_nan_fraction=0.05, progress=False)
    (name, ) = os.listdir(tmp_path / 'post-event')
    with rasterio.open(tmp_path / 'post-event' / name) as src:
        assert np.isnan(src.nodata)
        assert np.isnan(src.read()).any()


def test_cli(tmp_path, capsys):
    path = osp.join(ROOT, 'tools', 'dataset_converters', 'make_synthetic_sn6.py')
    spec = importlib.util.spec_from_file_location('make_synthetic_sn6', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(tmp_path), '--num-tiles', '3', '--size', '32', '--seed', '4'])
    out = capsys.readouterr().out
    assert 'tiles/s' in out and 'train 1, val 1, test 1' in out
    assert len(os.listdir(tmp_path / 'post-event')) == 3
