"""Scene outputs: tiled GeoTIFFs written strip by strip, change polygons with areas.

Areas. In a projected CRS a pixel covers ``|det(transform)|`` square CRS
units, converted to square metres with the CRS's linear unit. In a
geographic CRS (degrees) areas are measured after projecting onto a Lambert
azimuthal equal-area projection centred on the scene (WGS84 ellipsoid), which
preserves areas everywhere; polygons keep their vertices (pixel corners), so
the edges between vertices are taken as straight in that projection (an error
far below a pixel for pixel-sized edges).
"""
import json
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

#: Class-map value of pixels that were not predicted (nodata on either date).
NODATA_CLASS = 255
#: Probabilities as uint8 are percentages 0..100; 255 = nodata.
PROBABILITY_NODATA = {'uint8': 255, 'float32': float('nan')}
BLOCK_SIZE = 256
POLYGON_DRIVERS = {'geojson': ('GeoJSON', '.geojson'), 'gpkg': ('GPKG', '.gpkg')}


def geotiff_profile(scene_profile: dict, count: int, dtype: str, nodata) -> dict:
    """Tiled, deflate-compressed GeoTIFF profile on the scene grid."""
    return dict(driver='GTiff', height=scene_profile['height'], width=scene_profile['width'],
                count=count, dtype=dtype, nodata=nodata, crs=scene_profile['crs'],
                transform=scene_profile['transform'], tiled=True, blockxsize=BLOCK_SIZE,
                blockysize=BLOCK_SIZE, compress='deflate', interleave='band')


class BlockRowWriter:
    """Write strips of any height into a tiled GeoTIFF, one row of blocks at a
    time, so every block is compressed and written exactly once (the file's
    bytes depend only on its pixels).

    Args:
        dataset: rasterio dataset open for writing.
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self.row = 0
        self.pending: List[np.ndarray] = []

    def write(self, rows: np.ndarray) -> None:
        """Append ``(bands, n, width)`` rows below those written so far."""
        self.pending.append(rows)
        held = sum(p.shape[1] for p in self.pending)
        if held >= BLOCK_SIZE:
            block = np.concatenate(self.pending, axis=1)
            full = held - held % BLOCK_SIZE
            self._flush(block[:, :full])
            self.pending = [block[:, full:]] if full < held else []

    def close(self) -> None:
        if self.pending:
            self._flush(np.concatenate(self.pending, axis=1))
            self.pending = []
        if self.row != self.dataset.height:
            raise RuntimeError(f'{self.dataset.name}: {self.row} of {self.dataset.height} rows '
                               'were written')

    def _flush(self, rows: np.ndarray) -> None:
        from rasterio.windows import Window
        window = Window(0, self.row, rows.shape[2], rows.shape[1])
        self.dataset.write(rows, window=window)
        self.row += rows.shape[1]


def write_class_table(dataset, classes: Sequence[str], palette: Sequence[Sequence[int]]) -> None:
    """Embed the palette as the band's colour table and the class names as tags."""
    colormap = {index: tuple(int(c) for c in colour) + (255, )
                for index, colour in enumerate(palette)}
    colormap[NODATA_CLASS] = (0, 0, 0, 0)
    dataset.write_colormap(1, colormap)
    dataset.update_tags(1, CLASSES=json.dumps(list(classes)), NODATA_MEANS='not predicted')


class AreaMeter:
    """Areas in square metres of pixels and polygons of one raster grid.

    Args:
        crs: rasterio CRS (None: areas are unknown, reported as None).
        transform: Affine transform of the grid.
        shape (tuple[int, int]): Grid height and width.
    """

    def __init__(self, crs, transform, shape):
        self.crs, self.transform = crs, transform
        self.height, self.width = shape
        self.geographic = crs is not None and crs.is_geographic
        self.equal_area = self._equal_area_crs() if self.geographic else None

    def _equal_area_crs(self):
        from rasterio.crs import CRS
        from rasterio.warp import transform as warp_points
        lon, lat = warp_points(self.crs, 'EPSG:4326',
                               *[[v] for v in self.transform @ (self.width / 2, self.height / 2)])
        return CRS.from_proj4(f'+proj=laea +lat_0={lat[0]} +lon_0={lon[0]} +datum=WGS84 '
                              '+units=m +no_defs')

    @property
    def unit_to_metre(self) -> Optional[float]:
        """Metres per CRS unit of a projected CRS."""
        if self.crs is None or self.geographic:
            return None
        return float(self.crs.linear_units_factor[1])

    @property
    def pixel_area_m2(self) -> Optional[float]:
        """Area of a pixel of a projected grid (None if geographic or no CRS)."""
        if self.unit_to_metre is None:
            return None
        t = self.transform
        return abs(t.a * t.e - t.b * t.d) * self.unit_to_metre ** 2

    def row_pixel_areas(self, start: int, stop: int) -> Optional[np.ndarray]:
        """Mean pixel area (m^2) of each row in ``start..stop``."""
        if self.crs is None:
            return None
        if not self.geographic:
            return np.full(stop - start, self.pixel_area_m2)
        cols = np.linspace(0, self.width, 33)
        areas = []
        for row in range(start, stop):
            ring = [self.transform @ (c, row) for c in cols] + \
                [self.transform @ (c, row + 1) for c in cols[::-1]]
            areas.append(self.polygon_area_m2(dict(type='Polygon', coordinates=[ring])))
        return np.array(areas) / self.width

    def polygon_area_m2(self, geometry: dict) -> Optional[float]:
        """Area of a GeoJSON-like polygon in the grid's CRS (holes subtracted)."""
        if self.crs is None:
            return None
        if self.geographic:
            from rasterio.warp import transform_geom
            geometry = transform_geom(self.crs, self.equal_area, geometry)
            return polygon_area(geometry['coordinates'])
        return polygon_area(geometry['coordinates']) * self.unit_to_metre ** 2

    def pixel_count(self, geometry: dict) -> int:
        """Pixels inside a polygon whose edges follow the grid."""
        t = self.transform
        return int(round(polygon_area(geometry['coordinates']) / abs(t.a * t.e - t.b * t.d)))


