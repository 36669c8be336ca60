"""Text from change masks: the S2M semantic quadruple and its sentences.

Implements §3.1 of *S2M: masks that talk* (``seeds/002``): every change class
present in a label becomes a quadruple (where, what, how, how many):

- where: the centroid of the class's pixels (Eq. 1) placed on a 3 x 3 grid
  (Eq. 2, thresholds at H/3, 2H/3 and W/3, 2W/3) and named with the paper's
  nine words: north, south, east, west, center, northeast, northwest,
  southeast, southwest;
- how many: the class's pixel area against 800 / 4000 / 8000 (Eq. 3):
  a single, a few, several, multiple;
- what / how: category and change type from a per-dataset class table
  (:data:`CLASS_TABLES`), e.g. LEVIR-CD ``{1: ('buildings', 'newly built')}``.

The quadruples are rendered with the five templates of Table 1 (one chosen per
sample), the neutral centre variant "The scene shows <Q> <T> <C> in the
center." and the attribute switches of Table 5. Plain numpy, no torch: the
pipeline transform :class:`~mmcd_plugin.datasets.transforms.GenerateChangeText`,
``tools/generate_change_text.py`` and scene reports all call these functions.

Choices where the paper is silent (each one an argument):

- Coordinates are pixel centres: pixel ``(row i, column j)`` sits at
  ``(x, y) = (j + 0.5, i + 0.5)`` in an image spanning ``[0, W] x [0, H]``,
  so Eq. 2's thresholds split the image into exact thirds and a flipped mask
  gets exactly the mirrored direction.
- The paper's thresholds are absolute pixel counts "tailored to
  Gaza-Change-v2", whose tiles are 512 x 512 (Table 2). With
  ``reference_area`` set (e.g. :data:`PAPER_TILE_AREA`) they are scaled by
  ``H * W / reference_area``, so a 256 x 256 tile uses 200 / 1000 / 2000 and a
  1024 x 1024 tile 3200 / 16000 / 32000. Default: unscaled, as in the paper.
- Agreement: "a single" takes the singular noun and "is"; the other
  quantities (and a sentence with the quantity switched off) the plural and
  "are". Singular forms come from the class table or, by default, from the
  plural by a simple rule (:func:`singular_noun`).
- Table 1's fifth template has no full stop; ours ends with one so the
  sentences of several classes join cleanly.
- Attribute switches (Table 5): a switched-off type or quantity is left out;
  a switched-off category is replaced by the neutral noun "object(s)" (the
  quadruple counts objects); a switched-off location drops the location
  phrase (per-template wording in :data:`TEMPLATES_WITHOUT_LOCATION`).
- A tile without change gets :data:`NO_CHANGE_TEXT`.
"""
from dataclasses import asdict, dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

#: Eq. 3: area thresholds between a single / a few / several / multiple.
PAPER_QUANTITY_THRESHOLDS = (800, 4000, 8000)
QUANTITIES = ('a single', 'a few', 'several', 'multiple')
#: Gaza-Change-v2 tiles, for which the paper calibrated the thresholds.
PAPER_TILE_AREA = 512 * 512
#: Eq. 2 grid: rows north / center / south, columns west / center / east.
DIRECTION_GRID = (('northwest', 'north', 'northeast'),
                  ('west', 'center', 'east'),
                  ('southwest', 'south', 'southeast'))
ATTRIBUTES = ('quantity', 'type', 'category', 'location')

#: Table 1, in order; ``{subject}`` = "<quantity> <type> <category>".
TEMPLATES = (
    'The scene shows {subject} in the {location}.',
    'Observing {subject} towards the {location}.',
    '{subject} located in the {location}.',
    'In the {location}, {subject} {be} visible.',
    'There {be} {subject} in the {location} region.',
)
#: The same five with the location switched off (Table 5).
TEMPLATES_WITHOUT_LOCATION = (
    'The scene shows {subject}.',
    'Observing {subject}.',
    '{subject} located in the scene.',
    'In the scene, {subject} {be} visible.',
    'There {be} {subject} in the scene.',
)
#: §3.1.4: used whatever the drawn template when the direction is the centre.
CENTER_TEMPLATE = 'The scene shows {subject} in the center.'
NO_CHANGE_TEXT = 'There is no change in the scene.'
#: Noun used when the category is switched off: (singular, plural).
GENERIC_CATEGORY = ('object', 'objects')


