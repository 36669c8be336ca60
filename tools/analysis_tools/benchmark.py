"""Latency, throughput and efficiency against the machine's physical limit.

    python tools/analysis_tools/benchmark.py CONFIG [CONFIG ...] [--shapes 256 512]
        [--repeats 5] [--batch 1] [--variants plain optimized] [--paired]
        [--memory 256 512 1024] [--json OUT]

For every config, input size and variant the tool measures, in one run:

* the model's GFLOPs per pair (mmengine's ``FlopAnalyzer`` plus attention
  done by ``scaled_dot_product_attention``, one multiply-add = one FLOP, the
  convention of the papers' tables and of ``get_flops.py``), counted after a
  warm-up forward like the timed ones (see :func:`count_timed_gflops`);
* latency: median wall time of one inference forward of ``--batch`` pairs
  (``torch.inference_mode``, after a warm-up), and throughput in pairs/s;
* the dense-matmul rates of this machine: ``torch.mm`` of two 2048 x 2048
  matrices in fp32 and in bf16, counted in the same convention (n^3
  multiply-adds), the best of 3 each, measured right after *every* timed
  forward;
* efficiency = (GFLOPs / latency) / matmul rate of each forward and the
  matmul probe of its own precision that follows it (a bf16 variant against
  the bf16 rate), the median over the repeats. Shared machines
  change speed from second to second (we saw the matmul rate move between
  118 and 193 GFLOP/s on the same 2 cores); pairing each forward with its own
  probe keeps the ratio meaningful where separate measurements are not.

Variants (``--variants``), measured in this order on one model:

* ``plain``: the model as built (NCHW, BatchNorms separate);
* ``channels-last``: channels-last memory format only;
* ``folded``: conv-BN folding, channels-last and freed memory kept for
  reuse (:func:`mmcd_plugin.utils.optimize_for_inference` without
  ``fuse_conv_relu``);
* ``optimized``: all of :func:`mmcd_plugin.utils.optimize_for_inference`,
  ``folded`` plus convolutions on prepacked weights with their ReLUs and
  residual sums fused in: what ``tools/infer_scene.py`` runs by default and
  ``tools/test.py --fuse-conv-bn --channels-last`` runs;
* ``plain-bf16`` and ``optimized-bf16``: those two under bf16 autocast
  (:mod:`mmcd_plugin.utils.precision`; ``optimized`` also packs the linear
  layers' bf16 weights once): ``--precision bf16`` of ``tools/test.py`` and
  ``tools/infer_scene.py``. On a CPU without native bf16 they run in fp32,
  with a log line, and their rows say ``fp32``.

``--paired`` (two variants) times them alternately instead of one after
the other: each variant on its own copy of the model, ``--repeats`` rounds of
(A, B, B, A), each forward followed by its probe; it adds the speed-up of B
over A, the median of the per-round ratios with its quartiles. The machine's
speed swings by more than many optimisations gain, so before/after figures
should come from here.

``--memory`` runs each config at the given sizes in fresh subprocesses and
reports the peak resident memory one forward adds at each size, and that
increase per megapixel: constant when memory is linear in the number of
pixels (see :func:`memory_child`).

Pretrained weight files named in the configs are not needed (the models keep
random weights; speed does not depend on them).
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from functools import partial
from typing import Callable, Dict, List, NamedTuple

import torch
from mmengine.config import Config

import mmcd_plugin  # noqa: F401
from mmcd_plugin.utils.inference_optimization import optimize_for_inference
from mmcd_plugin.utils.precision import PRECISIONS, inference_precision, resolve_precision

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from get_flops import PairForward, analyse_model, build_model, pair_channels  # noqa: E402

#: Buffers from this size (bytes) on are mapped and unmapped (memory children).
MMAP_THRESHOLD = 1 << 16
class Variant(NamedTuple):
    """How a variant runs the model."""
    fuse_conv_bn: bool
    channels_last: bool
    fuse_conv_relu: bool
    precision: str = 'fp32'


#: Variant name -> how it runs; applied in this order (folding is for good).
VARIANTS = {'plain': Variant(False, False, False),
            'plain-bf16': Variant(False, False, False, 'bf16'),
            'channels-last': Variant(False, True, False),
            'folded': Variant(True, True, False), 'optimized': Variant(True, True, True),
            'optimized-bf16': Variant(True, True, True, 'bf16')}
MATMUL_DTYPES = dict(fp32=torch.float32, bf16=torch.bfloat16)


class MatmulProbe:
    """Dense matmul rates of this machine in GFLOP/s (n^3 multiply-adds), in
    fp32 and in bf16.

    Args:
        n (int): Matrix side. Defaults to 2048.
    """

    def __init__(self, n: int = 2048):
        self.n = n
        gen = torch.Generator().manual_seed(0)
        self.operands = {name: (torch.randn(n, n, generator=gen).to(dtype),
                                torch.randn(n, n, generator=gen).to(dtype))
                         for name, dtype in MATMUL_DTYPES.items()}
        for a, b in self.operands.values():
            torch.mm(a, b)

    def rate(self, repeats: int = 3) -> Dict[str, float]:
        """Per precision, the best of ``repeats`` products, in GFLOP/s."""
        rates = {}
        for name, (a, b) in self.operands.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                torch.mm(a, b)
                times.append(time.perf_counter() - start)
            rates[name] = self.n ** 3 / min(times) / 1e9
        return rates


def time_forward(model: torch.nn.Module, inputs: torch.Tensor, repeats: int,
                 probe: MatmulProbe, precision: str = 'fp32') -> Dict[str, List]:
    """The latency of each of ``repeats`` forwards ``model(inputs)`` in
    ``precision`` and the matmul rates measured right after it
    (:func:`timing_row` summarises)."""
    with torch.inference_mode(), inference_precision(precision):
        model(inputs)  # warm-up: allocator, kernels, caches
        latencies, rates = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs)
            latencies.append(time.perf_counter() - start)
            rates.append(probe.rate())
    return dict(latencies=latencies, matmul_rates=rates)


def count_timed_gflops(model: PairForward, size: int) -> float:
    """GFLOPs of the forwards that get timed: after a warm-up forward, as
    they are. A frozen text encoder's sentence cache (MMChange, S2M) then
    holds the caption, so its encoding is neither timed nor counted (2.95
    GFLOPs of MMChange's 54.87 at 256^2 on a first, uncached call)."""
    with torch.inference_mode():
        model(torch.zeros(1, pair_channels(model.model), size, size))
    return analyse_model(model.model, (size, size))['gflops']


def apply_variant(segmentor: torch.nn.Module, variant: str) -> None:
    """Put ``segmentor`` in the state of ``variant`` (folding cannot be undone)."""
    fuse, channels_last, fuse_relu, _ = VARIANTS[variant]
    if getattr(segmentor, '_conv_bn_fused', False) and not fuse:
        raise ValueError(f'variant {variant!r} must come before any folded variant')
    if fuse:
        optimize_for_inference(segmentor, fuse_conv_bn=True, channels_last=channels_last,
                               fuse_conv_relu=fuse_relu)
    segmentor.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def paired_timing(runs: Dict[str, Callable[[], object]], iters: int,
                  probe: MatmulProbe) -> Dict[str, Dict[str, List[float]]]:
    """Alternate two callables (A, B, B, A per round), a matmul probe after
    each call: latencies and probe rates per callable, and the per-round
    ratios A time / B time (above 1: B is faster)."""
    (name_a, run_a), (name_b, run_b) = runs.items()
    result = {name_a: dict(latencies=[], rates=[]), name_b: dict(latencies=[], rates=[])}
    ratios = []
    with torch.inference_mode():
        for run in (run_a, run_b):
            run()
        for _ in range(iters):
            spent = {name_a: 0.0, name_b: 0.0}
            for name, run in ((name_a, run_a), (name_b, run_b), (name_b, run_b),
                              (name_a, run_a)):
                start = time.perf_counter()
                run()
                elapsed = time.perf_counter() - start
                spent[name] += elapsed
                result[name]['latencies'].append(elapsed)
                result[name]['rates'].append(probe.rate())
            ratios.append(spent[name_a] / spent[name_b])
    result['ratios'] = ratios
    return result


def speedup_summary(ratios: List[float]) -> Dict:
    """The speed-up of :func:`paired_timing`'s per-round ratios: median,
    quartiles and the ratios themselves."""
    return dict(speedup=statistics.median(ratios),
                speedup_quartiles=statistics.quantiles(ratios, n=4), round_ratios=ratios)


def timing_row(config: str, variant: str, size: int, batch: int, gflops: float,
               latencies: List[float], rates: List[Dict[str, float]],
               precision: str = 'fp32') -> Dict:
    """The summary of one variant's forwards; ``rates`` are the probes that
    followed them, the efficiency is against those of ``precision``."""
    latency = statistics.median(latencies)
    limits = [r[precision] for r in rates]
    return dict(config=config, variant=variant, precision=precision, size=size, batch=batch,
                gflops=gflops, latency_s=latency, pairs_per_s=batch / latency,
                achieved_gflops_per_s=gflops * batch / latency,
                matmul_gflops_per_s=statistics.median(limits),
                **{f'matmul_{name}_gflops_per_s': statistics.median(r[name] for r in rates)
                   for name in PRECISIONS},
                efficiency=statistics.median(gflops * batch / t / limit
                                             for t, limit in zip(latencies, limits)),
                latencies_s=latencies, matmul_rates=rates)


def variant_inputs(segmentor: torch.nn.Module, variant: str, batch: int,
                   size: int) -> torch.Tensor:
    inputs = torch.randn(batch, pair_channels(segmentor), size, size)
    return inputs.contiguous(memory_format=torch.channels_last) \
        if VARIANTS[variant].channels_last else inputs


def variant_precision(variant: str) -> str:
    """The precision ``variant`` runs in here (bf16 falls back to fp32 where
    the CPU lacks it, with a log line)."""
    return resolve_precision(VARIANTS[variant].precision)


def run_in_precision(model: torch.nn.Module, inputs: torch.Tensor, precision: str):
    with inference_precision(precision):
        return model(inputs)


def benchmark(config: str, shapes: List[int], batch: int, repeats: int, variants: List[str],
              probe: MatmulProbe, paired: bool = False) -> List[Dict]:
    if paired and (len(set(variants)) != 2 or repeats < 2):
        raise ValueError('--paired times two different variants against each other in at '
                         f'least 2 rounds (--repeats), got {variants} and {repeats}')
    segmentor = build_model(Config.fromfile(config))
    model = PairForward(segmentor)
    gflops = {size: count_timed_gflops(model, size) for size in shapes}
    variants = sorted(variants, key=list(VARIANTS).index)
    if paired:
        return benchmark_paired(config, segmentor, gflops, batch, repeats, variants, probe)
    rows = []
    for variant in variants:
        apply_variant(segmentor, variant)
        precision = variant_precision(variant)
        for size in shapes:
            timing = time_forward(model, variant_inputs(segmentor, variant, batch, size),
                                  repeats, probe, precision)
            rows.append(timing_row(config, variant, size, batch, gflops[size],
                                   timing['latencies'], timing['matmul_rates'], precision))
    return rows


def benchmark_paired(config: str, segmentor: torch.nn.Module, gflops: Dict[int, float],
                     batch: int, repeats: int, variants: List[str],
                     probe: MatmulProbe) -> List[Dict]:
    """The two variants on two copies of the model, timed alternately
    (:func:`paired_timing`); the B row gets ``speedup`` over A."""
    copies = {}
    for variant in variants:
        copies[variant] = copy.deepcopy(segmentor)
        apply_variant(copies[variant], variant)
    precisions = {variant: variant_precision(variant) for variant in variants}
    rows = []
    for size in gflops:
        runs = {}
        for variant, model in copies.items():
            inputs = variant_inputs(model, variant, batch, size)
            runs[variant] = partial(run_in_precision, PairForward(model), inputs,
                                    precisions[variant])
        timing = paired_timing(runs, repeats, probe)
        for variant in variants:
            rows.append(timing_row(config, variant, size, batch, gflops[size],
                                   timing[variant]['latencies'], timing[variant]['rates'],
                                   precisions[variant]))
        rows[-1].update(speedup_summary(timing['ratios']))
    return rows


def memory_child(config: str, size: int) -> Dict:
    """Run in a fresh process: the peak resident memory a forward at ``size`` adds.

    The parent starts this process with glibc's mmap threshold fixed
    (``MALLOC_MMAP_THRESHOLD_``), so every tensor buffer is mapped on
    allocation and returned to the system when freed: the resident set then
    follows the live tensors instead of what the allocator keeps cached. A
    first forward warms up (thread pools, convolution primitives, scratch
    buffers); then the kernel's high-water mark is reset (``clear_refs`` 5)
    and the result is the peak during the second forward (``VmHWM``, every
    page counted, no sampling) minus the resident set just before it.
    """
    model = PairForward(build_model(Config.fromfile(config)))
    inputs = torch.randn(1, pair_channels(model.model), size, size)
    with torch.inference_mode():
        model(inputs)
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        before_kb = _status_kb('VmRSS')
        model(inputs)
        peak_kb = _status_kb('VmHWM')
    return dict(config=config, size=size, forward_peak_mib=(peak_kb - before_kb) / 1024)


def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ':'))


