"""Reading a bi-temporal scene window by window with rasterio.

A scene is two rasters (pre- and post-event) on one pixel grid. Nothing here
reads a whole raster: :meth:`SceneDate.read` returns one window of the bands
the model's loading transform keeps, with the mask of its invalid pixels.

A pixel is *invalid* on a date when any kept band is nodata there: GDAL's mask
says so (the file's nodata value, an alpha band or an internal mask, or the
area outside the source after resampling) or the value is NaN/Inf.
"""
from contextlib import ExitStack
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmcd_plugin.datasets.transforms.loading import LoadBiTemporalImages

#: Largest allowed disagreement of the two grids, in pre-event pixels.
GRID_TOLERANCE_PX = 1e-3
RESAMPLING_METHODS = ('nearest', 'bilinear', 'cubic', 'average')


class SceneGridError(ValueError):
    """The two dates of a scene are not on the same pixel grid."""


def grids_differ(pre, post) -> List[str]:
    """What differs between the grids of two open datasets (empty: nothing)."""
    problems = []
    if (pre.height, pre.width) != (post.height, post.width):
        problems.append(f'size {pre.height} x {pre.width} vs {post.height} x {post.width} '
                        'pixels (rows x columns)')
    if (pre.crs is None) != (post.crs is None) or (pre.crs is not None and pre.crs != post.crs):
        problems.append(f'CRS {_crs_name(pre.crs)} vs {_crs_name(post.crs)}')
    if not _same_transform(pre, post):
        problems.append(f'transform {tuple(pre.transform)[:6]} vs {tuple(post.transform)[:6]}')
    return problems


def _crs_name(crs) -> str:
    if crs is None:
        return 'none'
    return crs.to_string() or crs.to_wkt()[:60]


def _same_transform(pre, post) -> bool:
    """Both transforms put every scene corner within GRID_TOLERANCE_PX pixels."""
    corners = [(0, 0), (pre.width, 0), (0, pre.height), (pre.width, pre.height)]
    to_pre_pixels = ~pre.transform @ post.transform
    return all(np.hypot(*np.subtract(to_pre_pixels @ corner, corner)) <= GRID_TOLERANCE_PX
               for corner in corners)


class SceneDate:
    """One date of a scene: an open raster and the bands the model uses.

    Args:
        path (str): The raster file.
        dataset: Open rasterio dataset (or WarpedVRT) on the scene grid.
        band_count (int): Bands of the file (a WarpedVRT may add an alpha band).
        bands (Sequence[int], optional): 0-based bands to keep; None keeps all.
        repeat_channels (int, optional): Repeat a single band to this many
            channels (as ``LoadBiTemporalImages``).
        fill_value (float): Value written into invalid pixels before the model
            sees them.
        alpha_band (int, optional): 1-based band whose zeros mark pixels
            outside the source (the alpha band a WarpedVRT adds).
            Defaults to None.
    """

    def __init__(self, path: str, dataset, band_count: int, bands: Optional[Sequence[int]],
                 repeat_channels: Optional[int], fill_value: float,
                 alpha_band: Optional[int] = None):
        self.path = path
        self.dataset = dataset
        self.alpha_band = alpha_band
        if bands is not None and max(bands) >= band_count:
            raise ValueError(f'{path} has {band_count} band(s) but the config keeps bands '
                             f'{list(bands)} (0-based). Give the image the config was '
                             'trained for, or fix `bands` of LoadBiTemporalImages.')
        bands = range(band_count) if bands is None else bands
        self.indexes = [band + 1 for band in bands]
        self.repeat_channels = repeat_channels
        self.fill_value = fill_value

    @property
    def channels(self) -> int:
        """Channels the model receives from this date."""
        if self.repeat_channels is not None and len(self.indexes) == 1:
            return self.repeat_channels
        return len(self.indexes)

    def read(self, window) -> Tuple[np.ndarray, np.ndarray]:
        """``(image (h, w, C) float32, invalid (h, w) bool)`` of one window.

        Invalid pixels hold ``fill_value`` in every channel.
        """
        image = self.dataset.read(self.indexes, window=window).astype(np.float32)
        masks = self.dataset.read_masks(self.indexes, window=window)
        invalid = (masks == 0).any(axis=0) | ~np.isfinite(image).all(axis=0)
        if self.alpha_band is not None:
            invalid |= self.dataset.read(self.alpha_band, window=window) == 0
        image[:, invalid] = self.fill_value
        image = image.transpose(1, 2, 0)
        return LoadBiTemporalImages._repeat(image, self.repeat_channels), invalid


