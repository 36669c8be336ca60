"""Synthetic optical + SAR bi-temporal change-detection tiles (Delta-SN6 layout).

Each tile is a small scene (ground, buildings, roads, water) drawn at two
dates. Date 1 is rendered as an optical image, date 2 as a quad-polarisation
SAR image, and every change between the dates is labelled with the Delta-SN6
classes. Everything is deterministic from ``(seed, tile index)``, so the same
seed gives byte-identical files.

Layout written by :func:`make_synthetic_delta_sn6` (``<n>`` is the tile index,
``<t1>_<t2>`` the start and end time of the tile's acquisition strip)::

    out_dir/
        pre-event/SN6_Train_AOI_11_Rotterdam_PS-RGB_<t1>_<t2>_tile_<n>.tif
            optical, date 1: uint8, 3 bands R, G, B
        post-event/SN6_Train_AOI_11_Rotterdam_SAR-Intensity_<t1>_<t2>_tile_<n>.tif
            SAR, date 2: float32, 4 bands HH, HV, VH, VV in dB (see below)
        target/SN6_Train_AOI_11_Rotterdam_PS-RGB_<t1>_<t2>_tile_<n>.tif
            uint8 class indices, same name as the pre-event image, with an
            embedded colour table (:data:`PALETTE`)
        train_list.txt, val_list.txt, test_list.txt
            pre-event file names (with ``.tif``), one per line; the splits are
            contiguous runs of tiles, so they cover separate parts of the grid

All three rasters of a tile share one grid: EPSG:32631 (UTM 31N, Rotterdam),
0.5 m pixels, north up; tile ``n`` sits at its own place on a grid of tiles.

Physics (simple, with the right signs and orders of magnitude):

* Optical: vegetation and soil with multi-scale texture, asphalt roads, dark
  blue water, roofs in a few colours. The sun stands at azimuth
  :data:`SUN_AZIMUTH_DEG`, elevation :data:`SUN_ELEVATION_DEG`, so each
  building casts a shadow towards the north-north-west as long as the building
  is high. A slight blur (optics) and Gaussian sensor noise finish it.
* SAR: side-looking from the west (looking east) at incidence
  :data:`INCIDENCE_DEG`. Each cover has a backscatter coefficient per
  polarisation (:data:`SIGMA0_DB`): bright volume scattering from vegetation,
  weak specular returns from smooth roads and water. A building of height
  ``h`` puts its roof ``h / tan(incidence)`` towards the sensor (layover, where
  the sensor-facing wall adds its return), a bright double-bounce line at the
  foot of that wall (HH above VV, as for a dihedral), and a radar shadow of
  length ``h * tan(incidence)`` behind it. A noise floor is added, then fully
  developed speckle: intensity = sigma0 * Gamma(L, 1/L) with
  L = :data:`SAR_LOOKS`, so std / mean of the linear intensity over a
  homogeneous area is ``1 / sqrt(L)``. HV and VH share their reflectivity
  (reciprocity) and nearly all of their speckle. Stored as
  ``10 * log10(intensity) + SAR_DB_OFFSET`` (values near 20 over ground, as in
  SpaceNet6); :func:`sar_db_to_linear` undoes it. Optionally a few pixels are
  NaN in all bands (and the file's nodata is NaN) to exercise NaN handling.
* Target: from the land-cover maps of the two dates, a pixel that becomes
  building / road / water is "added <cover>", a pixel whose building / road /
  water turns into ground is "disappeared <cover>" (objects never overlap, so
  no pixel changes from one object cover to another).
"""
import os
import os.path as osp
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .io import write_geotiff

CLASSES = ('background', 'added building', 'added road', 'added water',
           'disappeared building', 'disappeared road', 'disappeared water')
# Same colours as ``DeltaSN6Dataset.METAINFO['palette']``.
PALETTE = ((0, 0, 0), (255, 0, 0), (255, 255, 0), (0, 0, 255), (128, 0, 128),
           (255, 128, 0), (0, 255, 255))

