"""Side-by-side panels of change detection samples.

A panel shows one sample at its original resolution: the date-1 image, the
date-2 image, the ground truth and the prediction on one row; semantic change
detection samples get a second row with the semantic maps of both dates. A
legend of the class colours sits below the tiles. Images are read from the
sample's ``img_path`` so that multi-band GeoTIFFs (uint16 optical, float SAR)
are shown with a display stretch instead of being cast to uint8.
"""
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import BaseDataElement, PixelData
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from mmcd_plugin.datasets.io import read_image, write_geotiff
from mmcd_plugin.registry import VISUALIZERS

IGNORE_INDEX = 255
IGNORE_COLOR = (128, 128, 128)
BORDER_COLOR = (160, 160, 160)
TEXT_COLOR = (0, 0, 0)
BACKGROUND = 255
FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_CELL_WIDTH = 192
# A non-negative band whose 98th percentile is at least this many times its
# 2nd percentile (10 dB) is taken as linear intensity rather than decibels.
LINEAR_MIN_RATIO = 10.
MODALITY_NAMES = dict(sar='SAR')

# (data sample key, tile title, whether it is ground truth)
CHANGE_KEYS = (('gt_sem_seg', 'ground truth', True), ('pred_sem_seg', 'prediction', False))
SEMANTIC_KEYS = (('gt_sem_seg_from', 'ground truth (from)', True),
                 ('gt_sem_seg_to', 'ground truth (to)', True),
                 ('pred_sem_seg_from', 'prediction (from)', False),
                 ('pred_sem_seg_to', 'prediction (to)', False))

LegendEntry = Tuple[str, Sequence[int]]
LegendGroup = Tuple[str, Sequence[LegendEntry]]
Tile = Tuple[str, np.ndarray]


def stretch_to_uint8(band: np.ndarray, valid: Optional[np.ndarray] = None,
                     low: float = 2., high: float = 98.) -> np.ndarray:
    """Map the ``[low, high]`` percentiles of a band linearly onto 0-255.

    Args:
        band (np.ndarray): ``(H, W)`` values of any dtype.
        valid (np.ndarray, optional): ``(H, W)`` bool mask of the pixels that
            define the percentiles and get a grey level; the others are 0
            (black). None means the finite pixels. Defaults to None.
        low (float): Percentile mapped to 0. Defaults to 2.
        high (float): Percentile mapped to 255. Defaults to 98.

    Returns:
        np.ndarray: ``(H, W)`` uint8 grey levels, values outside the
        percentile range clipped.
    """
    band = band.astype(np.float64)
    valid = np.isfinite(band) if valid is None else valid
    out = np.zeros(band.shape, np.uint8)
    if not valid.any():
        return out
    values = band[valid]
    lo, hi = np.percentile(values, (low, high))
    scaled = (values - lo) / max(hi - lo, np.finfo(np.float64).tiny) * 255
    out[valid] = np.clip(np.rint(scaled), 0, 255)
    return out


def looks_linear(values: np.ndarray) -> bool:
    """Whether SAR values look like linear intensity rather than decibels.

    Args:
        values (np.ndarray): Finite values of one band.

    Returns:
        bool: True when no value is negative and the positive values span at
        least ``LINEAR_MIN_RATIO`` between their 2nd and 98th percentiles.
    """
    positive = values[values > 0]
    if positive.size == 0 or values.min() < 0:
        return False
    lo, hi = np.percentile(positive, (2, 98))
    return bool(hi >= LINEAR_MIN_RATIO * lo)


def sar_to_grey(band: np.ndarray) -> np.ndarray:
    """Grey levels of a SAR band, stretched in decibels.

    Linear intensities (see :func:`looks_linear`) are converted with
    ``10 * log10``; non-positive linear values then count as missing. The dB
    values are stretched between their 2nd and 98th percentiles. NaN and Inf
    pixels are black.

    Args:
        band (np.ndarray): ``(H, W)`` SAR intensity, linear or in dB.

    Returns:
        np.ndarray: ``(H, W)`` uint8 grey levels.
    """
    band = band.astype(np.float64)
    valid = np.isfinite(band)
    if looks_linear(band[valid]):
        valid &= band > 0
        band = 10 * np.log10(np.where(valid, band, 1.))
    return stretch_to_uint8(band, valid)


