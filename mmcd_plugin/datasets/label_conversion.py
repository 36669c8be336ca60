"""Converting RGB-coded semantic labels into single-channel class-index maps.

SECOND and Landsat-SCD publish their semantic labels as RGB PNGs, one colour
per class, while mmseg reads class indices. The labels are converted once into
a separate folder (the originals are never touched) by
``tools/dataset_converters/second.py`` and ``landsat_scd.py``, two thin front
ends of :func:`convert_dataset_labels`.
"""
import os
import os.path as osp
from functools import partial
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .io import read_image

SECOND_PALETTE = ((255, 255, 255), (0, 0, 255), (128, 128, 128), (0, 128, 0),
                  (0, 255, 0), (128, 0, 0), (255, 0, 0))
LANDSAT_SCD_PALETTE = ((255, 255, 255), (0, 155, 0), (255, 165, 0), (230, 30, 100),
                       (0, 170, 240))
MAX_LISTED_COLOURS = 10


class LabelConversionError(ValueError):
    """A label file cannot be converted with the given palette."""


def _colour_codes(rgb: np.ndarray) -> np.ndarray:
    """One int per pixel: ``(r << 16) | (g << 8) | b``."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unknown_colours_message(name: str, colours: np.ndarray, counts: np.ndarray,
                             palette: Sequence[Sequence[int]]) -> str:
    order = np.argsort(-counts, kind='stable')
    rgb = [((c >> 16) & 255, (c >> 8) & 255, c & 255) for c in colours[order].tolist()]
    listed = ', '.join(f'{c} x {n} px' for c, n in
                       zip(rgb[:MAX_LISTED_COLOURS], counts[order].tolist()))
    more = len(rgb) - MAX_LISTED_COLOURS
    message = (f'{name}: {len(rgb)} colour(s) not in the palette: {listed}'
               f'{f", and {more} more" if more > 0 else ""}. '
               f'Palette (class index = position): {[tuple(p) for p in palette]}.')
    known = {tuple(p) for p in palette}
    if all(r == g == b < len(palette) for r, g, b in rgb):
        message += (' The values look like class indices saved as a 3-channel image: '
                    'the label is already converted.')
    elif all((b, g, r) in known for r, g, b in rgb):
        message += (' The colours match the palette with red and blue swapped: the file '
                    'was written in BGR order.')
    return message


def rgb_to_index(rgb: np.ndarray, palette: Sequence[Sequence[int]],
                 name: str = 'label') -> np.ndarray:
    """Map every pixel's RGB colour to its class index.

    Args:
        rgb (np.ndarray): ``(H, W, 3)`` label image in RGB order.
        palette (Sequence[Sequence[int]]): RGB colour of each class, the class
            index being the position in the sequence.
        name (str): What to call the label in error messages, e.g. its file
            path. Defaults to 'label'.

    Returns:
        np.ndarray: ``(H, W)`` uint8 class indices.

    Raises:
        LabelConversionError: naming ``name`` when the image is not 3-channel
            or holds colours that are not in ``palette`` (listed with their
            pixel counts).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise LabelConversionError(f'{name}: expected an (H, W, 3) RGB label, got shape '
                                   f'{rgb.shape}.')
    colours, inverse, counts = np.unique(_colour_codes(rgb), return_inverse=True,
                                         return_counts=True)
    index_of = {code: i for i, code in enumerate(_colour_codes(np.array([palette])).ravel()
                                                 .tolist())}
    indices = np.array([index_of.get(code, -1) for code in colours.tolist()], np.int64)
    if (indices < 0).any():
        unknown = indices < 0
        raise LabelConversionError(
            _unknown_colours_message(name, colours[unknown], counts[unknown], palette))
    return indices[inverse.reshape(rgb.shape[:2])].astype(np.uint8)


