"""Peak memory of the STCFM neck (STSF-Net Eq. 1-5) at two input sizes.

The features imitate a Hiera-S / Swin-T pyramid (strides 4, 8, 16, 32,
channels 96, 192, 384, 768, batch 1) for square inputs of each ``--sizes``
entry. Both modalities are fed. For each size and mode the script reports the
peak memory above the state just before the call:

* ``infer``: forward under ``torch.no_grad()``;
* ``train``: forward + backward of ``sum(mean(C))``.

Measurement, all sizes in one run:

* CPU: every (size, mode) runs in a fresh subprocess; peak = ``ru_maxrss``
  after the call minus the resident set size just before it (model and
  inputs already built, one warm-up call at 1/8 of the size done first so
  that one-off library initialisation is not counted). This counts what the
  process really touched, not only tensors, so it carries a few MB of
  allocator noise.
* CUDA: ``torch.cuda.max_memory_allocated`` after
  ``reset_peak_memory_stats``, minus ``memory_allocated`` before the call.

It also prints the memory one dense N x N float32 adjacency per scale would
take, for comparison with the O(N) grid graph.

Example::

    python tools/analysis_tools/benchmark_stcfm_memory.py
    python tools/analysis_tools/benchmark_stcfm_memory.py --device cuda
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MB = 2 ** 20


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[512, 1024],
                        help='square input sizes (pixels)')
    parser.add_argument('--channels', type=int, nargs='+', default=[96, 192, 384, 768])
    parser.add_argument('--strides', type=int, nargs='+', default=[4, 8, 16, 32])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--modes', nargs='+', default=['infer', 'train'],
                        choices=['infer', 'train'])
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--neck', default='{}',
                        help='JSON of extra SpatioTemporalCommonFeatureModeling kwargs, '
                             'e.g. \'{"gcn_reduction": 1, "graph": "grid"}\'')
    parser.add_argument('--worker', nargs=2, metavar=('SIZE', 'MODE'), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def current_rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def build(args, size):
    import torch
    sys.path.insert(0, REPO)
    from mmcd_plugin.models.necks import SpatioTemporalCommonFeatureModeling
    torch.manual_seed(0)
    neck = SpatioTemporalCommonFeatureModeling(args.channels, **json.loads(args.neck))
    neck = neck.to(args.device)
    feats = [[torch.randn(args.batch, c, size // s, size // s, device=args.device)
              for c, s in zip(args.channels, args.strides)] for _ in range(2)]
    return neck, feats


def run_once(neck, feats, mode):
    import torch
    if mode == 'infer':
        neck.eval()
        with torch.no_grad():
            neck(*feats)
    else:
        neck.train()
        c_opt, c_sar = neck(*feats)
        sum(t.mean() for t in c_opt + c_sar).backward()


def worker(args):
    """One (size, mode) on CPU in this fresh process; prints JSON."""
    import gc
    size, mode = int(args.worker[0]), args.worker[1]
    # warm-up at 1/8 of the size: one-off library initialisation (thread
    # pools, kernel caches) would otherwise count towards the measured peak
    run_once(*build(args, max(size // 8, max(args.strides))), mode)
    neck, feats = build(args, size)
    gc.collect()
    before = current_rss()
    start = time.perf_counter()
    run_once(neck, feats, mode)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps(dict(peak=max(peak - before, 0), seconds=seconds)))


def measure_cpu(args, size, mode):
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', str(size), mode,
           '--channels', *map(str, args.channels), '--strides', *map(str, args.strides),
           '--batch', str(args.batch), '--device', 'cpu', '--neck', args.neck]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_cuda(args, size, mode):
    import torch
    neck, feats = build(args, size)
    run_once(neck, feats, mode)  # warm-up (cuDNN workspaces, kernels)
    neck.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run_once(neck, feats, mode)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return dict(peak=torch.cuda.max_memory_allocated() - before, seconds=seconds)


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    measure = measure_cuda if args.device.startswith('cuda') else measure_cpu
    print(f'STCFM peak memory, device={args.device}, batch={args.batch}, '
          f'channels={args.channels}, strides={args.strides}, neck kwargs={args.neck}')
    header = (f"{'input':>6} {'nodes/scale':>24} {'features MB':>11} "
              + ''.join(f'{m + " MB":>10} {m + " s":>8} ' for m in args.modes)
              + f"{'dense NxN MB':>13}")
    print(header)
    rows = {}
    for size in args.sizes:
        nodes = [(size // s) ** 2 for s in args.strides]
        feat_mb = 2 * args.batch * sum(n * c for n, c in zip(nodes, args.channels)) * 4 / MB
        dense_mb = sum(n * n for n in nodes) * 4 / MB
        results = {mode: measure(args, size, mode) for mode in args.modes}
        rows[size] = results
        line = f"{size:>6} {'/'.join(map(str, nodes)):>24} {feat_mb:>11.1f} "
        for mode in args.modes:
            line += f"{results[mode]['peak'] / MB:>10.1f} {results[mode]['seconds']:>8.2f} "
        print(line + f'{dense_mb:>13.0f}')
    if len(args.sizes) >= 2:
        small, large = args.sizes[0], args.sizes[-1]
        pixels = (large / small) ** 2
        for mode in args.modes:
            ratio = rows[large][mode]['peak'] / max(rows[small][mode]['peak'], 1)
            print(f'{mode}: peak({large}) / peak({small}) = {ratio:.2f} '
                  f'(pixel ratio {pixels:.0f}; a dense adjacency would scale by '
                  f'{pixels ** 2:.0f})')


if __name__ == '__main__':
    main()