def image_to_rgb(image: np.ndarray, modality: str = 'optical') -> np.ndarray:
    """Turn a raster of any band count and dtype into a displayable RGB tile.

    * SAR (``modality='sar'``) and single-band non-uint8 rasters: the first
      band as grey, see :func:`sar_to_grey`.
    * Other rasters: the first three bands (a grey tile from the first band
      when there are fewer than three); uint8 values are kept, other dtypes
      get a 2-98 percentile stretch per band. Pixels with a NaN/Inf in any
      shown band are black.

    Args:
        image (np.ndarray): ``(H, W, C)`` or ``(H, W)`` pixels.
        modality (str): Modality of the image, e.g. 'optical' or 'sar'.
            Defaults to 'optical'.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    if image.ndim == 2:
        image = image[..., None]
    if modality == 'sar' or (image.shape[2] == 1 and image.dtype != np.uint8):
        return np.repeat(sar_to_grey(image[..., 0])[..., None], 3, axis=2)
    bands = image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)
    if bands.dtype == np.uint8:
        return np.ascontiguousarray(bands)
    valid = np.isfinite(bands).all(axis=2)
    return np.stack([stretch_to_uint8(bands[..., i], valid) for i in range(3)], axis=2)


def colorize(label_map: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Colour a class map with a palette.

    Args:
        label_map (np.ndarray): ``(H, W)`` integer class indices.
        palette (Sequence[Sequence[int]]): RGB colour of each class index.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB. The ignore index 255 and values
        without a palette entry are grey.
    """
    lut = np.full((256, 3), IGNORE_COLOR, np.uint8)
    colors = np.asarray(palette, np.uint8).reshape(-1, 3)[:IGNORE_INDEX]
    lut[:len(colors)] = colors
    return lut[np.clip(label_map, 0, 255).astype(np.uint8)]


class PanelLayout(NamedTuple):
    """Geometry of a panel: a grid of cells, each a title strip above a tile.

    Tiles are centred horizontally in their cell; the legend goes below the
    grid, starting at ``grid_height``.
    """
    tile_hw: Tuple[int, int]
    num_rows: int
    num_cols: int
    cell_width: int
    title_height: int
    gap: int
    font_scale: float
    thickness: int

    def tile_origin(self, row: int, col: int) -> Tuple[int, int]:
        """``(y, x)`` of the top-left pixel of the tile in a grid cell."""
        tile_h, tile_w = self.tile_hw
        y = self.gap + row * (self.title_height + tile_h + self.gap) + self.title_height
        x = self.gap + col * (self.cell_width + self.gap) + (self.cell_width - tile_w) // 2
        return y, x

    @property
    def grid_height(self) -> int:
        return self.gap + self.num_rows * (self.title_height + self.tile_hw[0] + self.gap)

    @property
    def width(self) -> int:
        return self.gap + self.num_cols * (self.cell_width + self.gap)


def panel_layout(tile_hw: Tuple[int, int], num_rows: int, num_cols: int) -> PanelLayout:
    """Lay out a grid of tiles of one size, with text scaled to the tiles.

    Args:
        tile_hw (tuple[int, int]): Height and width of every tile.
        num_rows (int): Number of tile rows.
        num_cols (int): Number of tiles of the longest row.

    Returns:
        PanelLayout: cell width is the tile width, at least ``MIN_CELL_WIDTH``.
    """
    cell_width = max(int(tile_hw[1]), MIN_CELL_WIDTH)
    font_scale = float(np.clip(cell_width / 500, 0.45, 1.5))
    thickness = 1 if font_scale < 0.9 else 2
    (_, text_h), baseline = cv2.getTextSize('Ag', FONT, font_scale, thickness)
    pad = max(3, round(6 * font_scale))
    return PanelLayout((int(tile_hw[0]), int(tile_hw[1])), num_rows, num_cols, cell_width,
                       title_height=text_h + baseline + 2 * pad,
                       gap=max(6, round(12 * font_scale)), font_scale=font_scale,
                       thickness=thickness)


