"""tools/analysis_tools/benchmark.py: the bookkeeping of paired timing and
of the efficiency figures (not the speed of this machine)."""
import importlib.util
import os.path as osp
import statistics

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'benchmark', osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py'))
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


class CountingProbe:
    def __init__(self):
        self.calls = 0

    def rate(self):
        self.calls += 1
        return float(self.calls)


def test_paired_timing_alternates_and_pairs_each_forward_with_its_probe():
    order = []
    probe = CountingProbe()
    timing = benchmark.paired_timing(
        dict(theirs=lambda: order.append('theirs'), ours=lambda: order.append('ours')),
        iters=3, probe=probe)
    assert order == ['theirs', 'ours'] + ['theirs', 'ours', 'ours', 'theirs'] * 3
    # one probe per timed forward, in the order they ran
    assert timing['theirs']['rates'] == [1.0, 4.0, 5.0, 8.0, 9.0, 12.0]
    assert timing['ours']['rates'] == [2.0, 3.0, 6.0, 7.0, 10.0, 11.0]
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
        expected = statistics.median(row['gflops'] / t / r for t, r in
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
