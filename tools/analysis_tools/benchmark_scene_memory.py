"""Peak memory of scene inference (tools/infer_scene.py) against scene size.

Writes synthetic pre/post GeoTIFF scenes of each ``--sizes`` entry (3-band
uint8, EPSG:32631, 0.5 m pixels, tiled + deflate; textured ground with
rectangular "buildings" that appear between the dates), saves the config's
model with random weights as a Runner-layout checkpoint (its pretrained-weight
paths dropped, so no weights need downloading), then runs
the whole scene pipeline (windowed inference, stitching, GeoTIFFs with
probabilities, polygons, report) once per size, each in a fresh subprocess,
and reports that process's peak resident set size (``ru_maxrss``: everything
it touched, libraries and model included). The target is a ratio of at most
1.2 between the largest and the smallest scene.

A model with random weights maps the whole scene to one class, so the
polygon stage has nothing to do in that run. A second measurement
(``outputs``) therefore runs the output stage alone (polygons, summary,
report) on a synthetic class map with one change region every 32 x 32 pixels
(4,096 regions at 2048^2, 65,536 at 8192^2), again in a fresh process with
the model loaded.

``--precisions fp32 bf16`` runs the scene stage once per precision
(``ChangeSceneInferencer(precision=...)``), so that the peak memory and the
throughput of bf16 inference sit next to fp32's; the throughput is the
scene's area (0.5 m pixels: a 2048^2 scene is 1.05 km^2) over the time of
the scene call alone (model loading left out), in km^2 per hour.

Example::

    python tools/analysis_tools/benchmark_scene_memory.py                  # 2048^2 and 8192^2
    python tools/analysis_tools/benchmark_scene_memory.py --sizes 1024 2048 --window 256
    python tools/analysis_tools/benchmark_scene_memory.py --sizes 2048 --stages scene \
        --config configs/lsafnet/lsafnet_r34_second.py --precisions fp32 bf16
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py')
ROWS_PER_WRITE = 256
PIXEL_METRES = 0.5
BUILDING_SPACING = 256


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[2048, 8192],
                        help='square scene sizes (pixels)')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--window', type=int, default=512)
    parser.add_argument('--overlap', type=int, default=128)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/benchmark_scene_memory'))
    parser.add_argument('--stages', nargs='+', choices=['scene', 'outputs'],
                        default=['scene', 'outputs'])
    parser.add_argument('--precisions', nargs='+', choices=['fp32', 'bf16'], default=['fp32'],
                        help='precisions of the scene stage, each in its own process')
    parser.add_argument('--worker', nargs=3, metavar=('STAGE', 'SIZE', 'PRECISION'),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def synthetic_rows(size: int, first: int, count: int, post: bool) -> np.ndarray:
    """``(3, count, size)`` uint8 rows of the synthetic scene (deterministic)."""
    rng = np.random.RandomState(first)
    rows = np.arange(first, first + count)[:, None]
    cols = np.arange(size)[None]
    ground = 90 + 30 * np.sin(rows / 37.0) * np.cos(cols / 53.0) + rng.normal(0, 8, (count, size))
    image = np.repeat(ground[None], 3, axis=0) * np.array([1.0, 1.1, 0.8])[:, None, None]
    building = ((rows % BUILDING_SPACING) < 40) & ((cols % BUILDING_SPACING) < 60)
    new = building & (((rows // BUILDING_SPACING) + (cols // BUILDING_SPACING)) % 3 == 0)
    image[:, building if post else building & ~new] = 200
    return np.clip(image, 0, 255).astype(np.uint8)


def write_scene(path: str, size: int, post: bool) -> None:
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    profile = dict(driver='GTiff', width=size, height=size, count=3, dtype='uint8',
                   crs='EPSG:32631', transform=from_origin(600000, 5700000, 0.5, 0.5),
                   tiled=True, blockxsize=256, blockysize=256, compress='deflate')
    with rasterio.open(path, 'w', **profile) as dst:
        for first in range(0, size, ROWS_PER_WRITE):
            count = min(ROWS_PER_WRITE, size - first)
            dst.write(synthetic_rows(size, first, count, post),
                      window=Window(0, first, size, count))


def write_region_map(path: str, size: int) -> None:
    """A class map with a 12 x 20 pixel change region every 32 x 32 pixels."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from mmcd_plugin.apis.scene_outputs import geotiff_profile
    grid = dict(height=size, width=size, crs='EPSG:32631',
                transform=from_origin(600000, 5700000, 0.5, 0.5))
    with rasterio.open(path, 'w', **geotiff_profile(grid, 1, 'uint8', 255)) as dst:
        for first in range(0, size, ROWS_PER_WRITE):
            rows = np.arange(first, first + ROWS_PER_WRITE)[:, None] % 32 < 12
            region = rows & (np.arange(size)[None] % 32 < 20)
            dst.write(region[None].astype(np.uint8), window=Window(0, first, size, ROWS_PER_WRITE))


