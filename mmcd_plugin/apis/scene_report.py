"""Summary of a scene's change map: counts, areas, regions and where they are.

:func:`summarize_change_map` turns a class map and its class table into a
plain dict (JSON-serialisable); :func:`describe_changes` writes one sentence
per change class from it ("added building: 3 regions, 12,400 m^2 (4.1 % of the
valid area), centred in the north-east; largest region 8,000 m^2") and
:func:`format_change_report` the text report. Given an S2M class table,
classes are described with the S2M quadruple instead ("several newly built
buildings: ..., in the north-east", see :func:`describe_changes`).
"""
import heapq
import math
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from mmcd_plugin.datasets.change_text import PAPER_TILE_AREA, change_quantity
from .scene_outputs import NODATA_CLASS, AreaMeter, ChangeRegion, iter_block_rows, \
    iter_change_regions

COMPASS = ('north', 'north-east', 'east', 'south-east', 'south', 'south-west', 'west',
           'north-west')
#: Centroids closer to the scene centre than this fraction of the half-size are "central".
CENTRE_RADIUS = 1 / 3
LARGEST_REGIONS = 5
#: From -> to transitions listed one per line in the text report (largest first).
REPORTED_TRANSITIONS = 10


def compass_direction(meter: AreaMeter, col: float, row: float) -> str:
    """Where the pixel position ``(col, row)`` lies as seen from the scene centre."""
    dx, dy = col - meter.width / 2, row - meter.height / 2
    if math.hypot(dx / (meter.width / 2), dy / (meter.height / 2)) < CENTRE_RADIUS:
        return 'centre'
    t = meter.transform
    if meter.crs is None:  # plain image: up is north
        east, north = dx, -dy
    else:
        east, north = t.a * dx + t.b * dy, t.d * dx + t.e * dy
    bearing = math.degrees(math.atan2(east, north)) % 360
    return COMPASS[int((bearing + 22.5) // 45) % 8]


def _count_values(block_rows: Iterable[tuple], meter: AreaMeter, num_values: int
                  ) -> Dict[str, np.ndarray]:
    """Per-value pixel counts, areas and position sums of ``(first_row, values)``
    block rows of non-negative integers below ``num_values``, streaming."""
    counts = np.zeros(num_values, np.int64)
    areas = np.zeros(num_values)
    col_sums, row_sums = np.zeros(num_values), np.zeros(num_values)
    for first, values in block_rows:
        per_row = np.stack([np.bincount(v, minlength=num_values) for v in values])
        counts += per_row.sum(axis=0)
        row_areas = meter.row_pixel_areas(first, first + len(values))
        if row_areas is not None:
            areas += row_areas @ per_row
        col_sums += np.bincount(values.ravel(), minlength=num_values,
                                weights=np.tile(np.arange(meter.width) + 0.5, len(values)))
        row_sums += (np.arange(first, first + len(values)) + 0.5) @ per_row
    return dict(counts=counts, areas=areas if meter.crs is not None else None,
                col_sums=col_sums, row_sums=row_sums)


def _count_classes(class_map_path: str, meter: AreaMeter) -> Dict[str, np.ndarray]:
    """:func:`_count_values` of a uint8 class map."""
    import rasterio
    with rasterio.open(class_map_path) as src:
        rows = ((first, values.astype(np.int64)) for first, values in iter_block_rows(src))
        return _count_values(rows, meter, 256)


def summarize_change_map(class_map_path: str, classes: Sequence[str],
                         regions: Optional[Iterable[ChangeRegion]] = None,
                         no_change_classes: Sequence[int] = (0, ),
                         nodata_by_date: Optional[Sequence[int]] = None) -> dict:
    """Summarise a class map: per class pixels, m^2, regions and direction.

    Args:
        class_map_path (str): uint8 class-map GeoTIFF (255 = not predicted).
        classes (Sequence[str]): Class names by index (the model's
            ``dataset_meta['classes']``).
        regions (Iterable[ChangeRegion], optional): The map's change regions
            when they are being computed anyway (e.g. while writing polygon
            files); None polygonizes the map here.
        no_change_classes (Sequence[int]): Classes that are no change.
            Defaults to (0, ).
        nodata_by_date (Sequence[int], optional): Invalid pixels of the pre-
            and post-event images, when known.

    Returns:
        dict: ``scene`` (size, CRS, pixel area, valid and nodata pixels and
        m^2) and ``classes`` (one entry per class: ``id``, ``name``,
        ``change``, ``pixels``, ``area_m2``, ``fraction_of_valid``,
        ``regions``, ``largest_region_m2``, ``direction``), plus
        ``largest_regions`` (the biggest change regions with class, m^2 and
        centroid). Areas are None for images without a CRS.
    """
    import rasterio
    with rasterio.open(class_map_path) as src:
        meter = AreaMeter(src.crs, src.transform, (src.height, src.width))
    stats = _count_classes(class_map_path, meter)
    if regions is None:
        regions = iter_change_regions(class_map_path, classes, meter, no_change_classes)
    region_stats = _region_stats(regions, len(classes))
    counts, areas = stats['counts'], stats['areas']
    valid = int(counts[:NODATA_CLASS].sum())
    entries = []
    for index, name in enumerate(classes):
        pixels = int(counts[index])
        entry = dict(id=index, name=name, change=index not in no_change_classes,
                     pixels=pixels, area_m2=None if areas is None else float(areas[index]),
                     fraction_of_valid=pixels / valid if valid else 0.0,
                     direction=compass_direction(meter, stats['col_sums'][index] / pixels,
                                                 stats['row_sums'][index] / pixels)
                     if pixels else None)
        entry.update(region_stats['per_class'][index])
        entries.append(entry)
    scene = dict(path=class_map_path, width=meter.width, height=meter.height,
                 crs=meter.crs.to_string() if meter.crs else None,
                 pixel_area_m2=meter.pixel_area_m2, valid_pixels=valid,
                 valid_area_m2=None if areas is None else float(areas[:NODATA_CLASS].sum()),
                 nodata_pixels=int(counts[NODATA_CLASS]),
                 nodata_area_m2=None if areas is None else float(areas[NODATA_CLASS]),
                 nodata_pixels_by_date=list(nodata_by_date) if nodata_by_date else None)
    return dict(scene=scene, classes=entries, largest_regions=region_stats['largest'])


def _region_stats(regions: Iterable[ChangeRegion], num_classes: int) -> dict:
    per_class = [dict(regions=0, largest_region_m2=None) for _ in range(num_classes)]
    largest: List[tuple] = []
    for order, region in enumerate(regions):
        entry = per_class[region.class_id]
        entry['regions'] += 1
        size = region.area_m2 if region.area_m2 is not None else region.pixels
        if region.area_m2 is not None and (entry['largest_region_m2'] or 0) < size:
            entry['largest_region_m2'] = size
        item = (size, -order, dict(class_name=region.class_name, pixels=region.pixels,
                                   area_m2=region.area_m2, centroid=list(region.centroid)))
        if len(largest) < LARGEST_REGIONS:
            heapq.heappush(largest, item)
        else:
            heapq.heappushpop(largest, item)
    return dict(per_class=per_class, largest=[item[2] for item in sorted(largest, reverse=True)])


def summarize_transitions(from_path: str, to_path: str, classes: Sequence[str],
                          no_change_index: int = 0) -> dict:
    """From -> to transitions of two semantic change maps, with areas.

    The maps (uint8, one per date, 255 = not predicted) hold each date's
    semantic class where change was detected and ``no_change_index``
    elsewhere, as ``pred_sem_seg_from`` / ``pred_sem_seg_to`` of a semantic
    change detector. A pixel counts as changed when either date's class is not
    ``no_change_index`` and neither is 255.

    Args:
        from_path (str): Date-1 semantic change map GeoTIFF.
        to_path (str): Date-2 map on the same grid.
        classes (Sequence[str]): Semantic class names by index.
        no_change_index (int): The no-change class. Defaults to 0.

    Returns:
        dict: ``changed_pixels``, ``changed_area_m2`` and ``transitions``: one
        entry per (from, to) pair present, most pixels first, with
        ``from_id``, ``from_name``, ``to_id``, ``to_name``, ``pixels``,
        ``area_m2`` (None without a CRS), ``fraction_of_changed`` and
        ``direction`` (as in :func:`summarize_change_map`).
    """
    import rasterio
    num = len(classes)
    with rasterio.open(from_path) as src_from, rasterio.open(to_path) as src_to:
        meter = AreaMeter(src_from.crs, src_from.transform, (src_from.height, src_from.width))
        if (src_to.height, src_to.width) != (meter.height, meter.width):
            raise ValueError(f'{from_path} and {to_path} must have the same size')

        def pairs():
            for (first, frm), (_, to) in zip(iter_block_rows(src_from), iter_block_rows(src_to)):
                frm, to = frm.astype(np.int64), to.astype(np.int64)
                changed = ((frm != no_change_index) | (to != no_change_index)) & \
                    (frm != NODATA_CLASS) & (to != NODATA_CLASS)
                yield first, np.where(changed, frm * num + to, num * num)
        stats = _count_values(pairs(), meter, num * num + 1)
    counts, areas = stats['counts'][:-1], stats['areas']
    changed = int(counts.sum())
    entries = [dict(from_id=int(index // num), from_name=classes[index // num],
                    to_id=int(index % num), to_name=classes[index % num],
                    pixels=int(counts[index]),
                    area_m2=None if areas is None else float(areas[index]),
                    fraction_of_changed=int(counts[index]) / changed,
                    direction=compass_direction(meter,
                                                stats['col_sums'][index] / counts[index],
                                                stats['row_sums'][index] / counts[index]))
               for index in np.flatnonzero(counts)]
    entries.sort(key=lambda e: (-e['pixels'], e['from_id'], e['to_id']))
    return dict(changed_pixels=changed,
                changed_area_m2=None if areas is None else float(areas[:-1].sum()),
                transitions=entries)


def _where(direction: str, preposition: str = 'centred in') -> str:
    """'in the centre' or e.g. 'centred in the north-east'."""
    return 'in the centre' if direction == 'centre' else f'{preposition} the {direction}'


def _area_text(area_m2: Optional[float], pixels: int) -> str:
    if area_m2 is None:
        return f'{pixels:,} pixels'
    return f'{area_m2:,.0f} m^2' if area_m2 >= 10 else f'{area_m2:,.2f} m^2'


def describe_changes(summary: dict, change_classes: Optional[dict] = None) -> List[str]:
    """One sentence per change class present in the map, largest area first.

    With ``change_classes`` (an S2M class table, see
    :func:`mmcd_plugin.datasets.change_text.make_class_table`) a class in the
    table is described with S2M's quadruple: quantity (Eq. 3, thresholds
    scaled from S2M's 512^2 tiles to the scene's valid area), change type,
    category and where ("several newly built buildings in the north-east").
    """
    present = [c for c in summary['classes'] if c['change'] and c['pixels']]
    if not present:
        return ['No change was detected.']
    present.sort(key=lambda c: -c['pixels'])
    sentences = []
    for entry in present:
        s2m = bool(change_classes) and entry['id'] in change_classes
        subject = _s2m_subject(change_classes[entry['id']], entry['pixels'],
                               summary['scene']['valid_pixels']) if s2m else entry['name']
        where = _where(entry['direction'], 'in' if s2m else 'centred in')
        regions = f'{entry["regions"]} region{"s" if entry["regions"] != 1 else ""}'
        text = (f'{subject}: {regions}, {_area_text(entry["area_m2"], entry["pixels"])} '
                f'({100 * entry["fraction_of_valid"]:.1f} % of the valid area), {where}')
        if entry['largest_region_m2'] is not None and entry['regions'] > 1:
            text += f'; largest region {_area_text(entry["largest_region_m2"], 0)}'
        sentences.append(text + '.')
    return sentences


def _s2m_subject(change_class, pixels: int, valid_pixels: int) -> str:
    """S2M's "how many / how / what" of one class, e.g. 'several newly built buildings'."""
    quantity = change_quantity(pixels, tile_area=max(valid_pixels, 1),
                               reference_area=PAPER_TILE_AREA)
    noun = change_class.singular() if quantity == 'a single' else change_class.category
    return f'{quantity} {change_class.change_type} {noun}'


def format_change_report(summary: dict, header: Sequence[str] = (),
                         change_classes: Optional[dict] = None) -> str:
    """The text report: header lines, the scene, nodata, one line per change class."""
    scene = summary['scene']
    lines = ['Scene change report', *header,
             f'grid: {scene["width"]} x {scene["height"]} pixels (columns x rows), '
             f'CRS {scene["crs"] or "none"}'
             + (f', pixel area {scene["pixel_area_m2"]:.4g} m^2' if scene['pixel_area_m2']
                else '')]
    total = scene['valid_pixels'] + scene['nodata_pixels']
    if scene['nodata_pixels']:
        by_date = scene['nodata_pixels_by_date']
        detail = f' (pre-event {by_date[0]:,}, post-event {by_date[1]:,})' if by_date else ''
        lines.append(f'nodata: {scene["nodata_pixels"]:,} pixels, '
                     f'{_area_text(scene["nodata_area_m2"], scene["nodata_pixels"])}, '
                     f'{100 * scene["nodata_pixels"] / total:.2f} % of the scene{detail}: '
                     'not predicted (class map value 255).')
    lines.append(f'valid area: {_area_text(scene["valid_area_m2"], scene["valid_pixels"])}')
    lines.append('changes:')
    lines += [f'- {sentence}' for sentence in describe_changes(summary, change_classes)]
    transitions = (summary.get('transitions') or {}).get('transitions')
    if transitions:
        lines.append('semantic changes (from -> to):')
        lines += [f'- {t["from_name"]} -> {t["to_name"]}: '
                  f'{_area_text(t["area_m2"], t["pixels"])} '
                  f'({100 * t["fraction_of_changed"]:.1f} % of the changed area), '
                  f'{_where(t["direction"])}'
                  for t in transitions[:REPORTED_TRANSITIONS]]
        rest = transitions[REPORTED_TRANSITIONS:]
        if rest:
            pixels = sum(t['pixels'] for t in rest)
            area = None if rest[0]['area_m2'] is None else sum(t['area_m2'] for t in rest)
            lines.append(f'- {len(rest)} other transitions: {_area_text(area, pixels)} '
                         f'({100 * sum(t["fraction_of_changed"] for t in rest):.1f} % of the '
                         'changed area; all of them in the summary JSON)')
    if summary['largest_regions']:
        lines.append('largest change regions (centroid in CRS coordinates):')
        lines += [f'- {r["class_name"]}: {_area_text(r["area_m2"], r["pixels"])} at '
                  f'({r["centroid"][0]:.8g}, {r["centroid"][1]:.8g})'
                  for r in summary['largest_regions']]
    return '\n'.join(lines) + '\n'