def read_rgb_label(path: str) -> np.ndarray:
    """Read an RGB-coded label as ``(H, W, 3)`` uint8 RGB (an alpha band is dropped).

    Raises:
        LabelConversionError: when the file is single-channel (already class
            indices, or not an RGB-coded label) or not 8-bit.
    """
    array, _ = read_image(path)
    if array.shape[2] == 1:
        values = np.unique(array).tolist()
        shown = ', '.join(map(str, values[:MAX_LISTED_COLOURS]))
        if len(values) > MAX_LISTED_COLOURS:
            shown += ', ...'
        raise LabelConversionError(
            f'{path} is single-channel (values {shown}): it already holds class indices, '
            'or is not an RGB-coded label. Nothing to convert: point the dataset config at '
            'this folder, or convert the original RGB labels.')
    if array.dtype != np.uint8 or array.shape[2] not in (3, 4):
        raise LabelConversionError(f'{path}: expected an 8-bit RGB(A) label, got '
                                   f'{array.shape[2]} {array.dtype} band(s).')
    return array[..., :3]


def convert_label_file(task: Tuple[str, str], palette: Sequence[Sequence[int]]) -> None:
    """Convert one RGB label file into a single-channel class-index PNG.

    Args:
        task (tuple[str, str]): Source RGB label and destination PNG paths.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
    """
    src, dst = task
    index = rgb_to_index(read_rgb_label(src), palette, name=src)
    if not cv2.imwrite(dst, index):
        raise IOError(f'Cannot write {dst}.')


def label_folder_pairs(root: str, label_dirs: Sequence[str], out_dir: Optional[str] = None,
                       suffix: str = '_index') -> List[Tuple[str, str]]:
    """Source and destination folder of each label folder.

    Args:
        root (str): Dataset root.
        label_dirs (Sequence[str]): Label folders relative to ``root``, e.g.
            ``'train/label1'``.
        out_dir (str, optional): Root of the output, which then mirrors the
            relative folders; None writes next to each source folder.
            Defaults to None.
        suffix (str): Appended to each output folder name. Defaults to '_index'.

    Returns:
        list[tuple[str, str]]: ``(source folder, output folder)`` pairs.

    Raises:
        LabelConversionError: when an output folder is its source folder.
    """
    pairs = []
    for rel in label_dirs:
        src = osp.join(root, rel)
        dst = osp.join(out_dir if out_dir is not None else root, rel.rstrip('/\\') + suffix)
        if osp.realpath(src) == osp.realpath(dst):
            raise LabelConversionError(
                f'The output folder {dst} is the source folder: converting would overwrite '
                'the original labels. Give another --out-dir or a non-empty --suffix.')
        pairs.append((src, dst))
    return pairs


def convert_dataset_labels(root: str, label_dirs: Sequence[str],
                           palette: Sequence[Sequence[int]], out_dir: Optional[str] = None,
                           suffix: str = '_index', nproc: int = 1,
                           ext: str = '.png') -> List[str]:
    """Convert every RGB label of a dataset into class-index PNGs.

    Args:
        root (str): Dataset root.
        label_dirs (Sequence[str]): Label folders relative to ``root``.
        palette (Sequence[Sequence[int]]): RGB colour of each class.
        out_dir (str, optional): Output root mirroring ``label_dirs``; None
            writes next to the sources. Defaults to None.
        suffix (str): Appended to each output folder name. Defaults to '_index'.
        nproc (int): Worker processes. Defaults to 1.
        ext (str): Extension of the label files. Defaults to '.png'.

    Returns:
        list[str]: The output folders.
    """
    from mmengine.utils import track_parallel_progress, track_progress

    tasks = []
    pairs = label_folder_pairs(root, label_dirs, out_dir, suffix)
    for src_dir, dst_dir in pairs:
        if not osp.isdir(src_dir):
            raise LabelConversionError(f'Label folder {src_dir} not found.')
        names = sorted(n for n in os.listdir(src_dir) if n.lower().endswith(ext))
        if not names:
            raise LabelConversionError(f'No *{ext} labels in {src_dir}.')
        os.makedirs(dst_dir, exist_ok=True)
        tasks += [(osp.join(src_dir, n), osp.join(dst_dir, osp.splitext(n)[0] + '.png'))
                  for n in names]
    convert = partial(convert_label_file, palette=palette)
    if nproc > 1:
        track_parallel_progress(convert, tasks, nproc)
    else:
        track_progress(convert, tasks)
    return [dst for _, dst in pairs]