def memory_scaling(config: str, sizes: List[int]) -> List[Dict]:
    rows = []
    for size in sizes:
        out = subprocess.run(
            [sys.executable, __file__, config, '--memory-child', str(size)], check=True,
            capture_output=True, text=True,
            env=dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD))).stdout
        row = json.loads(out.strip().splitlines()[-1])
        row['mib_per_megapixel'] = row['forward_peak_mib'] / (size * size / 1e6)
        rows.append(row)
    return rows


def format_table(rows: List[Dict]) -> str:
    lines = [f'{torch.get_num_threads()} threads; matmul: 2048^3 in fp32 and bf16, measured '
             'after each forward (medians shown); efficiency: median of per-forward ratios '
             "to the matmul rate of the variant's precision",
             f'{"config":<46}{"variant":>15}{"prec":>5}{"size":>6}{"GFLOPs":>9}'
             f'{"latency s":>11}{"pairs/s":>9}{"GFLOP/s":>9}{"mm fp32":>8}{"mm bf16":>8}'
             f'{"efficiency":>11}']
    for r in rows:
        lines.append(f'{osp.basename(r["config"]):<46}{r["variant"]:>15}{r["precision"]:>5}'
                     f'{r["size"]:>6}{r["gflops"]:>9.2f}{r["latency_s"]:>11.3f}'
                     f'{r["pairs_per_s"]:>9.2f}{r["achieved_gflops_per_s"]:>9.1f}'
                     f'{r["matmul_fp32_gflops_per_s"]:>8.1f}'
                     f'{r["matmul_bf16_gflops_per_s"]:>8.1f}{r["efficiency"]:>10.0%}')
        if 'speedup' in r:
            low, _, high = r['speedup_quartiles']
            lines.append(f'{"":<46}{"paired: " + r["variant"] + " is":>26} {r["speedup"]:.3f}x '
                         f'as fast (quartiles {low:.3f} - {high:.3f})')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description='Latency / efficiency / memory benchmark')
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--shapes', type=int, nargs='+', default=[256, 512])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS), default=['plain'],
                        help="model variants to time, e.g. 'plain optimized' (before/after)")
    parser.add_argument('--paired', action='store_true',
                        help='time the two --variants alternately on two copies of the model '
                             'and report the speed-up of the second')
    parser.add_argument('--memory', type=int, nargs='*', default=None,
                        help='sizes for the memory-scaling runs (e.g. 256 512 1024)')
    parser.add_argument('--memory-child', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.configs[0], args.memory_child)))
        return

    probe = MatmulProbe()
    rows = []
    for config in args.configs:
        rows += benchmark(config, args.shapes, args.batch, args.repeats, args.variants, probe,
                          args.paired)
        print(format_table(rows[-len(args.shapes) * len(args.variants):]), flush=True)
    if len(args.configs) > 1:
        print('\n' + format_table(rows))
    result = dict(threads=torch.get_num_threads(), speed=rows)
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