def singular_noun(plural: str) -> str:
    """Singular of a plural category by the regular English rule, applied to
    the last word: 'water bodies' -> 'water body', 'buildings' -> 'building';
    words not ending in a single 's' ('agricultural land') are kept. Give the
    singular explicitly in the class table for irregular nouns."""
    head, _, last = plural.rpartition(' ')
    if last.endswith('ies'):
        last = last[:-3] + 'y'
    elif last.endswith('s') and not last.endswith('ss'):
        last = last[:-1]
    return f'{head} {last}' if head else last


@dataclass(frozen=True)
class ChangeClass:
    """One change class of a dataset, as the text describes it.

    Args:
        category (str): What changed, plural ('buildings').
        change_type (str): How it changed ('newly built', 'destroyed').
        category_singular (str, optional): Singular of ``category``.
            Defaults to :func:`singular_noun` of it.
        exchanged_type (str, optional): The change type when the two dates
            are swapped (``TemporalExchange``), for classes whose index does
            not change on a swap, e.g. binary LEVIR-CD 'newly built' ->
            'demolished'. None keeps ``change_type`` (symmetric classes, or
            classes remapped by ``TemporalExchange(class_swap=...)``).
    """
    category: str
    change_type: str
    category_singular: Optional[str] = None
    exchanged_type: Optional[str] = None

    def singular(self) -> str:
        return self.category_singular or singular_noun(self.category)


ClassTableLike = Union[str, Mapping[int, Union[ChangeClass, Sequence[str], Mapping[str, str]]]]

#: Default class tables (label index -> class). LEVIR-CD and WHU-CD are
#: binary building-change sets (labels 0/1 after
#: ``LoadChangeAnnotations(binary=True)``). Gaza-Change-v2 is not public and
#: its label indices are unknown: ``gaza_change_example`` follows the
#: categories and types named in S2M §3.1.1 and must be checked against the
#: real label table. ``delta_sn6`` matches ``DeltaSN6Dataset.METAINFO``.
CLASS_TABLES: Dict[str, Dict[int, ChangeClass]] = {
    'levir_cd': {1: ChangeClass('buildings', 'newly built', exchanged_type='demolished')},
    'whu_cd': {1: ChangeClass('buildings', 'newly built', exchanged_type='demolished')},
    'gaza_change_example': {
        1: ChangeClass('buildings', 'destroyed'),
        2: ChangeClass('buildings', 'damaged'),
        3: ChangeClass('refugee camps', 'newly established'),
        4: ChangeClass('agricultural land', 'destroyed'),
        5: ChangeClass('greenhouses', 'destroyed'),
        6: ChangeClass('greenhouses', 'newly built'),
    },
    'delta_sn6': {
        1: ChangeClass('buildings', 'newly built'),
        2: ChangeClass('roads', 'newly built'),
        3: ChangeClass('water bodies', 'newly appeared'),
        4: ChangeClass('buildings', 'demolished'),
        5: ChangeClass('roads', 'removed'),
        6: ChangeClass('water bodies', 'disappeared'),
    },
}


def make_class_table(table: ClassTableLike) -> Dict[int, ChangeClass]:
    """A class table from a name in :data:`CLASS_TABLES` or a mapping whose
    values are :class:`ChangeClass`, ``(category, type)`` sequences or dicts
    of :class:`ChangeClass` fields (config-friendly)."""
    if isinstance(table, str):
        if table not in CLASS_TABLES:
            raise KeyError(f'Unknown class table {table!r}; known: {sorted(CLASS_TABLES)}, '
                           'or give a mapping {label index: (category, change type)}.')
        return dict(CLASS_TABLES[table])
    classes = {}
    for index, entry in table.items():
        if isinstance(entry, ChangeClass):
            classes[int(index)] = entry
        elif isinstance(entry, Mapping):
            classes[int(index)] = ChangeClass(**entry)
        else:
            classes[int(index)] = ChangeClass(*entry)
    if 0 in classes:
        raise ValueError('Class table: label 0 means "no change" and cannot be a change class.')
    return classes