def ring_area(ring: Sequence[Sequence[float]]) -> float:
    """Unsigned shoelace area of a closed or open ring."""
    xy = np.asarray(ring, np.float64)
    x, y = xy[:, 0] - xy[0, 0], xy[:, 1] - xy[0, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygon_area(rings: Sequence) -> float:
    """Area of a polygon given as ``[exterior, hole, ...]`` rings."""
    return ring_area(rings[0]) - sum(ring_area(hole) for hole in rings[1:])


def polygon_centroid(rings: Sequence) -> tuple:
    """Centroid (centre of mass) of a polygon with holes."""
    moments = []
    for ring in rings:
        xy = np.asarray(ring, np.float64)
        origin = xy[0]
        x, y = (xy - origin).T
        cross = x * np.roll(y, -1) - np.roll(x, -1) * y
        area = abs(cross.sum()) / 2
        centre = origin + np.array([((x + np.roll(x, -1)) * cross).sum(),
                                    ((y + np.roll(y, -1)) * cross).sum()]) / (3 * cross.sum())
        moments.append((area, centre))
    total = moments[0][0] - sum(area for area, _ in moments[1:])
    weighted = moments[0][0] * moments[0][1] - sum(area * c for area, c in moments[1:])
    return tuple((weighted / total).tolist())


@dataclass
class ChangeRegion:
    """One connected region (4-connectivity) of a change class."""
    class_id: int
    class_name: str
    geometry: dict
    pixels: int
    area_m2: Optional[float]
    centroid: tuple


def iter_change_regions(class_map_path: str, classes: Sequence[str], meter: AreaMeter,
                        no_change_classes: Sequence[int] = (0, )) -> Iterator[ChangeRegion]:
    """Polygonize the change classes of a class map, streaming.

    GDAL's scanline polygonizer reads the class map row by row; a temporary
    mask raster (written block row by block row) leaves out the no-change
    classes and nodata, so no giant background polygon is built.

    Args:
        class_map_path (str): uint8 class-map GeoTIFF.
        classes (Sequence[str]): Class names by index.
        meter (AreaMeter): Area measurement of the grid.
        no_change_classes (Sequence[int]): Classes that are not change.
            Defaults to (0, ).

    Yields:
        ChangeRegion: polygons in the class map's CRS.
    """
    import tempfile

    import rasterio
    from rasterio.features import shapes
    skip = np.array(sorted(set(no_change_classes) | {NODATA_CLASS}))
    with tempfile.TemporaryDirectory() as tmp, rasterio.open(class_map_path) as src:
        mask_path = f'{tmp}/change_mask.tif'
        profile = geotiff_profile(src.profile, 1, 'uint8', None)
        with rasterio.open(mask_path, 'w', **profile) as mask:
            writer = BlockRowWriter(mask)
            for _, rows in iter_block_rows(src):
                writer.write((~np.isin(rows, skip))[None].astype(np.uint8))
            writer.close()
        with rasterio.open(mask_path) as mask:
            for geometry, value in shapes(rasterio.band(src, 1), mask=rasterio.band(mask, 1),
                                          connectivity=4, transform=src.transform):
                yield ChangeRegion(class_id=int(value), class_name=classes[int(value)],
                                   geometry=geometry, pixels=meter.pixel_count(geometry),
                                   area_m2=meter.polygon_area_m2(geometry),
                                   centroid=polygon_centroid(geometry['coordinates']))


def iter_block_rows(dataset, band: int = 1) -> Iterator[tuple]:
    """``(first_row, (n, width) array)`` for each row of blocks of a band."""
    from rasterio.windows import Window
    for row in range(0, dataset.height, BLOCK_SIZE):
        count = min(BLOCK_SIZE, dataset.height - row)
        yield row, dataset.read(band, window=Window(0, row, dataset.width, count))


class PolygonWriter:
    """Stream change regions into GeoJSON and/or GeoPackage files (fiona).

    Each feature has ``class_id``, ``class_name``, ``pixels`` and ``area_m2``;
    coordinates are in the scene's CRS (GeoJSON files carry it in their
    ``crs`` member).

    Args:
        paths (dict): ``{'geojson': path, 'gpkg': path}``, any subset.
        crs: rasterio CRS of the scene.
    """

    SCHEMA = {'geometry': 'Polygon', 'properties': {
        'class_id': 'int', 'class_name': 'str', 'pixels': 'int', 'area_m2': 'float'}}

    def __init__(self, paths: Dict[str, str], crs):
        import fiona
        self.files = [fiona.open(path, 'w', driver=POLYGON_DRIVERS[kind][0], schema=self.SCHEMA,
                                 crs=crs.to_wkt() if crs is not None else None)
                      for kind, path in paths.items()]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for file in self.files:
            file.close()

    def passthrough(self, regions: Iterator[ChangeRegion]) -> Iterator[ChangeRegion]:
        """Write each region and pass it on (one polygonization for files and summary)."""
        for region in regions:
            self.write(region)
            yield region

    def write(self, region: ChangeRegion) -> None:
        record = {'geometry': region.geometry, 'properties': {
            'class_id': region.class_id, 'class_name': region.class_name,
            'pixels': region.pixels, 'area_m2': region.area_m2}}
        for file in self.files:
            file.write(record)
