"""Reading and writing rasters: GeoTIFF through rasterio, PNG/JPG/BMP through OpenCV.

Every reader returns ``(array, geo)`` where ``array`` is ``(H, W, C)`` and
``geo`` is a dict ``{'crs': str | None, 'transform': tuple | None,
'nodata': float | None}``: the CRS as WKT and the affine transform as the six
coefficients ``(a, b, c, d, e, f)`` of rasterio's ``Affine``. Plain images
have ``crs = transform = None``.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

GEOTIFF_SUFFIXES = ('.tif', '.tiff')


class ImageReadError(IOError):
    """An image file is missing, unreadable or truncated."""


def is_geotiff(path: str) -> bool:
    return str(path).lower().endswith(GEOTIFF_SUFFIXES)


def read_image(path: str, bands: Optional[Sequence[int]] = None,
               color_order: str = 'rgb') -> Tuple[np.ndarray, Dict]:
    """Read an image file as ``(H, W, C)`` with its georeference.

    Args:
        path (str): GeoTIFF (any band count and dtype) or PNG/JPG/BMP file.
        bands (Sequence[int], optional): 0-based band indices to keep, in
            order; None keeps all. Defaults to None.
        color_order (str): Channel order of 3-channel plain images, 'rgb'
            (as GeoTIFFs store them) or 'bgr' (OpenCV/mmseg order).
            Defaults to 'rgb'.

    Returns:
        tuple[np.ndarray, dict]: the pixels and ``{'crs', 'transform', 'nodata'}``.

    Raises:
        ImageReadError: naming the file when it is missing or cannot be decoded.
    """
    if not osp.isfile(path):
        raise ImageReadError(f'Image file not found: {path}. Check data_root and '
                             'data_prefix in the dataset config.')
    array, geo = (_read_geotiff(path) if is_geotiff(path) else _read_plain(path, color_order))
    if bands is not None:
        bands = list(bands)
        if max(bands) >= array.shape[2]:
            raise ImageReadError(
                f'{path} has {array.shape[2]} band(s) but the config selects bands '
                f'{bands}. Fix `bands` in the loading transform.')
        array = array[..., bands]
    return np.ascontiguousarray(array), geo


def _read_geotiff(path: str) -> Tuple[np.ndarray, Dict]:
    import rasterio
    from rasterio.errors import RasterioError
    try:
        with rasterio.open(path) as src:
            array = src.read()
            geo = dict(crs=src.crs.to_wkt() if src.crs else None,
                       transform=tuple(src.transform)[:6], nodata=src.nodata)
    except RasterioError as err:
        raise ImageReadError(f'Cannot read {path}: {err}. The file is corrupt or '
                             'truncated; re-download or regenerate it.') from err
    return array.transpose(1, 2, 0), geo


def _read_plain(path: str, color_order: str) -> Tuple[np.ndarray, Dict]:
    if color_order not in ('rgb', 'bgr'):
        raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
    with open(path, 'rb') as f:
        buffer = np.frombuffer(f.read(), np.uint8)
    array = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if array is None:
        raise ImageReadError(f'Cannot decode {path}: the file is empty, truncated or '
                             'not an image. Re-download or regenerate it.')
    if array.ndim == 2:
        array = array[..., None]
    elif color_order == 'rgb' and array.shape[2] in (3, 4):
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB if array.shape[2] == 3
                             else cv2.COLOR_BGRA2RGBA)
    return array, dict(crs=None, transform=None, nodata=None)


def write_geotiff(path: str, array: np.ndarray, crs: Optional[str],
                  transform: Optional[Sequence[float]],
                  palette: Optional[Sequence[Sequence[int]]] = None,
                  nodata: Optional[float] = None) -> None:
    """Write ``(H, W)`` or ``(H, W, C)`` pixels as a tiled, compressed GeoTIFF.

    Args:
        path (str): Output file.
        array (np.ndarray): Pixels; a 2-D uint8 array may carry a palette.
        crs (str, optional): WKT or EPSG string of the grid.
        transform (Sequence[float], optional): Affine ``(a, b, c, d, e, f)``.
        palette (Sequence[Sequence[int]], optional): RGB colour per class
            value, embedded as the band's colour table. Defaults to None.
        nodata (float, optional): Nodata value. Defaults to None.
    """
    import rasterio
    from rasterio.transform import Affine
    bands = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    height, width = bands.shape[1:]
    profile = dict(driver='GTiff', height=height, width=width, count=bands.shape[0],
                   dtype=bands.dtype, compress='deflate', nodata=nodata)
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if crs is not None:
        profile['crs'] = crs
    if transform is not None:
        profile['transform'] = Affine(*transform[:6])
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(bands)
        if palette is not None and bands.dtype == np.uint8 and bands.shape[0] == 1:
            dst.write_colormap(1, {i: tuple(c) + (255, ) for i, c in enumerate(palette)})
