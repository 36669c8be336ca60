"""Map the changes between two georeferenced scenes of any size.

``python tools/infer_scene.py CONFIG CKPT --pre A.tif --post B.tif --out-dir DIR``

Writes DIR/change_map.tif (uint8 classes, palette, 255 = nodata),
DIR/change_polygons.geojson (class, area in m^2), DIR/change_report.txt,
DIR/change_summary.json, DIR/change_quicklook.png and, with --probabilities,
DIR/change_probabilities.tif. An interrupted run continues where it stopped
when started again with the same arguments. See mmcd_plugin/apis/.
"""
import argparse

import mmcd_plugin  # noqa: F401  (registers modules, safe checkpoint loading)
from mmcd_plugin.apis import ChangeSceneInferencer
from mmcd_plugin.apis.scene_io import RESAMPLING_METHODS
from mmcd_plugin.apis.scene_outputs import POLYGON_DRIVERS, PROBABILITY_NODATA
from mmcd_plugin.utils.launch import DictAction, load_config
from mmcd_plugin.utils.precision import PRECISIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--pre', required=True, help='pre-event (date 1) raster; defines the grid')
    parser.add_argument('--post', required=True, help='post-event (date 2) raster')
    parser.add_argument('--out-dir', required=True, help='output directory')
    parser.add_argument('--window', type=int, default=512, help='window side (pixels)')
    parser.add_argument('--overlap', type=int, default=128, help='overlap of neighbouring windows')
    parser.add_argument('--margin', type=int, help='window border pixels without weight where '
                        'windows overlap (default: overlap // 4)')
    parser.add_argument('--batch-size', type=int, default=4, help='windows per forward pass')
    parser.add_argument('--device', default=None, help="torch device, e.g. 'cpu', 'cuda:0'")
    parser.add_argument('--probabilities', action='store_true',
                        help='also write per-class probabilities')
    parser.add_argument('--probability-dtype', choices=sorted(PROBABILITY_NODATA),
                        default='uint8', help='uint8: percent 0-100, nodata 255; '
                        'float32: 0-1, nodata NaN')
    parser.add_argument('--resample-post', action='store_true',
                        help='warp the post-event image onto the pre-event grid when they differ')
    parser.add_argument('--resampling', choices=RESAMPLING_METHODS, default='bilinear')
    parser.add_argument('--polygons', nargs='*', choices=sorted(POLYGON_DRIVERS),
                        default=['geojson'], help='polygon files to write (none: no files)')
    parser.add_argument('--max-strips', type=int, help='stop after this many strips (rerun to '
                        'continue)')
    parser.add_argument('--keep-state', action='store_true',
                        help='keep the strip files in OUT_DIR/.infer_scene after success')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--change-classes', help="S2M class table for the report's sentences, "
                        "e.g. 'levir_cd' (see mmcd_plugin.datasets.change_text.CLASS_TABLES)")
    parser.add_argument('--no-optimize', action='store_true',
                        help='keep BatchNorms and ReLUs separate, the NCHW layout and glibc\'s '
                        'default allocator settings (by default BatchNorms, ReLUs and residual '
                        'sums are fused into the convolutions, the model runs channels-last '
                        'and freed memory is reused: same outputs, faster)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='bf16: matmuls and convolutions in bfloat16 (1.6-1.8x faster scenes '
                        'on CPUs with avx512_bf16 / AMX, docs/benchmarks.md; falls back to fp32 with a log line '
                        'elsewhere); stitching, softmax and argmax stay fp32')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, 'none', None)
    inferencer = ChangeSceneInferencer(cfg, args.checkpoint, device=args.device,
                                       change_classes=args.change_classes,
                                       optimize=not args.no_optimize,
                                       precision=args.precision)
    result = inferencer(
        args.pre, args.post, args.out_dir, window=args.window, overlap=args.overlap,
        margin=args.margin, batch_size=args.batch_size, probabilities=args.probabilities,
        probability_dtype=args.probability_dtype, resample_post=args.resample_post,
        resampling=args.resampling, polygons=args.polygons, max_strips=args.max_strips,
        progress=not args.no_progress, keep_state=args.keep_state)
    if result['status'] == 'complete':
        print(result['report'], end='')
        for name, path in result['outputs'].items():
            print(f'{name}: {path}')


if __name__ == '__main__':
    main()