# Land-cover codes of one date; an object cover ``k`` changes to class ``k``
# ("added") or ``k + 3`` ("disappeared").
GROUND, BUILDING, ROAD, WATER = 0, 1, 2, 3

PIXEL_SIZE = 0.5
CRS = 'EPSG:32631'
GRID_ORIGIN = (593000.0, 5757000.0)  # upper-left corner of tile 0, metres
STRIP_START = datetime(2019, 8, 4, 11, 12, 24)
NAME_PREFIX = 'SN6_Train_AOI_11_Rotterdam'

SUN_AZIMUTH_DEG = 155.0
SUN_ELEVATION_DEG = 45.0
INCIDENCE_DEG = 40.0
SAR_BANDS = ('HH', 'HV', 'VH', 'VV')
SAR_LOOKS = 4
SAR_DB_OFFSET = 30.0
# Backscatter coefficient in dB for (HH, HV, VV); VH = HV.
SIGMA0_DB = {
    'soil': (-13.0, -24.0, -11.0),
    'vegetation': (-9.0, -16.0, -9.5),
    'road': (-20.0, -31.0, -19.0),
    'water': (-24.0, -34.0, -22.0),
    'roof': (-8.0, -18.0, -8.5),
    'wall': (-7.0, -17.0, -8.0),
    'double_bounce': (4.0, -10.0, -1.0),
    'noise_floor': (-30.0, -30.0, -30.0),
}
OPTICAL_RGB = {
    'soil': (150, 128, 98),
    'vegetation': (66, 98, 52),
    'road': (108, 108, 112),
    'water': (24, 42, 62),
}
ROOF_RGB = ((172, 82, 64), (148, 146, 142), (92, 92, 98), (204, 198, 186))
SHADOW_GAIN = (0.42, 0.46, 0.56)
# Share of date-1 objects that are gone at date 2, per cover.
REMOVAL_PROB = {BUILDING: 0.2, ROAD: 0.15, WATER: 0.25}


@dataclass
class Building:
    """An axis-aligned building: footprint rows ``y0:y1``, columns ``x0:x1``."""
    y0: int
    x0: int
    y1: int
    x1: int
    height: float
    roof_rgb: Tuple[int, int, int]


@dataclass
class SceneObject:
    """One building, road or water body: its cover code and footprint."""
    cover: int
    mask: np.ndarray
    building: Optional[Building] = None


@dataclass
class SyntheticTile:
    """One rendered tile with the scene masks it was rendered from.

    ``optical`` is ``(H, W, 3)`` uint8 RGB (date 1), ``sar`` ``(H, W, 4)``
    float32 dB in :data:`SAR_BANDS` order (date 2), ``target`` ``(H, W)`` uint8
    class indices. ``land_cover1`` / ``land_cover2`` hold the cover codes of each
    date, ``vegetation`` where the ground is vegetated (both dates). The other
    masks are rendering effects: ``optical_shadow`` (date 1, cast shadows on
    non-roof pixels) and, in the SAR image, ``sar_roof`` (roof returns only),
    ``sar_layover`` (sensor-facing walls, over whatever lies there),
    ``sar_double_bounce`` and ``sar_shadow``.
    """
    optical: np.ndarray
    sar: np.ndarray
    target: np.ndarray
    land_cover1: np.ndarray
    land_cover2: np.ndarray
    vegetation: np.ndarray
    optical_shadow: np.ndarray
    sar_roof: np.ndarray
    sar_layover: np.ndarray
    sar_double_bounce: np.ndarray
    sar_shadow: np.ndarray


def sar_db_to_linear(sar_db: np.ndarray) -> np.ndarray:
    """Linear intensity of stored SAR values (undoes :data:`SAR_DB_OFFSET`)."""
    return np.power(10.0, (np.asarray(sar_db, np.float64) - SAR_DB_OFFSET) / 10.0)