@dataclass(frozen=True)
class ChangeQuadruple:
    """The S2M quadruple of one change class in one tile.

    ``where`` / ``what`` / ``how`` / ``how_many`` are the words of the text
    (``what`` plural, ``what_singular`` its singular); ``class_index`` the label
    value, ``num_pixels`` its area N, ``centroid`` its ``(cx, cy)`` (Eq. 1,
    pixel-centre coordinates).
    """
    where: str
    what: str
    how: str
    how_many: str
    class_index: int
    num_pixels: int
    centroid: Tuple[float, float]
    what_singular: str

    def to_dict(self) -> dict:
        return asdict(self)


def mask_centroid(mask: np.ndarray) -> Tuple[float, float]:
    """Eq. 1: mean ``(cx, cy)`` of the True pixels, pixel centres at +0.5."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError('mask_centroid: the mask has no changed pixel.')
    return float(cols.mean()) + 0.5, float(rows.mean()) + 0.5


def grid_direction(cx: float, cy: float, height: int, width: int) -> str:
    """Eq. 2 on both axes: north (cy < H/3) / center / south (cy >= 2H/3)
    times west (cx < W/3) / center / east (cx >= 2W/3), combined into one of
    the nine names (north + center -> 'north', north + east -> 'northeast')."""
    def third(value, size):
        return 0 if value < size / 3 else 1 if value < 2 * size / 3 else 2
    return DIRECTION_GRID[third(cy, height)][third(cx, width)]


def change_quantity(num_pixels: int,
                    thresholds: Sequence[float] = PAPER_QUANTITY_THRESHOLDS,
                    tile_area: Optional[int] = None,
                    reference_area: Optional[int] = None) -> str:
    """Eq. 3: 'a single' (N < t1), 'a few' (t1 <= N < t2), 'several'
    (t2 <= N < t3), 'multiple' (N >= t3). With ``reference_area`` the
    thresholds are scaled by ``tile_area / reference_area``."""
    if len(thresholds) != 3 or list(thresholds) != sorted(thresholds):
        raise ValueError(f'quantity thresholds must be 3 increasing areas, got {thresholds}')
    scale = 1.0
    if reference_area is not None:
        if tile_area is None:
            raise ValueError('change_quantity: reference_area needs tile_area to scale.')
        scale = tile_area / reference_area
    level = sum(num_pixels >= t * scale for t in thresholds)
    return QUANTITIES[level]


def change_quadruples(label: np.ndarray, class_table: ClassTableLike,
                      thresholds: Sequence[float] = PAPER_QUANTITY_THRESHOLDS,
                      reference_area: Optional[int] = None, ignore_index: int = 255,
                      exchanged: bool = False) -> List[ChangeQuadruple]:
    """The quadruples of a change label, one per change class present.

    Multi-class labels: each class of the table found in the label gets its
    own quadruple from its own pixels (centroid, area), in increasing label
    order; :func:`render_change_text` writes one sentence per quadruple.

    Args:
        label (np.ndarray): ``(H, W)`` change label: 0 = no change, class
            indices (1 for binary sets), ``ignore_index`` = ignored.
        class_table (str | dict): Name in :data:`CLASS_TABLES` or mapping, see
            :func:`make_class_table`.
        thresholds (Sequence[float]): Eq. 3 areas. Defaults to (800, 4000, 8000).
        reference_area (int, optional): Tile area the thresholds are meant for;
            when set they scale with ``H * W``. Defaults to None (unscaled).
        ignore_index (int): Label value that is not a change. Defaults to 255.
        exchanged (bool): The dates were swapped: classes with an
            ``exchanged_type`` use it. Defaults to False.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'change_quadruples expects an (H, W) label, got shape {label.shape}')
    classes = make_class_table(class_table)
    present = [int(v) for v in np.unique(label) if v not in (0, ignore_index)]
    unknown = [v for v in present if v not in classes]
    if unknown:
        known = {k: (c.category, c.change_type) for k, c in classes.items()}
        raise ValueError(f'Label values {unknown} are not in the class table {known}; add '
                         'them (or load binary 0/255 labels with binary=True).')
    height, width = label.shape
    quadruples = []
    for index in present:
        mask = label == index
        cx, cy = mask_centroid(mask)
        num_pixels = int(mask.sum())
        cls = classes[index]
        quadruples.append(ChangeQuadruple(
            where=grid_direction(cx, cy, height, width), what=cls.category,
            how=(cls.exchanged_type or cls.change_type) if exchanged else cls.change_type,
            how_many=change_quantity(num_pixels, thresholds, height * width, reference_area),
            class_index=index, num_pixels=num_pixels, centroid=(cx, cy),
            what_singular=cls.singular()))
    return quadruples


