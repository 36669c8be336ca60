"""S2M text from change masks (§3.1): directions (Eq. 1-2), quantities (Eq. 3),
Table 1 templates, Table 5 switches, the pipeline step and the JSON export,
against hand-derived sentences, including real LEVIR-CD tiles."""
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from mmengine.dataset.utils import worker_init_fn

import mmcd_plugin  # noqa: F401
from mmcd_plugin.datasets.change_text import (PAPER_TILE_AREA, ChangeQuadruple,
                                              all_template_texts, change_quadruples,
                                              change_quantity, grid_direction,
                                              render_change_text, singular_noun)
from mmcd_plugin.datasets.transforms import LoadChangeAnnotations
from mmcd_plugin.registry import TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))
import generate_change_text  # noqa: E402

NINE = {(0, 0): 'northwest', (0, 1): 'north', (0, 2): 'northeast',
        (1, 0): 'west', (1, 1): 'center', (1, 2): 'east',
        (2, 0): 'southwest', (2, 1): 'south', (2, 2): 'southeast'}


def block_label(shape, rows, cols, value=1):
    label = np.zeros(shape, np.uint8)
    label[rows[0]:rows[1], cols[0]:cols[1]] = value
    return label


def quadruple(how_many='a single', where='northeast'):
    return ChangeQuadruple(where=where, what='buildings', how='newly built',
                           how_many=how_many, class_index=1, num_pixels=1,
                           centroid=(0.0, 0.0), what_singular='building')


@pytest.mark.parametrize('cell', sorted(NINE))
def test_nine_directions_from_block_centroids(cell):
    # 90 x 90 grid of 30-pixel thirds; a 10 x 10 block in the middle of cell
    # (r, c) has centroid (15 + 30c, 15 + 30r) in pixel-centre coordinates.
    r, c = cell
    label = block_label((90, 90), (10 + 30 * r, 20 + 30 * r), (10 + 30 * c, 20 + 30 * c))
    [q] = change_quadruples(label, 'levir_cd')
    assert q.centroid == (15.0 + 30 * c, 15.0 + 30 * r)
    assert q.where == NINE[cell]
    assert q.num_pixels == 100 and q.how_many == 'a single'


def test_direction_thresholds_and_pixel_centres():
    # Rows 29 and 30 of a 90-row image: cy = (29.5 + 30.5) / 2 = 30 = H/3 -> center (Eq. 2 <=).
    assert change_quadruples(block_label((90, 90), (29, 31), (40, 41)), 'levir_cd')[0].where \
        == 'center'
    # Row 29 alone: cy = 29.5 < 30 -> north.
    assert change_quadruples(block_label((90, 90), (29, 30), (40, 41)), 'levir_cd')[0].where \
        == 'north'
    # Non-square: H = 30, W = 90, pixel (row 5, col 80) -> (80.5, 5.5): east third, north third.
    assert grid_direction(80.5, 5.5, 30, 90) == 'northeast'
    assert grid_direction(59.99, 19.99, 30, 90) == 'center'
    assert grid_direction(60.0, 20.0, 30, 90) == 'southeast'


@pytest.mark.parametrize('area,expected', [
    (1, 'a single'), (799, 'a single'), (800, 'a few'), (3999, 'a few'), (4000, 'several'),
    (7999, 'several'), (8000, 'multiple'), (20000, 'multiple')])
def test_quantity_thresholds_of_eq3(area, expected):
    assert change_quantity(area) == expected
    label = np.zeros(200 * 200, np.uint8)
    label[:area] = 1
    [q] = change_quadruples(label.reshape(200, 200), 'levir_cd')
    assert (q.num_pixels, q.how_many) == (area, expected)


def test_quantity_thresholds_scaled_to_tile_area():
    # 256^2 tile vs the paper's 512^2: thresholds become 200 / 1000 / 2000.
    def on_256(n):
        return change_quantity(n, tile_area=256 * 256, reference_area=PAPER_TILE_AREA)
    assert [on_256(n) for n in (199, 200, 999, 1000, 1999, 2000)] == \
        ['a single', 'a few', 'a few', 'several', 'several', 'multiple']
    assert change_quantity(50, thresholds=(10, 20, 40)) == 'multiple'
    with pytest.raises(ValueError, match='increasing'):
        change_quantity(5, thresholds=(800, 400, 8000))


