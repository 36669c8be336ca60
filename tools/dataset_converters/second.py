"""Convert the RGB-coded SECOND labels into class-index PNGs.

SECOND layout: ``{train,val}/{im1,im2,label1,label2}/*.png`` (``test/`` too if
present). Each ``<split>/label1`` and ``<split>/label2`` folder is converted
into ``<split>/label1_index`` and ``<split>/label2_index`` (or, with
``--out-dir``, into ``OUT_DIR/<split>/label1_index`` ...); the originals are
never modified. Classes: 0 unchanged (255, 255, 255), 1 water (0, 0, 255),
2 ground (128, 128, 128), 3 low vegetation (0, 128, 0), 4 tree (0, 255, 0),
5 building (128, 0, 0), 6 sports field (255, 0, 0).

Example::

    python tools/dataset_converters/second.py data/SECOND --nproc 8
"""
import argparse
import os.path as osp

from mmcd_plugin.datasets.label_conversion import (SECOND_PALETTE, LabelConversionError,
                                                   convert_dataset_labels)

SPLITS = ('train', 'val', 'test')
LABEL_DIRS = ('label1', 'label2')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Convert SECOND RGB labels to class indices')
    parser.add_argument('root', help='SECOND root holding train/ and val/')
    parser.add_argument('--out-dir', help='output root (default: next to the labels)')
    parser.add_argument('--suffix', default='_index', help='output folder suffix')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    splits = [s for s in SPLITS if osp.isdir(osp.join(args.root, s, LABEL_DIRS[0]))]
    if not splits:
        raise LabelConversionError(f'No {{{",".join(SPLITS)}}}/{LABEL_DIRS[0]} folder under '
                                   f'{args.root}: is it the SECOND root?')
    label_dirs = [f'{split}/{d}' for split in splits for d in LABEL_DIRS]
    outputs = convert_dataset_labels(args.root, label_dirs, SECOND_PALETTE,
                                     out_dir=args.out_dir, suffix=args.suffix,
                                     nproc=args.nproc)
    print('\nClass-index labels written to:\n  ' + '\n  '.join(outputs))


if __name__ == '__main__':
    main()
