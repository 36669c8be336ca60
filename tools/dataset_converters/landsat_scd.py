"""Convert the RGB-coded Landsat-SCD labels into class-index PNGs.

Landsat-SCD layout: ``{A,B,labelA,labelB}/*.png`` +
``{train,val,test}_list.txt``. ``labelA`` and ``labelB`` are converted into
``labelA_index`` and ``labelB_index`` (or, with ``--out-dir``, into
``OUT_DIR/labelA_index`` ...); the originals are never modified. Classes:
0 no change (255, 255, 255), 1 farmland (0, 155, 0), 2 desert (255, 165, 0),
3 building (230, 30, 100), 4 water (0, 170, 240).

Example::

    python tools/dataset_converters/landsat_scd.py data/Landsat-SCD --nproc 8
"""
import argparse

from mmcd_plugin.datasets.label_conversion import (LANDSAT_SCD_PALETTE,
                                                   convert_dataset_labels)

LABEL_DIRS = ('labelA', 'labelB')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert Landsat-SCD RGB labels to class indices')
    parser.add_argument('root', help='Landsat-SCD root holding labelA/ and labelB/')
    parser.add_argument('--out-dir', help='output root (default: the dataset root)')
    parser.add_argument('--suffix', default='_index', help='output folder suffix')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    outputs = convert_dataset_labels(args.root, LABEL_DIRS, LANDSAT_SCD_PALETTE,
                                     out_dir=args.out_dir, suffix=args.suffix,
                                     nproc=args.nproc)
    print('\nClass-index labels written to:\n  ' + '\n  '.join(outputs))


if __name__ == '__main__':
    main()
