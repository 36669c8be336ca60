"""Write the S2M quadruples and sentences of every tile of a dataset to JSON.

For review and for other models: each change label is turned into its
semantic quadruples (S2M §3.1, ``mmcd_plugin/datasets/change_text.py``) and
its text under each of the five templates of Table 1.

From a config: the split's dataset is read from ``<split>_dataloader``, the
label loading (``binary``) from its ``LoadChangeAnnotations`` and the text
settings from its ``GenerateChangeText`` step when present::

    python tools/generate_change_text.py configs/_base_/datasets/levir_cd.py \\
        --split train --class-table levir_cd --out work_dirs/levir-cd_train_text.json

From a data root and a dataset type (binary 0/255 labels are assumed when
the class table has the single class 1)::

    python tools/generate_change_text.py --data-root data/LEVIR-CD/test \\
        --dataset-type LEVIRCDDataset --class-table levir_cd --out levir_test_text.json

Output: ``{"meta": {settings}, "tiles": {label path relative to the data
root: {"height", "width", "quadruples": [...], "sentences": [5 texts]}}}``.
Command-line options override the config's ``GenerateChangeText`` settings.
"""
import argparse
import json
import os
import os.path as osp
from dataclasses import asdict

from mmengine.config import Config, DictAction
from mmengine.utils import ProgressBar

import mmcd_plugin  # noqa: F401  (registers the datasets)
from mmcd_plugin.datasets.change_text import ATTRIBUTES, TEMPLATES, all_template_texts
from mmcd_plugin.datasets.transforms import GenerateChangeText, LoadChangeAnnotations
from mmcd_plugin.registry import DATASETS

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export S2M change texts of a dataset to JSON')
    parser.add_argument('config', nargs='?', help='config with <split>_dataloader')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'],
                        help='which dataloader of the config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_dataloader.dataset.data_root=DIR')
    parser.add_argument('--data-root', help='dataset root (instead of a config)')
    parser.add_argument('--dataset-type', default='BiTemporalDataset',
                        help='dataset class for --data-root (its default layout is used)')
    parser.add_argument('--class-table', help='name (levir_cd, whu_cd, delta_sn6, '
                        'gaza_change_example) or JSON file {"1": ["buildings", "destroyed"]}')
    parser.add_argument('--thresholds', type=float, nargs=3, help='Eq. 3 areas')
    parser.add_argument('--reference-area', type=int,
                        help='tile area the thresholds are meant for (scales them)')
    parser.add_argument('--attributes', nargs='+', choices=ATTRIBUTES,
                        help='Table 5 attributes kept in the text (default: all)')
    parser.add_argument('--out', required=True, help='output JSON file')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.data_root is None):
        parser.error('give either a config or --data-root')
    if args.config is not None and not osp.isfile(args.config):
        parser.error(f'config file {args.config} not found')
    if args.data_root is not None and not osp.isdir(args.data_root):
        parser.error(f'data root {args.data_root} is not a directory')
    return args


def read_class_table(value: str):
    """A class-table name, or a JSON file mapping label index -> entry."""
    if not value.endswith('.json'):
        return value
    if not osp.isfile(value):
        raise FileNotFoundError(f'--class-table {value} not found.')
    with open(value) as f:
        return {int(k): v for k, v in json.load(f).items()}


def find_step(pipeline, name: str) -> dict:
    """Arguments of the pipeline step ``name`` (scope prefix allowed), or {}."""
    for step in pipeline:
        if isinstance(step, dict) and str(step.get('type', '')).split('.')[-1] == name:
            return {k: v for k, v in step.items() if k != 'type'}
    return {}


def dataset_and_settings(args):
    """The dataset (no pipeline), the label loader's ``binary`` and the
    ``GenerateChangeText`` step, from the config or the command line."""
    if args.config is not None:
        cfg = Config.fromfile(args.config)
        cfg.merge_from_dict(args.cfg_options or {})
        loader = cfg.get(f'{args.split}_dataloader')
        if not loader or 'dataset' not in loader:
            raise KeyError(f'{args.config} has no {args.split}_dataloader.dataset.')
        dataset_cfg = loader['dataset'].to_dict()
        pipeline = dataset_cfg.get('pipeline', [])
        binary = find_step(pipeline, 'LoadChangeAnnotations').get('binary', False)
        options = find_step(pipeline, 'GenerateChangeText')
    else:
        dataset_cfg = dict(type=args.dataset_type, data_root=args.data_root)
        binary, options = None, {}
    overrides = dict(thresholds=args.thresholds, reference_area=args.reference_area,
                     attributes=args.attributes,
                     class_table=args.class_table and read_class_table(args.class_table))
    options.update({k: v for k, v in overrides.items() if v is not None})
    if 'class_table' not in options:
        raise KeyError('No class table: pass --class-table or add GenerateChangeText '
                       'to the config pipeline.')
    step = GenerateChangeText(**{k: v for k, v in options.items() if k != 'seed'})
    if binary is None:
        binary = set(step.class_table) == {1}
    dataset_cfg['pipeline'] = []
    return DATASETS.build(dataset_cfg), binary, step


def describe_tile(label, step: GenerateChangeText) -> dict:
    """Quadruples and the five template texts of one change label."""
    quadruples = step.quadruples(label)
    return dict(height=label.shape[0], width=label.shape[1],
                quadruples=[q.to_dict() for q in quadruples],
                sentences=all_template_texts(quadruples, **step.render_options()))


def settings(step: GenerateChangeText) -> dict:
    """The text settings, for the JSON header."""
    return dict(class_table={k: asdict(c) for k, c in step.class_table.items()},
                thresholds=step.thresholds, reference_area=step.reference_area,
                ignore_index=step.ignore_index, templates=TEMPLATES, **step.render_options())


def main(argv=None):
    args = parse_args(argv)
    dataset, binary, step = dataset_and_settings(args)
    loader = LoadChangeAnnotations(binary=binary)
    tiles = {}
    progress = ProgressBar(len(dataset))
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if 'seg_map_path' not in info:
            raise KeyError(f'{type(dataset).__name__} sample {info["img_path"]} has no change '
                           'label (seg_map_path): the text is made from the labels.')
        label = loader.transform(dict(seg_map_path=info['seg_map_path'], seg_fields=[],
                                      num_classes=info.get('num_classes')))['gt_seg_map']
        tiles[osp.relpath(info['seg_map_path'], dataset.data_root)] = describe_tile(label, step)
        progress.update()
    meta = dict(dataset=type(dataset).__name__, data_root=dataset.data_root, binary=binary,
                **settings(step))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(meta=meta, tiles=tiles), f, indent=1)
    print(f'\n{len(tiles)} tiles described in {args.out}')


if __name__ == '__main__':
    main()