def save_random_model(config: str, work_dir: str) -> str:
    """Save ``config`` without its pretrained-weight paths (random weights:
    the benchmark needs no downloads) and its model's random weights as a
    Runner-layout checkpoint; return the saved config's path."""
    import torch
    from get_flops import strip_pretrained
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmcd_plugin  # noqa: F401
    from mmcd_plugin.apis.scene_inferencer import dataset_meta_from_config
    from mmcd_plugin.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model = strip_pretrained(cfg.model.to_dict())
    config = osp.join(work_dir, 'random_config.py')
    cfg.dump(config)
    init_default_scope('mmcd_plugin')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(dataset_meta=dataset_meta_from_config(cfg)),
                    state_dict=model.state_dict()), osp.join(work_dir, 'random.pth'))
    return config


def worker(args) -> None:
    """Run one stage for one size in this process and print its peak RSS as JSON."""
    import rasterio
    import torch

    from mmcd_plugin.apis import ChangeSceneInferencer
    stage, size, precision = args.worker[0], int(args.worker[1]), args.worker[2]
    torch.manual_seed(0)
    scene = osp.join(args.work_dir, f'scene_{size}')
    start = time.time()
    inferencer = ChangeSceneInferencer(args.config, osp.join(args.work_dir, 'random.pth'),
                                       device='cpu', precision=precision)
    scene_start = time.time()
    if stage == 'scene':
        result = inferencer(f'{scene}_pre.tif', f'{scene}_post.tif', f'{scene}_out',
                            window=args.window, overlap=args.overlap,
                            batch_size=args.batch_size, probabilities=True,
                            polygons=('geojson', ), progress=False)
    else:
        os.makedirs(f'{scene}_outputs', exist_ok=True)
        with rasterio.Env(GDAL_CACHEMAX=64):
            result = inferencer.postprocess(f'{scene}_regions.tif', out_dir=f'{scene}_outputs')
    regions = sum(c['regions'] for c in result['summary']['classes'])
    scene_seconds = time.time() - scene_start
    km2 = (size * PIXEL_METRES) ** 2 / 1e6
    print(json.dumps(dict(stage=stage, size=size, precision=inferencer.precision,
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          seconds=time.time() - start, scene_seconds=scene_seconds,
                          km2_per_hour=km2 * 3600 / scene_seconds, regions=regions)))


def main():
    args = parse_args()
    sys.path.insert(0, REPO)
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    if args.worker:
        return worker(args)
    os.makedirs(args.work_dir, exist_ok=True)
    model_config = save_random_model(args.config, args.work_dir)
    results = []
    runs = [(stage, size, precision) for stage in args.stages for size in args.sizes
            for precision in (args.precisions if stage == 'scene' else ['fp32'])]
    for stage, size, precision in runs:
        prepare(args, stage, size)
        command = [sys.executable, __file__, '--worker', stage, str(size), precision,
                   '--config', model_config, '--window', str(args.window),
                   '--overlap', str(args.overlap), '--batch-size', str(args.batch_size),
                   '--work-dir', args.work_dir]
        out = subprocess.run(command, check=True, capture_output=True, text=True,
                             env={**os.environ, 'PYTHONPATH': REPO}).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(f'\nwindow {args.window}, overlap {args.overlap}, batch {args.batch_size}, '
          f'config {osp.relpath(args.config, REPO)}')
    print('| stage | scene | precision | peak RSS (MiB) | time (s) | km^2 / h | change regions |')
    print('|---|---|---|---|---|---|---|')
    for r in results:
        print(f'| {r["stage"]} | {r["size"]}^2 | {r["precision"]} | {r["peak_rss_mb"]:.0f} | '
              f'{r["seconds"]:.0f} | {r["km2_per_hour"]:.1f} | {r["regions"]:,} |')
    for stage in args.stages:
        peaks = [r['peak_rss_mb'] for r in results
                 if r['stage'] == stage and r['precision'] == results[0]['precision']]
        print(f'{stage}: peak RSS ratio {args.sizes[-1]}^2 / {args.sizes[0]}^2 = '
              f'{peaks[-1] / peaks[0]:.3f} (target <= 1.2)')


def prepare(args, stage: str, size: int) -> None:
    """Write the inputs of a stage unless they exist."""
    scene = osp.join(args.work_dir, f'scene_{size}')
    if stage == 'outputs':
        if not osp.isfile(f'{scene}_regions.tif'):
            write_region_map(f'{scene}_regions.tif', size)
        return
    for post in (False, True):
        path = f'{scene}_{"post" if post else "pre"}.tif'
        if not osp.isfile(path):
            write_scene(path, size, post)


if __name__ == '__main__':
    main()