def draw_legend(groups: Sequence[LegendGroup], width: int, font_scale: float,
                thickness: int = 1, margin: int = 8) -> np.ndarray:
    """Draw headed groups of colour swatches with class names.

    Args:
        groups (Sequence[tuple[str, Sequence[tuple[str, Sequence[int]]]]]):
            ``(heading, [(name, rgb), ...])`` groups; each starts a new line
            and wraps to the width.
        width (int): Width of the legend image.
        font_scale (float): OpenCV font scale of the text.
        thickness (int): Stroke thickness of the text. Defaults to 1.
        margin (int): Left margin in pixels. Defaults to 8.

    Returns:
        np.ndarray: ``(H, width, 3)`` uint8 RGB on a white background.
    """
    (_, text_h), baseline = cv2.getTextSize('Ag', FONT, font_scale, thickness)
    swatch = text_h + baseline
    pad = max(3, round(8 * font_scale))
    line_height = swatch + pad
    items, y = [], -line_height
    for heading, entries in groups:
        x, y = margin, y + line_height
        items.append((x, y, f'{heading}:', None))
        x += cv2.getTextSize(f'{heading}:', FONT, font_scale, thickness)[0][0] + 2 * pad
        for name, color in entries:
            entry_w = swatch + pad + cv2.getTextSize(name, FONT, font_scale, thickness)[0][0]
            if x + entry_w > width - margin:
                x, y = margin, y + line_height
            items.append((x, y, name, color))
            x += entry_w + 3 * pad
    legend = np.full((y + line_height + pad, width, 3), BACKGROUND, np.uint8)
    for x, y, text, color in items:
        if color is not None:
            corner = (x + swatch - 1, y + swatch - 1)
            cv2.rectangle(legend, (x, y), corner, tuple(int(c) for c in color), -1)
            cv2.rectangle(legend, (x, y), corner, TEXT_COLOR, 1)
            x += swatch + pad
        cv2.putText(legend, text, (x, y + text_h), FONT, font_scale, TEXT_COLOR, thickness,
                    cv2.LINE_AA)
    return legend


