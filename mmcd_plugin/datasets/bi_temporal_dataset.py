"""Base dataset for bi-temporal and multimodal change detection."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from mmcd_plugin.registry import DATASETS, TRANSFORMS
from .captions import pair_captions, read_captions

IMAGE_ROLES = ('img_path_from', 'img_path_to')
LABEL_ROLES = ('seg_map_path', 'seg_map_path_from', 'seg_map_path_to')


@DATASETS.register_module()
class BiTemporalDataset(BaseDataset):
    """Pairs of co-registered images with change (and semantic) labels.

    A sample is identified by an id (a file stem). Its files are found with
    :meth:`sample_files`: by default ``data_root/<prefix>/<id><suffix>`` for
    each role of ``data_prefix``:

    - ``img_path_from`` / ``img_path_to``: date-1 / date-2 images (required);
    - ``seg_map_path``: change label (class indices, 0 = no change);
    - ``seg_map_path_from`` / ``seg_map_path_to``: semantic maps (SCD).

    The ids come from the split list ``ann_file`` (one id or file name per
    line) or, without one, from the files in the date-1 folder. A split-list
    row may instead give explicit paths (relative to ``data_root``): date 1,
    date 2, then the labels, e.g. ``t1_sar.png t2_optical.png gt.png``. Every listed
    file is checked at start-up, so a broken dataset fails before training.

    The metainfo holds ``classes`` and ``palette`` of the change label,
    ``modalities`` of the two dates (e.g. ``('optical', 'sar')``) and, for SCD,
    ``semantic_classes`` / ``semantic_palette``.

    With ``caption_file`` every sample carries ``texts``: the captions of its
    two images, in date order (MMChange's VLM descriptions, see
    :mod:`mmcd_plugin.datasets.captions`); ``TemporalExchange`` swaps them with
    the images and ``PackChangeInputs`` puts them in the metainfo.

    Args:
        data_root (str): Dataset root.
        data_prefix (dict, optional): Folder of each role, relative to
            ``data_root``. Defaults to the class's ``DATA_PREFIX``
            (here ``A``, ``B``, ``label``).
        ann_file (str): Split list, relative to ``data_root``; '' lists the
            date-1 folder. Defaults to ''.
        img_suffix (str | tuple[str, str], optional): Image suffix, or one per
            date. Defaults to the class's ``IMG_SUFFIX`` (here '.png').
        seg_map_suffix (str, optional): Label suffix. Defaults to the class's
            ``SEG_MAP_SUFFIX`` (here '.png').
        caption_file (str): JSON ``{image path relative to data_root:
            caption}`` (``tools/caption_images.py``), relative to ``data_root``
            unless absolute; '' for no captions. Defaults to ''.
        missing_caption (str, optional): Sentence used for an image the
            caption file lacks; None (the default) makes it an error naming
            the image and the file.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``test_mode``, ``metainfo``, ``indices``, ...).
    """

    METAINFO = dict(classes=('unchanged', 'changed'), palette=[[0, 0, 0], [255, 255, 255]],
                    modalities=('optical', 'optical'))
    #: Layout defaults of the benchmark; subclasses override these.
    DATA_PREFIX = dict(img_path_from='A', img_path_to='B', seg_map_path='label')
    IMG_SUFFIX: Union[str, Sequence[str]] = '.png'
    SEG_MAP_SUFFIX = '.png'

    def __init__(self, data_root: str = '', data_prefix: Optional[Dict[str, str]] = None,
                 ann_file: str = '', img_suffix: Union[str, Sequence[str], None] = None,
                 seg_map_suffix: Optional[str] = None, caption_file: str = '',
                 missing_caption: Optional[str] = None, **kwargs):
        img_suffix = self.IMG_SUFFIX if img_suffix is None else img_suffix
        self.img_suffix = (img_suffix, img_suffix) if isinstance(img_suffix, str) \
            else tuple(img_suffix)
        self.seg_map_suffix = self.SEG_MAP_SUFFIX if seg_map_suffix is None else seg_map_suffix
        self.caption_file = caption_file
        self.missing_caption = missing_caption
        data_prefix = dict(self.DATA_PREFIX if data_prefix is None else data_prefix)
        missing = [role for role in IMAGE_ROLES if role not in data_prefix]
        if missing:
            raise KeyError(f'{type(self).__name__}: data_prefix needs {missing}; got '
                           f'{sorted(data_prefix)}.')
        # Transforms are built in this plugin's scope, so bare names work whatever
        # the caller's default scope (or none, outside a Runner).
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                    for t in kwargs.pop('pipeline', [])]
        super().__init__(data_root=data_root, data_prefix=data_prefix, ann_file=ann_file,
                         pipeline=pipeline, **kwargs)

    def layout_help(self) -> str:
        """How the files are laid out, for error messages."""
        folders = ', '.join(f'{role}: {prefix}/' for role, prefix in self._raw_prefix.items())
        split = f' and split list {self._raw_ann_file}' if self._raw_ann_file else ''
        return f'{folders}{split}'

    def sample_files(self, sample_id: str) -> Dict[str, str]:
        """Paths of every role of one sample; override for other naming."""
        suffixes = dict(img_path_from=self.img_suffix[0], img_path_to=self.img_suffix[1])
        return {role: osp.join(folder, sample_id + suffixes.get(role, self.seg_map_suffix))
                for role, folder in self.data_prefix.items()}

    def list_entries(self) -> List[List[str]]:
        """Rows of the split list (or one id per date-1 file without one)."""
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(
                    f'{type(self).__name__}: split list {self.ann_file} not found. Put '
                    f'it in {self.data_root} ({self.layout_help()}) or set ann_file.')
            with open(self.ann_file) as f:
                return [line.split() for line in f if line.strip()]
        folder = self.data_prefix['img_path_from']
        return [[n] for n in sorted(os.listdir(folder)) if n.endswith(self.img_suffix[0])]

    def entry_files(self, entry: List[str]) -> Dict[str, str]:
        """Files of one split-list row: an id (``sample_files``) or explicit
        paths relative to ``data_root`` in the order date 1, date 2, change
        label, semantic label 1, semantic label 2."""
        if len(entry) == 1:
            return self.sample_files(self.strip_suffix(entry[0]))
        if len(entry) > len(IMAGE_ROLES + LABEL_ROLES):
            raise ValueError(f'{self.ann_file}: a row has {len(entry)} columns, at most '
                             f'{len(IMAGE_ROLES + LABEL_ROLES)} are allowed: {entry}')
        return {role: osp.join(self.data_root, path)
                for role, path in zip(IMAGE_ROLES + LABEL_ROLES, entry)}

    def strip_suffix(self, name: str) -> str:
        stem = osp.basename(name)
        for suffix in (*self.img_suffix, '.png', '.tif', '.tiff', '.jpg'):
            if stem.endswith(suffix):
                return stem[:-len(suffix)]
        return stem

    def load_data_list(self) -> List[dict]:
        self._raw_prefix = {k: osp.relpath(v, self.data_root) for k, v in self.data_prefix.items()}
        self._raw_ann_file = osp.relpath(self.ann_file, self.data_root) if self.ann_file else ''
        if not osp.isdir(self.data_root or '.'):
            raise FileNotFoundError(
                f'{type(self).__name__}: data root {self.data_root!r} does not exist. Put '
                f'the dataset there ({self.layout_help()}) or set data_root, e.g. '
                '--cfg-options train_dataloader.dataset.data_root=/path/to/data')
        if not self.ann_file and not osp.isdir(self.data_prefix['img_path_from']):
            raise FileNotFoundError(f'{type(self).__name__}: image folder '
                                    f'{self.data_prefix["img_path_from"]} does not exist '
                                    f'({self.layout_help()}).')
        data_list = [self.sample_info(self.entry_files(e), i)
                     for i, e in enumerate(self.list_entries())]
        self.check_files(data_list)
        self.attach_captions(data_list)
        if not data_list:
            raise ValueError(f'{type(self).__name__}: no samples in {self.data_root} '
                             f'({self.layout_help()}); check the suffix {self.img_suffix}.')
        return data_list

    def sample_info(self, files: Dict[str, str], index: int) -> dict:
        info = dict(sample_idx=index, img_path=[files['img_path_from'], files['img_path_to']],
                    modalities=list(self.metainfo['modalities']),
                    num_classes=len(self.metainfo['classes']), seg_fields=[])
        if 'semantic_classes' in self.metainfo:
            info['semantic_num_classes'] = len(self.metainfo['semantic_classes'])
        info.update({role: files[role] for role in LABEL_ROLES if role in files})
        return info

    def check_files(self, data_list: List[dict]) -> None:
        missing = [path for info in data_list
                   for path in info['img_path'] + [info[r] for r in LABEL_ROLES if r in info]
                   if not osp.isfile(path)]
        if missing:
            shown = '\n  '.join(missing[:5])
            raise FileNotFoundError(
                f'{type(self).__name__}: {len(missing)} listed file(s) missing under '
                f'{self.data_root} ({self.layout_help()}), e.g.\n  {shown}')

    def attach_captions(self, data_list: List[dict]) -> None:
        """``texts`` of every sample from ``caption_file`` (all checked at start-up)."""
        if not self.caption_file:
            return
        path = self.caption_file if osp.isabs(self.caption_file) else \
            osp.join(self.data_root, self.caption_file)
        captions = read_captions(path)
        for info in data_list:
            info['texts'] = pair_captions(info['img_path'], self.data_root, captions, path,
                                          self.missing_caption)
