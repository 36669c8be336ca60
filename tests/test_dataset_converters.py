"""RGB-coded label conversion (SECOND, Landsat-SCD) and its command-line tools."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest

from mmcd_plugin.datasets.label_conversion import (LANDSAT_SCD_PALETTE, SECOND_PALETTE,
                                                   LabelConversionError,
                                                   convert_dataset_labels, rgb_to_index)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WHITE, BLUE, GREY, DARK_GREEN = (255, 255, 255), (0, 0, 255), (128, 128, 128), (0, 128, 0)
GREEN, MAROON, RED = (0, 255, 0), (128, 0, 0), (255, 0, 0)
# A hand-made SECOND label (RGB) and the class indices it must give.
SECOND_RGB = np.array([[WHITE, BLUE, GREY, DARK_GREEN],
                       [GREEN, MAROON, RED, WHITE],
                       [RED, RED, BLUE, WHITE]], np.uint8)
SECOND_INDEX = np.array([[0, 1, 2, 3], [4, 5, 6, 0], [6, 6, 1, 0]], np.uint8)
FARMLAND, DESERT, BUILDING, WATER = (0, 155, 0), (255, 165, 0), (230, 30, 100), (0, 170, 240)
LANDSAT_RGB = np.array([[WHITE, FARMLAND, DESERT], [BUILDING, WATER, WHITE]], np.uint8)
LANDSAT_INDEX = np.array([[0, 1, 2], [3, 4, 0]], np.uint8)


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'dataset_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'converter_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_rgb(path, rgb):
    """Write an RGB array as a PNG (OpenCV stores BGR, hence the flip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def read_index(path):
    index = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert index is not None and index.ndim == 2 and index.dtype == np.uint8
    return index


@pytest.fixture
def second_root(tmp_path):
    for split in ('train', 'val'):
        write_rgb(tmp_path / split / 'label1' / 'a.png', SECOND_RGB)
        write_rgb(tmp_path / split / 'label2' / 'a.png', SECOND_RGB[::-1])
    return tmp_path


def test_rgb_to_index_exact():
    np.testing.assert_array_equal(rgb_to_index(SECOND_RGB, SECOND_PALETTE), SECOND_INDEX)
    np.testing.assert_array_equal(rgb_to_index(LANDSAT_RGB, LANDSAT_SCD_PALETTE),
                                  LANDSAT_INDEX)


def test_unknown_colours_are_listed_with_counts():
    rgb = SECOND_RGB.copy()
    rgb[0, :2] = (1, 2, 3)
    rgb[2, 0] = (9, 9, 9)
    with pytest.raises(LabelConversionError) as err:
        rgb_to_index(rgb, SECOND_PALETTE, name='x/label.png')
    message = str(err.value)
    assert message.startswith('x/label.png: 2 colour(s) not in the palette')
    assert '(1, 2, 3) x 2 px' in message and '(9, 9, 9) x 1 px' in message


def test_bgr_and_index_hints():
    with pytest.raises(LabelConversionError, match='red and blue swapped'):
        rgb_to_index(SECOND_RGB[..., ::-1], SECOND_PALETTE)
    grey_indices = np.repeat(SECOND_INDEX[..., None], 3, axis=2)
    with pytest.raises(LabelConversionError, match='already converted'):
        rgb_to_index(grey_indices, SECOND_PALETTE)


def test_second_tool_writes_index_folders(second_root):
    original = (second_root / 'train' / 'label1' / 'a.png').read_bytes()
    load_tool('second').main([str(second_root)])
    for split in ('train', 'val'):
        np.testing.assert_array_equal(
            read_index(second_root / split / 'label1_index' / 'a.png'), SECOND_INDEX)
        np.testing.assert_array_equal(
            read_index(second_root / split / 'label2_index' / 'a.png'), SECOND_INDEX[::-1])
    assert (second_root / 'train' / 'label1' / 'a.png').read_bytes() == original


def test_second_tool_out_dir_and_processes(second_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('converted')
    load_tool('second').main([str(second_root), '--out-dir', str(out), '--nproc', '2'])
    np.testing.assert_array_equal(read_index(out / 'val' / 'label2_index' / 'a.png'),
                                  SECOND_INDEX[::-1])
    assert not (second_root / 'train' / 'label1_index').exists()


def test_landsat_scd_tool(tmp_path):
    write_rgb(tmp_path / 'labelA' / 't1.png', LANDSAT_RGB)
    write_rgb(tmp_path / 'labelB' / 't1.png', LANDSAT_RGB[:, ::-1])
    load_tool('landsat_scd').main([str(tmp_path)])
    np.testing.assert_array_equal(read_index(tmp_path / 'labelA_index' / 't1.png'),
                                  LANDSAT_INDEX)
    np.testing.assert_array_equal(read_index(tmp_path / 'labelB_index' / 't1.png'),
                                  LANDSAT_INDEX[:, ::-1])


def test_unknown_colour_error_names_the_file(second_root):
    bad = SECOND_RGB.copy()
    bad[1, 1] = (17, 34, 51)
    write_rgb(second_root / 'val' / 'label2' / 'b.png', bad)
    with pytest.raises(LabelConversionError) as err:
        load_tool('second').main([str(second_root)])
    assert osp.join('val', 'label2', 'b.png') in str(err.value)
    assert '(17, 34, 51) x 1 px' in str(err.value)


def test_single_channel_labels_are_reported(tmp_path):
    (tmp_path / 'labelA').mkdir()
    assert cv2.imwrite(str(tmp_path / 'labelA' / 'done.png'), LANDSAT_INDEX)
    write_rgb(tmp_path / 'labelB' / 'done.png', LANDSAT_RGB)
    with pytest.raises(LabelConversionError) as err:
        load_tool('landsat_scd').main([str(tmp_path)])
    message = str(err.value)
    assert osp.join('labelA', 'done.png') in message
    assert 'single-channel (values 0, 1, 2, 3, 4)' in message
    assert 'already holds class indices' in message


def test_refuses_to_overwrite_the_originals(second_root):
    with pytest.raises(LabelConversionError, match='overwrite the original labels'):
        convert_dataset_labels(str(second_root), ['train/label1'], SECOND_PALETTE, suffix='')


def test_missing_layout_is_reported(tmp_path):
    with pytest.raises(LabelConversionError, match='is it the SECOND root'):
        load_tool('second').main([str(tmp_path)])
    with pytest.raises(LabelConversionError, match='labelA not found'):
        load_tool('landsat_scd').main([str(tmp_path)])