def change_target(land_cover1: np.ndarray, land_cover2: np.ndarray) -> np.ndarray:
    """Delta-SN6 class map from the land-cover codes of two dates.

    Args:
        land_cover1 (np.ndarray): ``(H, W)`` cover codes at date 1.
        land_cover2 (np.ndarray): ``(H, W)`` cover codes at date 2.

    Returns:
        np.ndarray: ``(H, W)`` uint8 indices into :data:`CLASSES`.
    """
    target = np.zeros(land_cover1.shape, np.uint8)
    changed = land_cover1 != land_cover2
    added = changed & (land_cover2 != GROUND)
    gone = changed & (land_cover2 == GROUND)
    target[added] = land_cover2[added]
    target[gone] = land_cover1[gone] + 3
    return target


def _smooth_noise(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-std random field with features about ``cell`` pixels wide."""
    coarse = rng.standard_normal((max(2, round(size / cell)), ) * 2).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / (field.std() + 1e-6)


def _metres(value: float) -> int:
    return max(1, round(value / PIXEL_SIZE))


def _draw_road(rng: np.random.Generator, size: int, length: float) -> SceneObject:
    angle = rng.choice((0.0, np.pi / 2)) + rng.normal(0.0, 0.15)
    cx, cy = rng.uniform(0.15, 0.85, 2) * size
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    canvas = np.zeros((size, size), np.uint8)
    cv2.line(canvas, (round(cx - dx), round(cy - dy)), (round(cx + dx), round(cy + dy)),
             1, thickness=_metres(rng.uniform(4.0, 7.0)))
    return SceneObject(ROAD, canvas.astype(bool))


def _draw_water(rng: np.random.Generator, size: int) -> SceneObject:
    """A blob: a rotated ellipse with a noisy rim, drawn in a window around it."""
    ry, rx = (_metres(r) for r in rng.uniform(5.0, 16.0, 2))
    cy, cx = (int(c) for c in rng.integers(0, size, 2))
    angle = rng.uniform(0, np.pi)
    half = int(1.6 * max(rx, ry))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    u = (xx * np.cos(angle) + yy * np.sin(angle)) / rx
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) / ry
    rim = 0.35 * _smooth_noise(rng, 2 * half + 1, max(rx, ry) / 2)
    blob = u**2 + v**2 + rim < 1.0
    mask = np.zeros((size, size), bool)
    y0, x0 = max(0, cy - half), max(0, cx - half)
    y1, x1 = min(size, cy + half + 1), min(size, cx + half + 1)
    mask[y0:y1, x0:x1] = blob[y0 - cy + half:y1 - cy + half, x0 - cx + half:x1 - cx + half]
    return SceneObject(WATER, mask)


def _draw_building(rng: np.random.Generator, size: int) -> SceneObject:
    h, w = (_metres(s) for s in rng.uniform(6.0, 16.0, 2))
    y0, x0 = rng.integers(0, size - min(h, w) // 2, 2)
    roof = ROOF_RGB[rng.integers(len(ROOF_RGB))]
    building = Building(int(y0), int(x0), int(min(y0 + h, size)), int(min(x0 + w, size)),
                        float(rng.uniform(3.0, 10.0)), roof)
    mask = np.zeros((size, size), bool)
    mask[building.y0:building.y1, building.x0:building.x1] = True
    return SceneObject(BUILDING, mask, building)


def _dilate(mask: np.ndarray, margin: int) -> np.ndarray:
    kernel = np.ones((2 * margin + 1, ) * 2, np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _place(occupied: np.ndarray, draw: Callable[[], SceneObject], margin: int,
           attempts: int = 30) -> Optional[SceneObject]:
    """Draw objects until one avoids ``occupied``; mark it (plus a margin)."""
    for _ in range(attempts):
        obj = draw()
        if obj.mask.any() and not (obj.mask & occupied).any():
            occupied |= _dilate(obj.mask, margin)
            return obj
    return None


def simulate_scenes(rng: np.random.Generator,
                    size: int) -> Tuple[List[SceneObject], List[SceneObject]]:
    """Objects present at date 1 and at date 2.

    Date 1 has full-length roads (which may cross), water bodies and
    buildings; at date 2 some of them are gone (:data:`REMOVAL_PROB`) and new
    buildings, road segments and water bodies appear. No two objects of the two
    dates overlap, except crossing date-1 roads.

    Args:
        rng (np.random.Generator): Random source.
        size (int): Tile side in pixels.

    Returns:
        tuple[list[SceneObject], list[SceneObject]]: objects at date 1 and 2.
    """
    area, length = (size / 128)**2, size / 128
    margin = _metres(1.5)
    roads = [_draw_road(rng, size, 3.0 * size) for _ in range(1 + rng.poisson(0.6 * length))]
    occupied = _dilate(np.logical_or.reduce([road.mask for road in roads]), margin)

    def draw_objects(count: int, draw: Callable[[], SceneObject]) -> List[SceneObject]:
        placed = (_place(occupied, draw, margin) for _ in range(count))
        return [obj for obj in placed if obj is not None]

    date1 = roads + draw_objects(rng.poisson(0.7 * area), lambda: _draw_water(rng, size))
    date1 += draw_objects(rng.poisson(6.0 * area), lambda: _draw_building(rng, size))
    date2 = [obj for obj in date1 if rng.random() >= REMOVAL_PROB[obj.cover]]
    date2 += draw_objects(rng.poisson(0.6 * length),
                          lambda: _draw_road(rng, size, _metres(rng.uniform(15.0, 35.0))))
    date2 += draw_objects(rng.poisson(0.4 * area), lambda: _draw_water(rng, size))
    date2 += draw_objects(rng.poisson(2.0 * area), lambda: _draw_building(rng, size))
    return date1, date2


def land_cover_map(objects: Sequence[SceneObject], size: int) -> np.ndarray:
    """``(size, size)`` uint8 cover codes of a list of objects."""
    land_cover = np.full((size, size), GROUND, np.uint8)
    for obj in objects:
        land_cover[obj.mask] = obj.cover
    return land_cover


def _buildings(objects: Sequence[SceneObject]) -> List[Building]:
    return [obj.building for obj in objects if obj.building is not None]


def _optical_shadow(buildings: Sequence[Building], size: int) -> np.ndarray:
    """Cast shadows: each footprint swept away from the sun by its shadow length."""
    azimuth, elevation = np.radians(SUN_AZIMUTH_DEG), np.radians(SUN_ELEVATION_DEG)
    away = np.array([-np.sin(azimuth), np.cos(azimuth)])  # image (x east, y south)
    canvas = np.zeros((size, size), np.uint8)
    for b in buildings:
        corners = np.array([(b.x0, b.y0), (b.x1 - 1, b.y0), (b.x1 - 1, b.y1 - 1),
                            (b.x0, b.y1 - 1)], np.float64)
        shift = away * b.height / np.tan(elevation) / PIXEL_SIZE
        hull = cv2.convexHull(np.round(np.vstack([corners, corners + shift])).astype(np.int32))
        cv2.fillConvexPoly(canvas, hull, 1)
    return canvas.astype(bool)


def render_optical(rng: np.random.Generator, objects: Sequence[SceneObject],
                   vegetation: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Optical RGB image of a scene.

    Args:
        rng (np.random.Generator): Random source.
        objects (Sequence[SceneObject]): The scene's objects.
        vegetation (np.ndarray): ``(H, W)`` bool, vegetated ground.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(H, W, 3)`` uint8 RGB image and the
        ``(H, W)`` bool cast-shadow mask (non-roof pixels only).
    """
    size = vegetation.shape[0]
    land_cover = land_cover_map(objects, size)
    colour = {name: np.array(rgb, np.float32) for name, rgb in OPTICAL_RGB.items()}
    texture = (0.10 * _smooth_noise(rng, size, _metres(4.0))
               + 0.06 * rng.standard_normal((size, size)).astype(np.float32))
    image = np.where(vegetation[..., None], colour['vegetation'], colour['soil'])
    image = image * (1.0 + texture[..., None])
    fine = rng.standard_normal((size, size)).astype(np.float32)
    road = land_cover == ROAD
    image[road] = colour['road'] * (1.0 + 0.04 * fine[road, None])
    water = land_cover == WATER
    ripple = _smooth_noise(rng, size, _metres(3.0))
    image[water] = colour['water'] * (1.0 + 0.05 * ripple[water, None])
    for b in _buildings(objects):
        grain = 1.0 + 0.03 * fine[b.y0:b.y1, b.x0:b.x1, None]
        image[b.y0:b.y1, b.x0:b.x1] = np.array(b.roof_rgb, np.float32) * grain
    shadow = _optical_shadow(_buildings(objects), size) & (land_cover != BUILDING)
    image[shadow] *= np.array(SHADOW_GAIN, np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 0.6)
    image += rng.normal(0.0, 2.0, image.shape).astype(np.float32)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), shadow


