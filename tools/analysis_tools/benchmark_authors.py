"""Our models against the authors' released code, timed in one run.

    python tools/analysis_tools/benchmark_authors.py \
        [--mmchange-code DIR] [--lsafnet-code DIR] [--iters 9] [--json OUT]

``DIR`` is a local clone of the authors' repository (nothing is downloaded):

* MMChange: https://github.com/yikuizhai/MMchange (``model/model.py``
  ``BaseNet``; needs ``pip install einops``), at 256^2, where its text
  branch runs;
* LSAFNet: https://github.com/STORMTROOPERRR/RSISCD (``models/SCD.py``
  ``SCDNet``, 7 SECOND classes), at 512^2.

The authors' network runs as released (eval, NCHW, fp32, random weights:
their constructors' ``pretrained=True`` is turned off, speed does not depend
on weights); ours runs as ``tools/infer_scene.py`` runs it
(``optimize_for_inference``). The two alternate (theirs, ours, ours, theirs)
``--iters`` times, each forward followed by the matmul probe of
``benchmark.py``, so both see the same machine: the speed-up is the median
of the per-round latency ratios, and each model's efficiency is its GFLOPs
(its own count) / latency / matmul rate. Quirks of the released files are
worked around at load time without editing them: MMchange's
``model/__init__.py`` imports a missing package and ``model.py`` uses
``np`` without importing it.
"""
import argparse
import importlib.util
import json
import os.path as osp
import sys
import types
from typing import Dict

import numpy as np
import torch
import torchvision
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

from mmcd_plugin.utils.inference_optimization import optimize_for_inference

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark import (MatmulProbe, count_timed_gflops, paired_timing,  # noqa: E402
                       speedup_summary, timing_row)
from get_flops import PairForward, build_model  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_file(name: str, path: str, **globals_) -> types.ModuleType:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: pass a clone of the authors\' repository')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(globals_)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_mmchange(code_dir: str) -> torch.nn.Module:
    """The authors' ``BaseNet`` from a clone of yikuizhai/MMchange."""
    package = types.ModuleType('authors_mmchange')
    package.__path__ = [osp.join(code_dir, 'model')]  # its __init__.py is not run
    sys.modules['authors_mmchange'] = package
    resnet = _load_file('authors_mmchange.resnet', osp.join(code_dir, 'model', 'resnet.py'))
    released = resnet.resnet50
    resnet.resnet50 = lambda pretrained=False, **kwargs: released(False, **kwargs)
    model = _load_file('authors_mmchange.model', osp.join(code_dir, 'model', 'model.py'), np=np)
    return model.BaseNet()


def load_lsafnet(code_dir: str, num_classes: int = 7) -> torch.nn.Module:
    """The authors' ``SCDNet`` from a clone of STORMTROOPERRR/RSISCD."""
    module = _load_file('authors_lsafnet', osp.join(code_dir, 'models', 'SCD.py'))
    released = torchvision.models.resnet34
    torchvision.models.resnet34 = lambda pretrained=False, **kwargs: released(weights=None)
    try:
        return module.SCDNet(3, num_classes=num_classes)
    finally:
        torchvision.models.resnet34 = released


def compare(method: str, code_dir: str, iters: int, probe: MatmulProbe) -> Dict:
    size, config = dict(mmchange=(256, 'configs/mmchange/mmchange_r50_levir-cd.py'),
                        lsafnet=(512, 'configs/lsafnet/lsafnet_r34_second.py'))[method]
    theirs = (load_mmchange if method == 'mmchange' else load_lsafnet)(code_dir).eval()
    gen = torch.Generator().manual_seed(0)
    images = [torch.randn(1, 3, size, size, generator=gen) for _ in range(2)]
    inputs = tuple(images) + ((torch.randn(1, 512), torch.randn(1, 512))
                              if method == 'mmchange' else ())
    with torch.inference_mode():
        gflops_theirs = FlopAnalyzer(theirs, inputs).unsupported_ops_warnings(False) \
            .uncalled_modules_warnings(False).total() / 1e9
    segmentor = build_model(Config.fromfile(osp.join(REPO, config)))
    ours = PairForward(segmentor)
    gflops_ours = count_timed_gflops(ours, size)
    optimize_for_inference(segmentor)
    pair = torch.cat(images, 1).contiguous(memory_format=torch.channels_last)
    timing = paired_timing(dict(theirs=lambda: theirs(*inputs), ours=lambda: ours(pair)),
                           iters, probe)
    row = dict(method=method, size=size, **speedup_summary(timing['ratios']))
    for name, source, gflops in (('theirs', code_dir, gflops_theirs),
                                 ('ours', config, gflops_ours)):
        row[name] = timing_row(source, name, size, 1, gflops, timing[name]['latencies'],
                               timing[name]['rates'])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mmchange-code', help='clone of github.com/yikuizhai/MMchange')
    parser.add_argument('--lsafnet-code', help='clone of github.com/STORMTROOPERRR/RSISCD')
    parser.add_argument('--iters', type=int, default=9, help='rounds of theirs/ours/ours/theirs')
    parser.add_argument('--json', help='write every latency and probe here')
    args = parser.parse_args()
    methods = [(m, d) for m, d in (('lsafnet', args.lsafnet_code),
                                   ('mmchange', args.mmchange_code)) if d]
    if not methods:
        parser.error('give --mmchange-code and/or --lsafnet-code (local clones)')
    if args.iters < 2:
        parser.error('--iters must be at least 2 (the speed-up is a median over rounds)')
    probe = MatmulProbe()
    print(f'{"method":<10}{"size":>6}{"":>3}{"GFLOPs":>9}{"latency s":>11}{"efficiency":>12}'
          f'{"matmul":>8}', flush=True)
    rows = []
    for method, code in methods:  # each method's lines as soon as it is timed
        row = compare(method, code, args.iters, probe)
        rows.append(row)
        for name in ('theirs', 'ours'):
            r = row[name]
            print(f'{row["method"]:<10}{row["size"]:>6}{name:>8}{r["gflops"]:>9.2f}'
                  f'{r["latency_s"]:>11.3f}{r["efficiency"]:>12.0%}'
                  f'{r["matmul_gflops_per_s"]:>8.0f}')
        quartiles = ' - '.join(f'{q:.2f}' for q in row['speedup_quartiles'][::2])
        print(f'  ours is {row["speedup"]:.2f}x faster (median of {args.iters} rounds; '
              f'quartiles {quartiles})', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
