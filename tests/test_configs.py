"""Every method config parses and its model builds (without weight files), with
the per-date channel counts of its data pipeline and preprocessor agreeing."""
import glob
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmcd_plugin  # noqa: F401
from mmcd_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# configs/opencd_interop/ are Open-CD configs: tests/test_opencd_interop.py runs them
CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p and 'opencd_interop' not in p)
spec = importlib.util.spec_from_file_location(
    'get_flops', osp.join(REPO, 'tools', 'analysis_tools', 'get_flops.py'))
get_flops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(get_flops)


def loader_channels(cfg):
    for step in cfg.train_dataloader.dataset.pipeline:
        if step['type'] == 'LoadBiTemporalImages':
            return list(step.get('channels') or [])
    return []


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds_and_channels_agree(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmcd_plugin'
    with DefaultScope.overwrite_default_scope('mmcd_plugin'):
        model = MODELS.build(get_flops.strip_pretrained(cfg.model.to_dict()))
    channels = list(model.data_preprocessor.in_channels)
    assert loader_channels(cfg) in ([], channels), (loader_channels(cfg), channels)
    assert model.in_channels == channels


def test_tiny_configs_run_a_forward_pass():
    for path in CONFIGS:
        if 'tiny' not in path and 'demo' not in path:
            continue
        cfg = Config.fromfile(path)
        with DefaultScope.overwrite_default_scope('mmcd_plugin'):
            model = MODELS.build(cfg.model.to_dict())
        model.eval()
        channels = sum(model.data_preprocessor.in_channels)
        with torch.no_grad():
            logits = model._forward(torch.rand(1, channels, 64, 64))
        assert logits.shape[:2] == (1, model.num_classes) and torch.isfinite(logits).all()