def _sigma0(name: str) -> np.ndarray:
    """Linear backscatter of a cover for (HH, HV, VV)."""
    return np.power(10.0, np.array(SIGMA0_DB[name]) / 10.0).astype(np.float32)


def _sar_building_masks(buildings: Sequence[Building], size: int) -> Dict[str, np.ndarray]:
    """Where buildings occlude the ground and where their returns land.

    The sensor is to the west (small columns). Returns bool masks ``occluded``
    (footprint and radar shadow), ``roof`` (roof image shifted towards the
    sensor by the layover), ``wall`` (sensor-facing wall, laid over the ground
    in front of the building) and ``double_bounce`` (wall foot).
    """
    incidence = np.radians(INCIDENCE_DEG)
    masks = {key: np.zeros((size, size), bool)
             for key in ('occluded', 'roof', 'wall', 'double_bounce')}
    for b in buildings:
        layover = _metres(b.height / np.tan(incidence))
        shadow = _metres(b.height * np.tan(incidence))
        rows = slice(b.y0, b.y1)
        masks['occluded'][rows, b.x0:b.x1 + shadow] = True
        masks['roof'][rows, max(0, b.x0 - layover):max(0, b.x1 - layover)] = True
        masks['wall'][rows, max(0, b.x0 - layover):b.x0] = True
        masks['double_bounce'][rows, b.x0:b.x0 + _metres(1.0)] = True
    return masks