def test_five_templates_with_is_are_agreement():
    assert all_template_texts([quadruple('a single')]) == [
        'The scene shows a single newly built building in the northeast.',
        'Observing a single newly built building towards the northeast.',
        'A single newly built building located in the northeast.',
        'In the northeast, a single newly built building is visible.',
        'There is a single newly built building in the northeast region.']
    assert all_template_texts([quadruple('several')]) == [
        'The scene shows several newly built buildings in the northeast.',
        'Observing several newly built buildings towards the northeast.',
        'Several newly built buildings located in the northeast.',
        'In the northeast, several newly built buildings are visible.',
        'There are several newly built buildings in the northeast region.']


def test_center_uses_the_neutral_variant_for_every_template():
    assert set(all_template_texts([quadruple('a few', 'center')])) == {
        'The scene shows a few newly built buildings in the center.'}


@pytest.mark.parametrize('attributes,template,expected', [
    (('type', 'category'), 3, 'In the scene, newly built buildings are visible.'),
    (('quantity', 'location'), 3, 'In the northeast, a single object is visible.'),
    (('category', 'location'), 3, 'In the northeast, buildings are visible.'),
    (('quantity', 'type', 'category'), 3, 'In the scene, a single newly built building is '
     'visible.'),
    (('type', ), 4, 'There are newly built objects in the scene.'),
    (('location', ), 0, 'The scene shows objects in the northeast.'),
    (('quantity', 'type', 'category'), 2, 'A single newly built building located in the '
     'scene.'),
])
def test_attribute_switches_of_table5(attributes, template, expected):
    assert render_change_text([quadruple()], template_index=template,
                              attributes=attributes) == expected


def test_attribute_switch_errors_and_no_change_text():
    with pytest.raises(ValueError, match='subset'):
        render_change_text([quadruple()], template_index=0, attributes=())
    with pytest.raises(ValueError, match='subset'):
        render_change_text([quadruple()], template_index=0, attributes=('colour', ))
    rng = np.random.default_rng(0)
    assert render_change_text([], rng=rng) == 'There is no change in the scene.'
    assert change_quadruples(np.zeros((8, 8), np.uint8), 'levir_cd') == []
    # Ignored pixels are not change.
    assert change_quadruples(np.full((8, 8), 255, np.uint8), 'levir_cd') == []


def test_multi_class_one_quadruple_per_class_in_label_order():
    label = np.zeros((90, 90), np.uint8)
    label[60:90, 60:90] = 5             # destroyed greenhouses: 900 px, centroid (75, 75)
    label[0:5, 0:5] = 1                 # destroyed buildings: 25 px, centroid (2.5, 2.5)
    label[40:50, 40:50] = 255           # ignored
    quads = change_quadruples(label, 'gaza_change_example')
    assert [(q.class_index, q.where, q.how_many, q.num_pixels) for q in quads] == \
        [(1, 'northwest', 'a single', 25), (5, 'southeast', 'a few', 900)]
    assert render_change_text(quads, template_index=4) == (
        'There is a single destroyed building in the northwest region. '
        'There are a few destroyed greenhouses in the southeast region.')
    with pytest.raises(ValueError, match=r'\[9\] are not in the class table'):
        change_quadruples(np.full((4, 4), 9, np.uint8), 'gaza_change_example')
    assert singular_noun('water bodies') == 'water body'
    assert singular_noun('agricultural land') == 'agricultural land'


def change_sample(label, idx=0, **extra):
    img = np.zeros(label.shape + (3, ), np.uint8)
    return dict(img=[img, img.copy()], gt_seg_map=label, seg_fields=['gt_seg_map'],
                img_shape=label.shape, sample_idx=idx, **extra)


def test_transform_output_packing_and_temporal_exchange():
    step = TRANSFORMS.build(dict(type='GenerateChangeText', seed=0))
    label = block_label((90, 90), (0, 30), (60, 90))          # 900 px, northeast
    results = step(change_sample(label))
    assert [q.where for q in results['change_quadruples']] == ['northeast']
    assert results['change_text'] in all_template_texts(results['change_quadruples'])
    assert 'a few newly built buildings' in results['change_text']
    packed = TRANSFORMS.build(dict(type='PackChangeInputs'))(results)
    assert packed['data_samples'].metainfo['change_text'] == results['change_text']
    swapped = step(change_sample(label, temporal_exchange=True))
    assert 'a few demolished buildings' in swapped['change_text']
    with pytest.raises(KeyError, match='LoadChangeAnnotations'):
        step(dict(img=[]))
    with pytest.raises(KeyError, match='sample_idx'):
        step(dict(gt_seg_map=label))


