"""Parameters (total / trainable), FLOPs and a per-module breakdown of a
change-detection config, next to the paper's figures when the config gives
them (``paper_figures = dict(params_m=..., trainable_m=..., gflops=...)``).

    python tools/analysis_tools/get_flops.py CONFIG [--shape 512 512]

FLOPs are counted by mmengine's ``FlopAnalyzer`` (fvcore convention: one
multiply-add = one FLOP, as the papers' tables use) for one forward pass of a
pair; attention computed by ``scaled_dot_product_attention`` is counted too
(``attention_flop_jit``). Pretrained-weight files named in the config are not
needed: the tool builds the architecture without loading them.
"""
import argparse
from typing import Dict, List

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from torch import nn

import mmcd_plugin  # noqa: F401
from mmcd_plugin.registry import MODELS
from mmcd_plugin.utils.launch import WEIGHT_KEYS


def strip_pretrained(cfg):
    """Drop checkpoint paths and Pretrained init configs, recursively."""
    if isinstance(cfg, dict):
        if isinstance(cfg.get('init_cfg'), dict) and cfg['init_cfg'].get('type') == 'Pretrained':
            cfg['init_cfg'] = None
        for key in WEIGHT_KEYS:
            if isinstance(cfg.get(key), str):
                cfg[key] = None
        for value in cfg.values():
            strip_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            strip_pretrained(value)
    return cfg


def count_parameters(module: nn.Module) -> Dict[str, float]:
    seen, total, trainable = set(), 0, 0
    for param in module.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return dict(params_m=total / 1e6, trainable_m=trainable / 1e6)


class PairForward(nn.Module):
    """Wraps a segmentor so the analyzer sees ``inputs -> logits``: every
    output of an SCD segmentor (``forward_scd``: change and both semantic
    maps; the tracer drops layers whose output is not returned)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        if hasattr(self.model, 'forward_scd'):
            return tuple(self.model.forward_scd(inputs).values())
        return self.model._forward(inputs)


def build_model(cfg: Config) -> nn.Module:
    """The config's segmentor in eval mode, without its pretrained weight files."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmcd_plugin')):
        model = MODELS.build(strip_pretrained(cfg.model.to_dict()))
    return model.eval()


def pair_channels(model: nn.Module) -> int:
    """Channels of one input pair (both dates concatenated)."""
    return sum(getattr(model, 'in_channels', None) or [3, 3])


def analyse(cfg: Config, shape) -> Dict:
    return analyse_model(build_model(cfg), shape)


def attention_flop_jit(inputs: List, outputs: List) -> int:
    """Multiply-adds of ``scaled_dot_product_attention(q, k, v)``: ``Q K^T``
    and ``softmax(.) V``, ``batch * Lq * Lk * (E + Ev)``. mmengine's counter
    has no handle for it, so attention done by SDPA (timm's ViT and Hiera)
    would count as free while the same attention written with ``matmul``
    (mmseg's Swin) is counted."""
    q, k, v = (get_shape(value) for value in inputs[:3])
    return int(np.prod(q[:-2])) * q[-2] * k[-2] * (q[-1] + v[-1])


def analyse_model(model: nn.Module, shape) -> Dict:
    """Parameters and FLOPs (total and per top-level module) of one pair."""
    inputs = torch.zeros(1, pair_channels(model), *shape)
    with torch.no_grad():
        analyzer = FlopAnalyzer(PairForward(model), (inputs, ))
        analyzer.set_op_handle('aten::scaled_dot_product_attention', attention_flop_jit)
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        flops_by_module = analyzer.by_module()
    result = dict(count_parameters(model), gflops=flops_by_module[''] / 1e9, modules={})
    for name, child in model.named_children():
        if name == 'data_preprocessor':
            continue
        result['modules'][name] = dict(count_parameters(child),
                                       gflops=flops_by_module.get(f'model.{name}', 0) / 1e9)
    return result


def report(result: Dict, paper: Dict, shape) -> str:
    lines = [f'input: 2 x {shape[0]} x {shape[1]} (one pair)',
             f'{"module":<22}{"params (M)":>12}{"trainable (M)":>15}{"GFLOPs":>10}']
    for name, row in result['modules'].items():
        lines.append(f'{name:<22}{row["params_m"]:>12.2f}{row["trainable_m"]:>15.2f}'
                     f'{row["gflops"]:>10.2f}')
    other = result['gflops'] - sum(row['gflops'] for row in result['modules'].values())
    lines.append(f'{"(between modules)":<22}{"":>12}{"":>15}{other:>10.2f}')
    lines.append(f'{"total":<22}{result["params_m"]:>12.2f}{result["trainable_m"]:>15.2f}'
                 f'{result["gflops"]:>10.2f}')
    if paper:
        lines.append(f'{"paper":<22}{paper.get("params_m", float("nan")):>12.2f}'
                     f'{paper.get("trainable_m", float("nan")):>15.2f}'
                     f'{paper.get("gflops", float("nan")):>10.2f}')
        for key in ('params_m', 'trainable_m', 'gflops'):
            if key in paper:
                lines.append(f'  {key}: ours / paper = {result[key] / paper[key]:.3f}')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description='Parameters and FLOPs of a config')
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 512), help='H W')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    result = analyse(cfg, args.shape)
    print(report(result, cfg.get('paper_figures', {}), args.shape))


if __name__ == '__main__':
    main()