def render_sar(rng: np.random.Generator, objects: Sequence[SceneObject],
               vegetation: np.ndarray,
               nan_fraction: float = 0.0) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Quad-polarisation SAR image of a scene, in dB.

    Args:
        rng (np.random.Generator): Random source.
        objects (Sequence[SceneObject]): The scene's objects.
        vegetation (np.ndarray): ``(H, W)`` bool, vegetated ground.
        nan_fraction (float): Share of pixels set to NaN in all bands.
            Defaults to 0.0.

    Returns:
        tuple[np.ndarray, dict]: ``(H, W, 4)`` float32 image in
        :data:`SAR_BANDS` order and the bool masks ``roof`` (roof returns only),
        ``layover``, ``double_bounce`` and ``shadow``.
    """
    size = vegetation.shape[0]
    land_cover = land_cover_map(objects, size)
    sigma = np.where(vegetation[..., None], _sigma0('vegetation'), _sigma0('soil'))
    sigma[land_cover == ROAD] = _sigma0('road')
    sigma[land_cover == WATER] = _sigma0('water')
    geometry = _sar_building_masks(_buildings(objects), size)
    sigma[geometry['occluded']] = 0.0
    for name in ('roof', 'wall', 'double_bounce'):
        sigma[geometry[name]] += _sigma0(name)
    sigma += _sigma0('noise_floor')

    hh, hv, vv = (sigma[..., i] * rng.gamma(SAR_LOOKS, 1.0 / SAR_LOOKS, (size, size))
                  for i in range(3))
    vh = hv * rng.gamma(50.0, 1.0 / 50.0, (size, size))
    sar = (10.0 * np.log10(np.stack([hh, hv, vh, vv], axis=-1)) + SAR_DB_OFFSET)
    sar = sar.astype(np.float32)
    if nan_fraction > 0:
        sar[rng.random((size, size)) < nan_fraction] = np.nan
    returns = geometry['roof'] | geometry['wall'] | geometry['double_bounce']
    masks = dict(roof=geometry['roof'] & ~geometry['wall'] & ~geometry['double_bounce'],
                 layover=geometry['wall'], double_bounce=geometry['double_bounce'],
                 shadow=geometry['occluded'] & ~returns)
    return sar, masks


def make_synthetic_tile(size: int = 128, seed: int = 0, index: int = 0,
                        sar_nan_fraction: float = 0.0) -> SyntheticTile:
    """Simulate and render one tile.

    Args:
        size (int): Tile side in pixels (0.5 m each). Defaults to 128.
        seed (int): Dataset seed. Defaults to 0.
        index (int): Tile index; with ``seed`` it seeds the tile's generator.
            Defaults to 0.
        sar_nan_fraction (float): Share of SAR pixels set to NaN. Defaults to
            0.0.

    Returns:
        SyntheticTile: images, target and scene masks.
    """
    rng = np.random.default_rng([seed, index])
    vegetation = _smooth_noise(rng, size, _metres(12.0)) > rng.normal(0.0, 0.4)
    date1, date2 = simulate_scenes(rng, size)
    optical, optical_shadow = render_optical(rng, date1, vegetation)
    sar, sar_masks = render_sar(rng, date2, vegetation, sar_nan_fraction)
    land_cover1, land_cover2 = land_cover_map(date1, size), land_cover_map(date2, size)
    return SyntheticTile(
        optical=optical, sar=sar, target=change_target(land_cover1, land_cover2),
        land_cover1=land_cover1, land_cover2=land_cover2, vegetation=vegetation,
        optical_shadow=optical_shadow, sar_roof=sar_masks['roof'],
        sar_layover=sar_masks['layover'], sar_double_bounce=sar_masks['double_bounce'],
        sar_shadow=sar_masks['shadow'])


def tile_transform(index: int, size: int, columns: int) -> Tuple[float, ...]:
    """Affine ``(a, b, c, d, e, f)`` of tile ``index`` on a grid ``columns`` wide."""
    row, col = divmod(index, columns)
    extent = size * PIXEL_SIZE
    return (PIXEL_SIZE, 0.0, GRID_ORIGIN[0] + col * extent,
            0.0, -PIXEL_SIZE, GRID_ORIGIN[1] - row * extent)


def tile_file_names(index: int, strip: int) -> Tuple[str, str]:
    """SpaceNet6-style pre-event (optical) and post-event (SAR) file names.

    Args:
        index (int): Tile index (``tile_<n>``).
        strip (int): Acquisition strip; sets the ``<t1>_<t2>`` times.

    Returns:
        tuple[str, str]: the ``PS-RGB`` and the ``SAR-Intensity`` file name.
    """
    start = STRIP_START + strip * timedelta(minutes=7, seconds=13)
    times = f"{start:%Y%m%d%H%M%S}_{start + timedelta(seconds=149):%Y%m%d%H%M%S}"
    pre = f'{NAME_PREFIX}_PS-RGB_{times}_tile_{index}.tif'
    return pre, pre.replace('PS-RGB', 'SAR-Intensity')


def split_sizes(num_tiles: int, splits: Sequence[float]) -> List[int]:
    """Tiles per split (train, val, test), as contiguous runs of the tiles.

    The run boundaries are the rounded cumulative fractions; a split with a
    positive fraction that gets no tile then takes one from the largest split
    (when that has more than one).
    """
    if len(splits) != 3 or min(splits) < 0 or sum(splits) <= 0:
        raise ValueError(f'splits must be three non-negative (train, val, test) '
                         f'fractions, got {splits}')
    fractions = np.array(splits, np.float64) / sum(splits)
    bounds = np.floor(np.cumsum(fractions) * num_tiles + 0.5).astype(np.int64)
    sizes = np.diff(bounds, prepend=0)
    for empty in np.flatnonzero((sizes == 0) & (fractions > 0)):
        largest = int(np.argmax(sizes))
        if sizes[largest] > 1:
            sizes[largest] -= 1
            sizes[empty] += 1
    return sizes.tolist()


def make_synthetic_delta_sn6(out_dir: str, num_tiles: int = 24, tile_size: int = 128,
                             seed: int = 0, splits: Sequence[float] = (0.7, 0.15, 0.15),
                             sar_nan_fraction: float = 0.0, progress: bool = True) -> Dict:
    """Write a synthetic optical (pre) / SAR (post) dataset in the Delta-SN6 layout.

    See the module docstring for the layout, names and physics.

    Args:
        out_dir (str): Dataset root; created if missing.
        num_tiles (int): Number of tiles. Defaults to 24.
        tile_size (int): Tile side in pixels (0.5 m each). Defaults to 128.
        seed (int): Seed; the same seed writes byte-identical files.
            Defaults to 0.
        splits (Sequence[float]): Fractions of tiles in train, val and test,
            taken as contiguous runs of tiles. Defaults to (0.7, 0.15, 0.15).
        sar_nan_fraction (float): Share of SAR pixels set to NaN (nodata).
            Defaults to 0.0.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: ``splits`` (tiles per split name) and ``class_pixels`` (pixel
        count per class name over all tiles).
    """
    from mmengine.utils import ProgressBar

    for folder in ('pre-event', 'post-event', 'target'):
        os.makedirs(osp.join(out_dir, folder), exist_ok=True)
    columns = int(np.ceil(np.sqrt(num_tiles)))
    nodata = float('nan') if sar_nan_fraction > 0 else None
    counts = np.zeros(len(CLASSES), np.int64)
    names = []
    bar = ProgressBar(num_tiles) if progress else None
    for index in range(num_tiles):
        tile = make_synthetic_tile(tile_size, seed, index, sar_nan_fraction)
        pre, post = tile_file_names(index, strip=index // columns)
        transform = tile_transform(index, tile_size, columns)
        write_geotiff(osp.join(out_dir, 'pre-event', pre), tile.optical, CRS, transform)
        write_geotiff(osp.join(out_dir, 'post-event', post), tile.sar, CRS, transform,
                      nodata=nodata)
        write_geotiff(osp.join(out_dir, 'target', pre), tile.target, CRS, transform,
                      palette=PALETTE)
        counts += np.bincount(tile.target.ravel(), minlength=len(CLASSES))
        names.append(pre)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.file.write('\n')
    sizes = split_sizes(num_tiles, splits)
    bounds = np.cumsum([0] + sizes)
    for split, start, stop in zip(('train', 'val', 'test'), bounds[:-1], bounds[1:]):
        with open(osp.join(out_dir, f'{split}_list.txt'), 'w') as f:
            f.writelines(f'{name}\n' for name in names[start:stop])
    return dict(splits=dict(zip(('train', 'val', 'test'), sizes)),
                class_pixels=dict(zip(CLASSES, counts.tolist())))