def check_attributes(attributes: Sequence[str]) -> Tuple[str, ...]:
    """Validate the Table 5 switches: a subset of :data:`ATTRIBUTES`."""
    unknown = set(attributes) - set(ATTRIBUTES)
    if unknown or not attributes:
        raise ValueError(f'attributes must be a non-empty subset of {ATTRIBUTES}, '
                         f'got {tuple(attributes)}')
    return tuple(a for a in ATTRIBUTES if a in attributes)


def describe_quadruple(quadruple: ChangeQuadruple, template_index: int,
                       attributes: Sequence[str] = ATTRIBUTES,
                       generic_category: Tuple[str, str] = GENERIC_CATEGORY) -> str:
    """One sentence for one quadruple with Table 1 template ``template_index``
    (0-4), keeping only the ``attributes`` switched on (Table 5)."""
    attributes = check_attributes(attributes)
    singular = 'quantity' in attributes and quadruple.how_many == QUANTITIES[0]
    if 'category' in attributes:
        noun = quadruple.what_singular if singular else quadruple.what
    else:
        noun = generic_category[0 if singular else 1]
    words = [quadruple.how_many if 'quantity' in attributes else '',
             quadruple.how if 'type' in attributes else '', noun]
    subject = ' '.join(w for w in words if w)
    if 'location' not in attributes:
        template = TEMPLATES_WITHOUT_LOCATION[template_index]
    elif quadruple.where == 'center':
        template = CENTER_TEMPLATE
    else:
        template = TEMPLATES[template_index]
    sentence = template.format(subject=subject, location=quadruple.where,
                               be='is' if singular else 'are')
    return sentence[0].upper() + sentence[1:]


def render_change_text(quadruples: Sequence[ChangeQuadruple],
                       rng: Optional[np.random.Generator] = None,
                       template_index: Optional[int] = None,
                       attributes: Sequence[str] = ATTRIBUTES,
                       no_change_text: str = NO_CHANGE_TEXT,
                       generic_category: Tuple[str, str] = GENERIC_CATEGORY) -> str:
    """The text of one sample: one template for the whole sample (§3.1.4),
    drawn with ``rng`` unless ``template_index`` is given, applied to every
    quadruple; the sentences are joined with a space. One draw is made per
    call, also for tiles without change, so the random stream does not depend
    on the label."""
    if (rng is None) == (template_index is None):
        raise ValueError('render_change_text needs exactly one of rng and template_index.')
    if template_index is None:
        template_index = int(rng.integers(len(TEMPLATES)))
    if not 0 <= template_index < len(TEMPLATES):
        raise ValueError(f'template_index must be in 0..{len(TEMPLATES) - 1}, '
                         f'got {template_index}')
    if not quadruples:
        return no_change_text
    return ' '.join(describe_quadruple(q, template_index, attributes, generic_category)
                    for q in quadruples)


def all_template_texts(quadruples: Sequence[ChangeQuadruple], **kwargs) -> List[str]:
    """The sample's text under each of the five templates (for review/export);
    ``kwargs`` as in :func:`render_change_text`."""
    return [render_change_text(quadruples, template_index=i, **kwargs)
            for i in range(len(TEMPLATES))]