def _put_title(canvas: np.ndarray, title: str, layout: PanelLayout, row: int,
               col: int) -> None:
    """Write a title centred in the strip above a tile, shrunk to fit."""
    scale, thickness = layout.font_scale, layout.thickness
    scale *= min(1., layout.cell_width / cv2.getTextSize(title, FONT, scale, thickness)[0][0])
    (text_w, _), baseline = cv2.getTextSize(title, FONT, scale, thickness)
    tile_y, _ = layout.tile_origin(row, col)
    cell_x = layout.gap + col * (layout.cell_width + layout.gap)
    origin = (cell_x + (layout.cell_width - text_w) // 2,
              tile_y - baseline - (layout.title_height - baseline) // 4)
    cv2.putText(canvas, title, origin, FONT, scale, TEXT_COLOR, thickness, cv2.LINE_AA)


def compose_panel(rows: Sequence[Sequence[Tile]],
                  legend: Sequence[LegendGroup] = ()) -> np.ndarray:
    """Arrange titled tiles of one size in a grid with a legend below.

    Args:
        rows (Sequence[Sequence[tuple[str, np.ndarray]]]): Rows of
            ``(title, (H, W, 3) uint8 RGB tile)``; all tiles share one size.
        legend (Sequence[tuple[str, Sequence]]): Legend groups, see
            :func:`draw_legend`; empty for no legend.
            Defaults to ().

    Returns:
        np.ndarray: The panel, uint8 RGB; its tile positions are given by
        ``panel_layout(tile_hw, len(rows), max(len(row) for row in rows))``.
    """
    tile_hw = rows[0][0][1].shape[:2]
    layout = panel_layout(tile_hw, len(rows), max(len(row) for row in rows))
    canvas = np.full((layout.grid_height, layout.width, 3), BACKGROUND, np.uint8)
    for r, row in enumerate(rows):
        for c, (title, tile) in enumerate(row):
            y, x = layout.tile_origin(r, c)
            cv2.rectangle(canvas, (x - 1, y - 1), (x + tile_hw[1], y + tile_hw[0]),
                          BORDER_COLOR, 1)
            canvas[y:y + tile_hw[0], x:x + tile_hw[1]] = tile
            _put_title(canvas, title, layout, r, c)
    if legend:
        canvas = np.concatenate(
            [canvas, draw_legend(legend, layout.width, layout.font_scale, layout.thickness,
                                 margin=layout.gap)])
    return canvas


def label_array(pixel_data: PixelData) -> np.ndarray:
    """``(H, W)`` numpy class map of a ``PixelData`` holding ``(1, H, W)``."""
    data = pixel_data.data
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    return np.asarray(data).reshape(data.shape[-2:])


def _legend_groups(drawn: Sequence[Tuple[str, Dict[str, np.ndarray], Optional[tuple]]]
                   ) -> List[LegendGroup]:
    """Legend groups of the class metas of the drawn maps.

    Args:
        drawn (Sequence[tuple[str, dict, tuple]]): ``(heading, maps,
            (classes, palette))`` triples, ``maps`` being the drawn
            ``{title: class map}``; those without maps are skipped, and so is
            a class meta already listed.

    Returns:
        list[tuple[str, list]]: ``(heading, [(name, rgb), ...])`` groups, the
        last one ending with an 'ignore' entry when a drawn map holds the
        ignore index.
    """
    groups = []
    for heading, maps, meta in drawn:
        entries = list(zip(*meta)) if maps else None
        if entries and all(entries != listed for _, listed in groups):
            groups.append((heading, entries))
    if any((labels == IGNORE_INDEX).any() for _, maps, _ in drawn for labels in maps.values()):
        groups[-1] = (groups[-1][0], groups[-1][1] + [('ignore', IGNORE_COLOR)])
    return groups


def _resize_to(tile: np.ndarray, tile_hw: Tuple[int, int]) -> np.ndarray:
    if tile.shape[:2] == tuple(tile_hw):
        return tile
    return cv2.resize(tile, (tile_hw[1], tile_hw[0]), interpolation=cv2.INTER_LINEAR)


@VISUALIZERS.register_module()
class ChangeLocalVisualizer(Visualizer):
    """Visualizer of bi-temporal change detection samples.

    :meth:`add_datasample` draws one panel per sample (see the module
    docstring) and, when writing to a file for a georeferenced date-1 image,
    also writes the predicted class maps as paletted GeoTIFFs on the image's
    grid. Class names and colours come from :attr:`dataset_meta` (``classes``
    and ``palette``; for semantic change detection also ``semantic_classes``
    and ``semantic_palette``, which fall back to the former when absent).

    It takes the arguments of :class:`mmengine.visualization.Visualizer`
    (``name``, ``vis_backends``, ``save_dir``...).

    Examples:
        >>> vis = ChangeLocalVisualizer()
        >>> vis.dataset_meta = dict(classes=('unchanged', 'changed'),
        ...                         palette=[[0, 0, 0], [255, 255, 255]])
        >>> vis.add_datasample('tile', data_sample=sample, out_file='tile.png')
    """

    def _class_meta(self, prefix: str = '') -> Tuple[List[str], List[List[int]]]:
        """Class names and palette, ``prefix`` selecting e.g. 'semantic_'.

        Keys with the prefix fall back to the plain ``classes``/``palette``;
        a missing palette is generated (class 0 black, others random).
        """
        meta = self.dataset_meta or {}
        classes, palette = (meta.get(key) if meta.get(prefix + key) is None
                            else meta[prefix + key] for key in ('classes', 'palette'))
        if classes is None or len(classes) == 0:
            raise ValueError('ChangeLocalVisualizer needs class names: set '
                             '`visualizer.dataset_meta = dict(classes=..., palette=...)` '
                             '(the runner does it from the dataset metainfo).')
        if palette is None or len(palette) == 0:
            rng = np.random.RandomState(0)
            palette = [[0, 0, 0]] + rng.randint(0, 256, (len(classes) - 1, 3)).tolist()
        return list(classes), np.asarray(palette, np.int64).reshape(-1, 3).tolist()

    @staticmethod
    def _read_dates(data_sample: BaseDataElement) -> Tuple[List[np.ndarray], dict]:
        """Read the images of all dates; return them with the date-1 geo dict."""
        paths = data_sample.img_path
        paths = [paths] if isinstance(paths, str) else list(paths)
        images, geos = zip(*(read_image(path) for path in paths))
        return list(images), geos[0]

    @master_only
    def add_datasample(self,
                       name: str,
                       image: Optional[Sequence[np.ndarray]] = None,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: bool = True) -> None:
        """Draw a sample's panel; show it, write it, or add it to the backends.

        - If ``show`` is True, the panel is displayed in a window.
        - If ``out_file`` is given, the panel is written there as PNG and,
          when the date-1 image has a CRS, the predictions are written next
          to it as ``{stem}_pred.tif`` (and ``{stem}_pred_from.tif``,
          ``{stem}_pred_to.tif`` for semantic change detection). Otherwise
          the panel is added to the vis backends.

        Args:
            name (str): Image identifier in the backends.
            image (Sequence[np.ndarray], optional): ``(H, W, C)`` image of
                each date; None reads them from ``data_sample.img_path``.
                Defaults to None.
            data_sample (:obj:`SegDataSample`, optional): The sample, with
                ``img_path`` and ``modalities`` metainfo and the GT and
                prediction maps to draw. Defaults to None.
            draw_gt (bool): Whether to draw the ground truth. Defaults to True.
            draw_pred (bool): Whether to draw the prediction. Defaults to True.
            show (bool): Whether to display the panel. Defaults to False.
            wait_time (float): Seconds to display it. Defaults to 0.
            out_file (str, optional): PNG file to write. Defaults to None.
            step (int): Global step for the backends. Defaults to 0.
            with_labels (bool): Whether to draw the legend. Defaults to True.
        """
        data_sample = BaseDataElement() if data_sample is None else data_sample
        if image is None:
            images, geo = self._read_dates(data_sample)
        else:
            images, geo = ([image] if isinstance(image, np.ndarray) else list(image)), {}
        change_maps = self._label_maps(data_sample, CHANGE_KEYS, draw_gt, draw_pred)
        sem_maps = self._label_maps(data_sample, SEMANTIC_KEYS, draw_gt, draw_pred)
        change_meta = self._class_meta() if change_maps else None
        sem_meta = self._class_meta('semantic_') if sem_maps else None

        tile_hw = next(iter({**change_maps, **sem_maps}.values()), images[0]).shape[:2]
        modalities = data_sample.metainfo.get('modalities') or ['optical'] * len(images)
        rows = [[(f'date {i + 1} ({MODALITY_NAMES.get(mod, mod)})',
                  _resize_to(image_to_rgb(img, mod), tile_hw))
                 for i, (img, mod) in enumerate(zip(images, modalities))]
                + self._label_tiles(change_maps, change_meta)]
        if sem_maps:
            rows.append(self._label_tiles(sem_maps, sem_meta))
        legend = _legend_groups([('change', change_maps, change_meta),
                                 ('semantic', sem_maps, sem_meta)]) if with_labels else ()
        panel = compose_panel(rows, legend)
        self.set_image(panel)

        if show:
            self.show(panel, win_name=name, wait_time=wait_time)
        if out_file is None:
            self.add_image(name, panel, step)
            return
        mkdir_or_exist(osp.dirname(osp.abspath(out_file)))
        cv2.imwrite(out_file, cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        crs = data_sample.metainfo.get('crs') or geo.get('crs')
        if crs is not None:
            transform = data_sample.metainfo.get('transform') or geo.get('transform')
            if draw_pred:
                self._write_predictions(data_sample, osp.splitext(out_file)[0], crs, transform)

    @staticmethod
    def _label_maps(data_sample: BaseDataElement, keys: Sequence[Tuple[str, str, bool]],
                    draw_gt: bool, draw_pred: bool) -> Dict[str, np.ndarray]:
        """``{title: (H, W) class map}`` of the drawn maps the sample holds."""
        return {title: label_array(data_sample.get(key))
                for key, title, is_gt in keys
                if key in data_sample and (draw_gt if is_gt else draw_pred)}

    @staticmethod
    def _label_tiles(maps: Dict[str, np.ndarray], class_meta: Optional[tuple]) -> List[Tile]:
        return [(title, colorize(labels, class_meta[1])) for title, labels in maps.items()]

    def _write_predictions(self, data_sample: BaseDataElement, stem: str, crs: str,
                           transform: Optional[Sequence[float]]) -> None:
        """Write each prediction map as a paletted uint8 GeoTIFF on the date-1 grid."""
        for key, suffix, prefix in (('pred_sem_seg', '_pred', ''),
                                    ('pred_sem_seg_from', '_pred_from', 'semantic_'),
                                    ('pred_sem_seg_to', '_pred_to', 'semantic_')):
            if key in data_sample:
                labels = np.clip(label_array(data_sample.get(key)), 0, 255).astype(np.uint8)
                palette = [tuple(int(v) for v in c) for c in self._class_meta(prefix)[1]]
                write_geotiff(f'{stem}{suffix}.tif', labels, crs, transform, palette=palette)