class BiTemporalScene:
    """Open both dates of a scene and check that they share a grid.

    Use as a context manager. The pre-event image defines the grid. Before any
    compute, the CRS, transform and size of both images are compared; if they
    differ, :class:`SceneGridError` names both files and every difference,
    unless ``resample_post`` is set: then the post-event image is warped onto
    the pre-event grid on the fly (a ``WarpedVRT``), and pixels it does not
    cover become invalid.

    Args:
        pre (str): Pre-event (date 1) raster.
        post (str): Post-event (date 2) raster.
        loader (LoadBiTemporalImages): The config's loading transform; its
            ``bands``, ``repeat_channels`` and ``nonfinite_value`` apply.
        resample_post (bool): Warp the post-event image onto the pre-event
            grid. Defaults to False.
        resampling (str): Warp resampling, one of ``RESAMPLING_METHODS``.
            Defaults to 'bilinear'.
    """

    def __init__(self, pre: str, post: str, loader: LoadBiTemporalImages,
                 resample_post: bool = False, resampling: str = 'bilinear'):
        if resampling not in RESAMPLING_METHODS:
            raise ValueError(f'resampling must be one of {RESAMPLING_METHODS}, got '
                             f'{resampling!r}')
        self.paths = (pre, post)
        self.loader = loader
        self.resample_post = resample_post
        self.resampling = resampling
        self._stack = ExitStack()
        self.dates: List[SceneDate] = []

    def __enter__(self) -> 'BiTemporalScene':
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self._stack.close()

    def _open(self):
        import rasterio
        from rasterio.errors import RasterioIOError
        datasets = []
        for path in self.paths:
            try:
                datasets.append(self._stack.enter_context(rasterio.open(path)))
            except RasterioIOError as err:
                raise FileNotFoundError(f'Cannot open scene image {path}: {err}') from err
        pre, post = datasets
        problems = grids_differ(pre, post)
        if problems and not self.resample_post:
            raise SceneGridError(
                f'{self.paths[0]} (pre-event) and {self.paths[1]} (post-event) are not on '
                f'the same pixel grid: {"; ".join(problems)}. Co-register them, or pass '
                '--resample-post (resample_post=True) to warp the post-event image onto '
                'the pre-event grid.')
        counts, alpha = (pre.count, post.count), [None, None]
        if problems:
            post = self._warp_onto(post, pre)
            alpha[1] = post.count if post.count > counts[1] else None
        self.dates = [SceneDate(path, dataset, counts[index], self.loader.bands[index],
                                self.loader.repeat_channels[index], self.loader.nonfinite_value,
                                alpha[index])
                      for index, (path, dataset) in enumerate(zip(self.paths, (pre, post)))]

    def _warp_onto(self, post, pre):
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT
        if post.crs is None or pre.crs is None:
            raise SceneGridError(f'Cannot resample {self.paths[1]} onto {self.paths[0]}: '
                                 'both images need a CRS.')
        # Without a nodata value, an alpha band marks the pixels the source does not cover.
        vrt = WarpedVRT(post, crs=pre.crs, transform=pre.transform, width=pre.width,
                        height=pre.height, resampling=Resampling[self.resampling],
                        add_alpha=post.nodata is None)
        return self._stack.enter_context(vrt)

    @property
    def pre(self):
        """The pre-event dataset (it defines the grid)."""
        return self.dates[0].dataset

    @property
    def shape(self) -> Tuple[int, int]:
        return self.pre.height, self.pre.width

    @property
    def channels(self) -> List[int]:
        return [date.channels for date in self.dates]

    def check_channels(self, expected: Optional[Sequence[int]]) -> None:
        """Raise naming the file when a date gives the model the wrong channel count."""
        for index, date in enumerate(self.dates):
            declared = self.loader.channels[index] if self.loader.channels else None
            for source, want in (('LoadBiTemporalImages.channels', declared),
                                 ('data_preprocessor.in_channels',
                                  expected[index] if expected else None)):
                if want is not None and date.channels != want:
                    raise ValueError(
                        f'{date.path} (date {index + 1}) gives {date.channels} channel(s) '
                        f'after band selection, but the config ({source}) expects {want}. '
                        'Use images with the bands the model was trained on, or fix '
                        '`bands`/`repeat_channels` in the config.')

    def read(self, window) -> Tuple[List[np.ndarray], np.ndarray]:
        """Both dates' window images and the invalid flags (bit 0: pre, bit 1: post)."""
        images, flags = [], None
        for index, date in enumerate(self.dates):
            image, invalid = date.read(window)
            images.append(image)
            bits = invalid.astype(np.uint8) << index
            flags = bits if flags is None else flags | bits
        return images, flags
