"""tools/analysis_tools/benchmark.py: the bookkeeping of paired timing and
of the efficiency figures (not the speed of this machine)."""
import importlib.util
import os.path as osp
import statistics

import pytest

from mmcd_plugin.utils import precision

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'benchmark', osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'))
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


class CountingProbe:
    """Probe rates that name their call: fp32 = n, bf16 = 10 n at the n-th call."""

    def __init__(self):
        self.calls = 0

    def rate(self):
        self.calls += 1
        return dict(fp32=float(self.calls), bf16=10.0 * self.calls)


def test_paired_timing_alternates_and_pairs_each_forward_with_its_probe():
    order = []
    probe = CountingProbe()
    timing = benchmark.paired_timing(
        dict(theirs=lambda: order.append('theirs'), ours=lambda: order.append('ours')),
        iters=3, probe=probe)
    assert order == ['theirs', 'ours'] + ['theirs', 'ours', 'ours', 'theirs'] * 3
    # one probe per timed forward, in the order they ran
    assert [r['fp32'] for r in timing['theirs']['rates']] == [1.0, 4.0, 5.0, 8.0, 9.0, 12.0]
    assert [r['fp32'] for r in timing['ours']['rates']] == [2.0, 3.0, 6.0, 7.0, 10.0, 11.0]
    for i, ratio in enumerate(timing['ratios']):
        theirs = sum(timing['theirs']['latencies'][2 * i:2 * i + 2])
        ours = sum(timing['ours']['latencies'][2 * i:2 * i + 2])
        assert ratio == pytest.approx(theirs / ours)


def test_paired_run_of_two_variants_reports_what_it_timed():
    """A tiny config, folded against optimized at 64^2: one row per variant,
    each efficiency recomputed from the stored latencies and probe rates,
    the speed-up the median of the stored per-round ratios, which pair the
    stored latencies (A, B, B, A)."""
    probe = CountingProbe()
    rows = benchmark.benchmark(osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py'),
                               [64], 1, 3, ['optimized', 'folded'], probe, paired=True)
    assert [r['variant'] for r in rows] == ['folded', 'optimized']
    folded, optimized = rows
    assert probe.calls == 12 and folded['gflops'] == optimized['gflops'] > 0
    for row in rows:
        expected = statistics.median(row['gflops'] / t / r['fp32'] for t, r in
                                     zip(row['latencies_s'], row['matmul_rates']))
        assert row['efficiency'] == pytest.approx(expected)
    ratios = [sum(folded['latencies_s'][2 * i:2 * i + 2]) /
              sum(optimized['latencies_s'][2 * i:2 * i + 2]) for i in range(3)]
    assert optimized['round_ratios'] == pytest.approx(ratios)
    assert optimized['speedup'] == pytest.approx(statistics.median(ratios))
    config = osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py')
    for variants, repeats in ((['plain', 'folded', 'optimized'], 3),
                              (['optimized', 'optimized'], 3), (['plain', 'folded'], 1)):
        with pytest.raises(ValueError, match='two different variants'):
            benchmark.benchmark(config, [64], 1, repeats, variants, probe, paired=True)


def test_bf16_variant_is_measured_against_the_bf16_matmul_rate():
    """optimized against optimized-bf16: each row's efficiency uses the probe
    of its own precision (the bf16 rates are 10x the fp32 ones here), and
    the bf16 model ran under bf16 autocast."""
    probe = CountingProbe()
    rows = benchmark.benchmark(osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py'),
                               [64], 1, 2, ['optimized-bf16', 'optimized'], probe, paired=True)
    fp32, bf16 = rows
    assert (fp32['variant'], fp32['precision']) == ('optimized', 'fp32')
    assert (bf16['variant'], bf16['precision']) == ('optimized-bf16', 'bf16')
    for row in rows:
        rates = [r[row['precision']] for r in row['matmul_rates']]
        expected = statistics.median(row['gflops'] / t / r
                                     for t, r in zip(row['latencies_s'], rates))
        assert row['efficiency'] == pytest.approx(expected)
        assert row['matmul_gflops_per_s'] == statistics.median(rates)
    assert bf16['matmul_bf16_gflops_per_s'] == 10 * bf16['matmul_fp32_gflops_per_s']


def test_bf16_variant_falls_back_to_fp32_on_a_cpu_without_bf16(monkeypatch):
    """No avx512_bf16 / AMX: the bf16 row runs and is reported in fp32, and
    the log says why."""
    monkeypatch.setattr(precision.torch.cpu, '_is_avx512_bf16_supported', lambda: False)
    monkeypatch.setattr(precision.torch.cpu, '_is_amx_tile_supported', lambda: False)
    messages = []
    monkeypatch.setattr(precision, 'print_log', lambda msg, **kw: messages.append(msg))
    rows = benchmark.benchmark(osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py'),
                               [64], 1, 1, ['optimized-bf16'], CountingProbe())
    assert rows[0]['precision'] == 'fp32'
    assert messages == ['bf16 requested, running in fp32: this CPU has none of avx512_bf16, '
                        'amx_bf16, so oneDNN would emulate bf16, slower than fp32.']