def test_template_choice_is_reproducible_under_seeds():
    label = block_label((90, 90), (0, 30), (60, 90))
    global_step = TRANSFORMS.build(dict(type='GenerateChangeText'))

    def texts(step, order=range(40)):
        return [step(change_sample(label, i))['change_text'] for i in order]

    # seed=None follows numpy's global state, which mmengine seeds per worker.
    worker_init_fn(1, num_workers=2, rank=0, seed=42)
    first = texts(global_step)
    worker_init_fn(1, num_workers=2, rank=0, seed=42)
    assert texts(global_step) == first
    assert len(set(first)) == 5           # every template is drawn
    worker_init_fn(0, num_workers=2, rank=0, seed=42)
    assert texts(global_step) != first
    # seed=int: one fixed template per sample index, whatever the global state or order.
    fixed = TRANSFORMS.build(dict(type='GenerateChangeText', seed=7))
    np.random.seed(0)
    forward = texts(fixed)
    np.random.seed(1)
    assert texts(fixed, order=range(39, -1, -1))[::-1] == forward
    assert len(set(forward)) == 5
    assert texts(TRANSFORMS.build(dict(type='GenerateChangeText', seed=8))) != forward


@pytest.mark.parametrize('direction,mapping', [
    ('horizontal', {'east': 'west', 'west': 'east'}),
    ('vertical', {'north': 'south', 'south': 'north'})])
def test_text_follows_a_flipped_mask(direction, mapping):
    flip = TRANSFORMS.build(dict(type='PairedRandomFlip', prob=1.0, directions=(direction, )))
    step = TRANSFORMS.build(dict(type='GenerateChangeText', seed=0))
    for (r, c), name in NINE.items():
        label = block_label((90, 90), (10 + 30 * r, 20 + 30 * r), (10 + 30 * c, 25 + 30 * c))
        flipped = step(flip(change_sample(label)))['change_quadruples'][0].where
        expected = name
        for old, new in mapping.items():
            if old in name:
                expected = name.replace(old, new)
        assert flipped == expected, (name, direction)


def write_png(path, image):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, image)


def make_tiles(root, labels):
    for name, label in labels.items():
        image = np.zeros(label.shape + (3, ), np.uint8)
        for folder, array in (('A', image), ('B', image), ('label', label)):
            write_png(osp.join(root, folder, f'{name}.png'), array)


def test_cli_end_to_end_on_a_binary_dataset(tmp_path, capsys):
    root, out = str(tmp_path / 'levir'), str(tmp_path / 'out' / 'text.json')
    make_tiles(root, {'0': block_label((64, 64), (0, 10), (50, 60), 255),
                      '1': np.zeros((64, 64), np.uint8)})
    generate_change_text.main(['--data-root', root, '--dataset-type', 'LEVIRCDDataset',
                               '--class-table', 'levir_cd', '--out', out])
    assert f'2 tiles described in {out}' in capsys.readouterr().out
    result = json.load(open(out))
    assert result['meta']['binary'] is True
    tile = result['tiles']['label/0.png']
    assert tile['quadruples'][0]['centroid'] == [55.0, 5.0]
    assert (tile['quadruples'][0]['num_pixels'], tile['quadruples'][0]['where']) == \
        (100, 'northeast')
    assert tile['sentences'][0] == 'The scene shows a single newly built building in the ' \
        'northeast.'
    assert result['tiles']['label/1.png']['sentences'] == \
        ['There is no change in the scene.'] * 5


