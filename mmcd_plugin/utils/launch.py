"""Shared set-up of tools/train.py and tools/test.py."""
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction  # noqa: F401  (re-exported)


def load_config(path: str, cfg_options: Optional[dict], launcher: str,
                work_dir: Optional[str]) -> Config:
    """Read a config, apply ``--cfg-options``, the launcher and the work dir
    (``./work_dirs/<config name>`` unless given)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path} not found (run from the repository root, '
                                'e.g. configs/demo/...).')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Make torchrun / slurm runs work on machines without GPUs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its Runner
    gives DDP ``device_ids=[LOCAL_RANK]``; both fail without GPUs. Here a gloo
    process group is started before the Runner is built (the Runner keeps an
    initialised group) and DDP gets ``device_ids=None`` (CPU modules). On GPU
    machines nothing changes: mmengine does its usual NCCL set-up.
    """
    launcher = cfg.launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher not in ('pytorch', 'slurm'):
        raise ValueError(f'launcher {launcher!r} is not supported on CPU; use pytorch '
                         '(torchrun) or slurm.')
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ['SLURM_LOCALID'])
        os.environ.setdefault('MASTER_PORT', '29500')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision (``--amp``).

    mmengine's ``AmpOptimWrapper`` runs on GPU (and NPU/MLU) only, so on a
    machine without one this stops at once with that reason.
    """
    if not torch.cuda.is_available():
        raise SystemExit('--amp needs a GPU: mmengine\'s AmpOptimWrapper does not run on '
                         'CPU. Drop --amp here, or run on a CUDA machine.')
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def build_runner(cfg: Config):
    """mmengine's Runner, or the config's ``runner_type``."""
    from mmengine.runner import Runner

    from mmcd_plugin.registry import RUNNERS
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
