"""S2M text from the change label, as a pipeline step (S2M §3.1)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mmcd_plugin.datasets.change_text import (ATTRIBUTES, GENERIC_CATEGORY, NO_CHANGE_TEXT,
                                              PAPER_QUANTITY_THRESHOLDS, ChangeQuadruple,
                                              ClassTableLike, change_quadruples, check_attributes,
                                              make_class_table, render_change_text)
from mmcd_plugin.registry import TRANSFORMS


@TRANSFORMS.register_module()
class GenerateChangeText(BaseTransform):
    """Describe ``gt_seg_map`` with S2M quadruples and a sentence (§3.1,
    Eq. 1-3, Table 1; functions in :mod:`mmcd_plugin.datasets.change_text`).

    Writes ``results['change_quadruples']`` (list of
    :class:`~mmcd_plugin.datasets.change_text.ChangeQuadruple`, one per change
    class present) and ``results['change_text']`` (str), which
    ``PackChangeInputs`` puts in the metainfo. The text describes the change,
    not a date, so it is not stored under ``texts`` (per-date captions that
    ``TemporalExchange`` swaps).

    Place it after every geometric augmentation and after ``TemporalExchange``
    and before ``PackChangeInputs``: the text must describe the label the model
    sees (a horizontally flipped mask swaps east and west; swapped dates turn
    'newly built' into the class's ``exchanged_type``, read from
    ``results['temporal_exchange']``).

    Template choice (one of the five of Table 1 per sample):

    - ``seed=None``: one draw from numpy's global generator per sample. The
      mmengine Runner seeds it (``randomness=dict(seed=...)``) in the main
      process and, per worker, with ``seed + worker_id`` (+ rank offset), so a
      run is reproducible for a given seed and number of workers, and a sample
      gets a fresh template each epoch, like the flips.
    - ``seed=int``: a ``numpy.random.Generator`` seeded with
      ``(seed, results['sample_idx'])``: each sample keeps one template for
      the whole training, independent of workers and of the other random
      transforms (like the paper's fixed "-MM" datasets).

    Args:
        class_table (str | dict): Label index -> (category, change type); a
            name of ``CLASS_TABLES`` ('levir_cd', 'whu_cd', 'delta_sn6',
            'gaza_change_example') or a mapping. Defaults to 'levir_cd'.
        thresholds (Sequence[float]): Eq. 3 areas. Defaults to (800, 4000, 8000).
        reference_area (int, optional): Tile area the thresholds are meant for
            (512 * 512 in the paper); when set they scale with the label's area.
            Defaults to None (unscaled, as in the paper).
        attributes (Sequence[str]): Table 5 switches: the attributes kept in the
            text, a subset of ('quantity', 'type', 'category', 'location').
            Defaults to all four.
        seed (int, optional): See above. Defaults to None.
        ignore_index (int): Label value that is not a change. Defaults to 255.
        no_change_text (str): Text of a tile without change.
            Defaults to 'There is no change in the scene.'.
        generic_category (tuple[str, str]): Singular and plural noun used when
            the category is switched off. Defaults to ('object', 'objects').
    """

    def __init__(self, class_table: ClassTableLike = 'levir_cd',
                 thresholds: Sequence[float] = PAPER_QUANTITY_THRESHOLDS,
                 reference_area: Optional[int] = None,
                 attributes: Sequence[str] = ATTRIBUTES, seed: Optional[int] = None,
                 ignore_index: int = 255, no_change_text: str = NO_CHANGE_TEXT,
                 generic_category: Tuple[str, str] = GENERIC_CATEGORY):
        self.class_table = make_class_table(class_table)
        self.thresholds = tuple(thresholds)
        self.reference_area = reference_area
        self.attributes = check_attributes(attributes)
        self.seed = seed
        self.ignore_index = ignore_index
        self.no_change_text = no_change_text
        self.generic_category = tuple(generic_category)

    def generator(self, results: Dict) -> np.random.Generator:
        """The sample's generator (see the class docstring)."""
        if self.seed is None:
            return np.random.default_rng(np.random.randint(np.iinfo(np.int32).max))
        if 'sample_idx' not in results:
            raise KeyError(f'GenerateChangeText(seed={self.seed}) needs results["sample_idx"] '
                           '(set by BiTemporalDataset); use seed=None otherwise.')
        return np.random.default_rng([self.seed, int(results['sample_idx'])])

    def quadruples(self, label: np.ndarray, exchanged: bool = False) -> List[ChangeQuadruple]:
        """The quadruples of a change label with this step's settings."""
        return change_quadruples(label, self.class_table, self.thresholds, self.reference_area,
                                 self.ignore_index, exchanged)

    def render_options(self) -> dict:
        """Keyword arguments of ``render_change_text`` / ``all_template_texts``."""
        return dict(attributes=self.attributes, no_change_text=self.no_change_text,
                    generic_category=self.generic_category)

    def transform(self, results: Dict) -> Dict:
        if 'gt_seg_map' not in results:
            raise KeyError(f'GenerateChangeText needs results["gt_seg_map"] '
                           f'({results.get("seg_map_path")}): put LoadChangeAnnotations '
                           'before it in the pipeline.')
        quadruples = self.quadruples(results['gt_seg_map'],
                                     exchanged=bool(results.get('temporal_exchange', False)))
        results['change_quadruples'] = quadruples
        results['change_text'] = render_change_text(quadruples, rng=self.generator(results),
                                                    **self.render_options())
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(classes={len(self.class_table)}, '
                f'thresholds={self.thresholds}, reference_area={self.reference_area}, '
                f'attributes={self.attributes}, seed={self.seed})')