def test_cli_reads_text_settings_from_a_config_and_reports_bad_paths(tmp_path):
    root, out = str(tmp_path / 'gaza'), str(tmp_path / 'text.json')
    make_tiles(root, {'a': block_label((60, 60), (40, 60), (20, 40), 2)})
    config = tmp_path / 'gaza.py'
    config.write_text(
        'classes = ("no change",) + tuple(f"class {i}" for i in range(1, 7))\n'
        f'train_dataloader = dict(dataset=dict(type="MultiClassCDDataset", data_root="{root}",'
        ' metainfo=dict(classes=classes), pipeline=[dict(type="LoadChangeAnnotations"),'
        ' dict(type="GenerateChangeText", class_table="gaza_change_example",'
        ' attributes=("type", "category", "location"), seed=3)]))\n')
    generate_change_text.main([str(config), '--out', out])
    tile = json.load(open(out))['tiles']['label/a.png']
    assert tile['sentences'][0] == 'The scene shows damaged buildings in the south.'
    with pytest.raises(SystemExit):
        generate_change_text.main([str(tmp_path / 'missing.py'), '--out', out])
    with pytest.raises(SystemExit):
        generate_change_text.main(['--data-root', str(tmp_path / 'nope'), '--out', out])
    with pytest.raises(SystemExit):
        generate_change_text.main(['--out', out])
    with pytest.raises(KeyError, match='No class table'):
        generate_change_text.main(['--data-root', root, '--out', out])
    with pytest.raises(FileNotFoundError, match='image folder'):
        generate_change_text.main(['--data-root', str(tmp_path), '--class-table', 'levir_cd',
                                   '--out', out])


def independent_stats(label):
    """N and the centroid (pixel centres) by weighted sums over np.indices."""
    changed = (label == 1).astype(np.float64)
    rows, cols = np.indices(label.shape)
    n = changed.sum()
    return int(n), ((cols + 0.5) * changed).sum() / n, ((rows + 0.5) * changed).sum() / n


def test_real_levir_cd_tiles(shared_data, tmp_path):
    root = shared_data('levir_cd_samples')
    loader = LoadChangeAnnotations(binary=True)

    def tile(name):
        path = osp.join(root, 'label', name + '.png')
        return loader.transform(dict(seg_map_path=path, seg_fields=[], num_classes=2))[
            'gt_seg_map']

    # train_412_0512_0768: N = 7556, centroid (184.18, 80.10), checked with a
    # separate PNG decoder. 256 / 3 = 85.33: cx >= 170.67 -> east, cy < 85.33 ->
    # north; 4000 <= 7556 < 8000 -> several.
    label = tile('train_412_0512_0768')
    n, cx, cy = independent_stats(label)
    assert n == 7556 and cx == pytest.approx(184.1832, abs=1e-3) \
        and cy == pytest.approx(80.1028, abs=1e-3)
    quads = change_quadruples(label, 'levir_cd')
    assert quads[0].centroid == pytest.approx((cx, cy))
    assert render_change_text(quads, template_index=0) == \
        'The scene shows several newly built buildings in the northeast.'
    assert render_change_text(quads, template_index=3) == \
        'In the northeast, several newly built buildings are visible.'
    assert change_quadruples(label, 'levir_cd', reference_area=PAPER_TILE_AREA)[0].how_many \
        == 'multiple'                 # scaled thresholds 200 / 1000 / 2000
    # test_102_0512_0000: N = 13553, centroid (176.53, 87.17): east, multiple.
    n, cx, cy = independent_stats(tile('test_102_0512_0000'))
    assert n == 13553 and cx >= 256 * 2 / 3 and 256 / 3 <= cy < 256 * 2 / 3
    assert render_change_text(change_quadruples(tile('test_102_0512_0000'), 'levir_cd'),
                              template_index=4) == \
        'There are multiple newly built buildings in the east region.'
    # test_2_0000_0000: centroid (135.52, 140.46) -> center, neutral variant.
    assert set(all_template_texts(change_quadruples(tile('test_2_0000_0000'), 'levir_cd'))) \
        == {'The scene shows multiple newly built buildings in the center.'}
    assert change_quadruples(tile('train_386_0512_0768'), 'levir_cd') == []
    out = str(tmp_path / 'levir.json')
    generate_change_text.main(['--data-root', root, '--dataset-type', 'LEVIRCDDataset',
                               '--class-table', 'levir_cd', '--out', out])
    tiles = json.load(open(out))['tiles']
    assert len(tiles) == 11
    assert tiles['label/train_412_0512_0768.png']['sentences'][0] == \
        'The scene shows several newly built buildings in the northeast.'
