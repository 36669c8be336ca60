"""Write a synthetic optical + SAR change-detection dataset in the Delta-SN6 layout.

Example::

    python tools/dataset_converters/make_synthetic_sn6.py data/synthetic_sn6 \
        --num-tiles 24 --size 128 --seed 0

See ``mmcd_plugin/datasets/synthetic.py`` for the layout, file names and the
physics of the optical and SAR images.
"""
import argparse
import time

from mmcd_plugin.datasets.synthetic import make_synthetic_delta_sn6


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate a synthetic Delta-SN6-style optical/SAR dataset')
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--num-tiles', type=int, default=24, help='number of tiles')
    parser.add_argument('--size', type=int, default=128, help='tile side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--splits', type=float, nargs=3, default=(0.7, 0.15, 0.15),
                        metavar=('TRAIN', 'VAL', 'TEST'), help='split fractions')
    parser.add_argument('--sar-nan-fraction', type=float, default=0.0,
                        help='share of SAR pixels set to NaN (nodata)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    summary = make_synthetic_delta_sn6(args.out_dir, num_tiles=args.num_tiles,
                                       tile_size=args.size, seed=args.seed,
                                       splits=args.splits,
                                       sar_nan_fraction=args.sar_nan_fraction)
    seconds = time.perf_counter() - start
    print(f'Wrote {args.num_tiles} tiles of {args.size}x{args.size} to {args.out_dir} '
          f'in {seconds:.1f} s ({args.num_tiles / seconds:.1f} tiles/s)')
    print('Tiles per split: ' + ', '.join(f'{k} {v}' for k, v in summary['splits'].items()))
    total = max(1, sum(summary['class_pixels'].values()))
    for name, count in summary['class_pixels'].items():
        print(f'  {name:<22}{count:>12d} px  {100 * count / total:6.2f} %')


if __name__ == '__main__':
    main()
