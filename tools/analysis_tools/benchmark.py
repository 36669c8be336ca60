"""Latency, throughput and efficiency against the machine's physical limit.

    python tools/analysis_tools/benchmark.py CONFIG [CONFIG ...] [--shapes 256 512]
        [--repeats 5] [--batch 1] [--memory 256 512 1024] [--json OUT]

For every config and input size the tool measures, in one run:

* the model's GFLOPs per pair (mmengine's ``FlopAnalyzer``, one multiply-add
  = one FLOP, the convention of the papers' tables and of ``get_flops.py``);
* latency: median wall time of one inference forward of ``--batch`` pairs
  (``torch.inference_mode``, after warm-up), and throughput in pairs/s;
* the dense-matmul rate of this machine: fp32 ``torch.mm`` of two
  2048 x 2048 matrices, counted in the same convention (n^3 multiply-adds),
  measured before the models and again after them (the larger is used:
  the limit the hardware reached in this run);
* efficiency = (GFLOPs / latency) / matmul rate: the fraction of the
  machine's dense-matmul throughput the model achieves.

``--channels-last`` runs models and inputs in the channels-last memory
format (faster oneDNN convolutions on CPU).

``--memory`` runs each config at the given sizes in fresh subprocesses and
reports the resident memory one forward adds at each size (peak sampled
during a second forward, minus the resident set before it), and that increase per
megapixel: constant when memory is linear in the number of pixels.

Pretrained weight files named in the configs are not needed (the models keep
random weights; speed does not depend on them).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List

import torch
from mmengine.config import Config

import mmcd_plugin  # noqa: F401

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from get_flops import PairForward, analyse_model, build_model, pair_channels  # noqa: E402


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Dense fp32 matmul rate of this machine in GFLOP/s (n^3 multiply-adds)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return n ** 3 / min(times) / 1e9


def time_forward(model: torch.nn.Module, shape, batch: int, repeats: int,
                 channels_last: bool = False) -> float:
    """Median seconds of one forward of ``batch`` pairs."""
    inputs = torch.randn(batch, pair_channels(model.model), *shape)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(inputs)  # warm-up: allocator, kernels, caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark(config: str, shapes: List[int], batch: int, repeats: int,
              channels_last: bool = False) -> List[Dict]:
    segmentor = build_model(Config.fromfile(config))
    model = PairForward(segmentor)
    rows = []
    for size in shapes:
        shape = (size, size)
        gflops = analyse_model(segmentor, shape)['gflops']
        latency = time_forward(model, shape, batch, repeats, channels_last)
        rows.append(dict(config=config, size=size, batch=batch, gflops=gflops,
                         channels_last=channels_last,
                         latency_s=latency, pairs_per_s=batch / latency,
                         achieved_gflops_per_s=gflops * batch / latency))
    return rows


def memory_child(config: str, size: int) -> Dict:
    """Run in a fresh process: resident memory a forward at ``size`` adds.

    The first forward at the size warms up (thread pools, convolution
    primitives and scratch buffers for that shape); during the second, a
    thread samples the resident set every millisecond. The result is the
    peak during that forward minus the resident set just before it: the
    working memory of inference at that size.
    """
    model = PairForward(build_model(Config.fromfile(config)))
    inputs = torch.randn(1, pair_channels(model.model), size, size)
    with torch.inference_mode():
        model(inputs)
        before_kb = _current_rss_kb()
        with _PeakRSS() as peak:
            model(inputs)
    return dict(config=config, size=size, forward_peak_mib=(peak.kb - before_kb) / 1024)


class _PeakRSS:
    """Context manager sampling the resident set size in a background thread."""

    def __enter__(self):
        self.kb, self._stop = _current_rss_kb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.001):
            self.kb = max(self.kb, _current_rss_kb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.kb = max(self.kb, _current_rss_kb())


def _current_rss_kb() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def memory_scaling(config: str, sizes: List[int]) -> List[Dict]:
    rows = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, __file__, config, '--memory-child', str(size)],
            check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        row['mib_per_megapixel'] = row['forward_peak_mib'] / (size * size / 1e6)
        rows.append(row)
    return rows


def format_table(rows: List[Dict], matmul: float) -> str:
    lines = [f'dense matmul (fp32, 2048^3): {matmul:.1f} GFLOP/s, '
             f'{torch.get_num_threads()} threads',
             f'{"config":<58}{"size":>6}{"GFLOPs":>9}{"latency s":>11}{"pairs/s":>9}'
             f'{"GFLOP/s":>9}{"efficiency":>11}']
    for r in rows:
        lines.append(f'{osp.basename(r["config"]):<58}{r["size"]:>6}{r["gflops"]:>9.2f}'
                     f'{r["latency_s"]:>11.3f}{r["pairs_per_s"]:>9.2f}'
                     f'{r["achieved_gflops_per_s"]:>9.1f}{r["efficiency"]:>10.0%}')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description='Latency / efficiency / memory benchmark')
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--shapes', type=int, nargs='+', default=[256, 512])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--channels-last', action='store_true',
                        help='run the models and inputs in channels-last memory format')
    parser.add_argument('--memory', type=int, nargs='*', default=None,
                        help='sizes for the memory-scaling runs (e.g. 256 512 1024)')
    parser.add_argument('--memory-child', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.configs[0], args.memory_child)))
        return

    matmul_before = matmul_gflops()
    rows = [row for config in args.configs
            for row in benchmark(config, args.shapes, args.batch, args.repeats,
                                 args.channels_last)]
    matmul = max(matmul_before, matmul_gflops())
    for row in rows:
        row['efficiency'] = row['achieved_gflops_per_s'] / matmul
    print(format_table(rows, matmul))
    result = dict(matmul_gflops_per_s=matmul, threads=torch.get_num_threads(), speed=rows)
    if args.memory:
        memory = [row for config in args.configs for row in memory_scaling(config, args.memory)]
        print(f'\n{"config":<58}{"size":>6}{"forward peak MiB":>18}{"MiB / Mpx":>11}')
        for r in memory:
            print(f'{osp.basename(r["config"]):<58}{r["size"]:>6}'
                  f'{r["forward_peak_mib"]:>18.1f}{r["mib_per_megapixel"]:>11.1f}')
        result['memory'] = memory
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
