"""tools/analysis_tools/get_flops.py: counts checked by hand on a small model."""
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config
from torch import nn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'get_flops', osp.join(REPO, 'tools', 'analysis_tools', 'get_flops.py'))
get_flops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(get_flops)


def test_shared_and_frozen_parameters_counted_once():
    shared = nn.Linear(3, 4)  # 16 parameters
    frozen = nn.Linear(4, 2)  # 10 parameters
    frozen.requires_grad_(False)
    model = nn.ModuleDict(dict(a=shared, b=shared, c=frozen))
    counts = get_flops.count_parameters(model)
    assert counts == dict(params_m=26 / 1e6, trainable_m=16 / 1e6)


def test_strip_pretrained_removes_every_weight_file():
    cfg = dict(backbone=dict(checkpoint='sam2.pt', init_cfg=dict(type='Pretrained', checkpoint='x')),
               heads=[dict(pretrained='y.pth', init_cfg=dict(type='Kaiming'))])
    out = get_flops.strip_pretrained(cfg)
    assert out['backbone']['checkpoint'] is None and out['backbone']['init_cfg'] is None
    assert out['heads'][0]['pretrained'] is None
    assert out['heads'][0]['init_cfg'] == dict(type='Kaiming')


def test_tiny_config_parameters_and_flops_by_hand():
    cfg = Config.fromfile(osp.join(REPO, 'configs/tiny/tiny_siamese-resnet_levir-cd.py'))
    result = get_flops.analyse(cfg, (64, 64))
    from mmcd_plugin.registry import MODELS
    model = MODELS.build(cfg.model.to_dict())
    expected = sum(p.numel() for n, p in model.named_parameters()) / 1e6
    assert abs(result['params_m'] - expected) < 1e-9
    assert result['modules']['neck']['params_m'] == 0
    # The stem's first conv (3->8 ch, 3x3, stride 2) on both 64x64 dates
    # alone costs 2 * 32*32 * 8*3*9 = 442,368 multiply-adds.
    assert result['modules']['backbone']['gflops'] > 442368 / 1e9
    # the modules account for (almost) everything; the rest runs between them
    modules = sum(m['gflops'] for m in result['modules'].values())
    assert 0.95 * result['gflops'] <= modules <= result['gflops']
