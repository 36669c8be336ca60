"""Shared set-up of tools/train.py and tools/test.py."""
import os
import os.path as osp
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction  # noqa: F401  (re-exported)

from mmcd_plugin.utils.precision import resolve_precision


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

    On a GPU: mmengine's ``AmpOptimWrapper`` (fp16, dynamic loss scale). On
    CPU, which mmengine's wrapper refuses: bf16 autocast with
    :class:`~mmcd_plugin.engine.CPUAmpOptimWrapper`, or plain fp32 with a
    log line saying why where the CPU has no native bf16.
    """
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper}')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif resolve_precision('bf16', 'cpu') == 'bf16':
        cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'


def build_runner(cfg: Config):
    """mmengine's Runner, or the config's ``runner_type``.

    ``env_cfg.sharing_strategy`` (if set; ``default_runtime.py`` sets
    'file_system') is applied first: how data-loader workers hand tensors to
    the main process. torch's default, 'file_descriptor', passes every tensor
    of every sample through a socket (~0.7 ms each on these CPUs: 11 ms per
    batch of 8 in the demo); 'file_system' maps them by name (~0.1 ms).
    """
    from mmengine.runner import Runner

    from mmcd_plugin.registry import RUNNERS
    strategy = (cfg.get('env_cfg') or {}).get('sharing_strategy')
    if strategy is not None:
        torch.multiprocessing.set_sharing_strategy(strategy)
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


WEIGHT_KEYS = ('checkpoint', 'checkpoint_path', 'pretrained')


def missing_weight_files(cfg, path: str = 'model') -> list:
    """``(config key, file)`` of every local weight file the model config names
    that does not exist (``checkpoint=``, ``pretrained=``, Pretrained init)."""
    missing = []
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key in WEIGHT_KEYS and isinstance(value, str) and '://' not in value \
                    and not osp.isfile(value):
                missing.append((f'{path}.{key}', value))
            elif isinstance(value, (dict, list, tuple)):
                missing += missing_weight_files(value, f'{path}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for index, value in enumerate(cfg):
            missing += missing_weight_files(value, f'{path}.{index}')
    return missing


def missing_data_roots(cfg: Config, loaders=('train_dataloader', 'val_dataloader',
                                             'test_dataloader')) -> list:
    missing = []
    for loader in loaders:
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        root = dataset.get('data_root')
        if root and not osp.isdir(root):
            missing.append((f'{loader}.dataset.data_root', root, dataset.get('type')))
    return missing


def check_files(cfg: Config, loaders: Sequence[str]) -> None:
    """Stop before building anything when weight files or datasets are missing,
    saying what is missing and where it goes (all problems at once)."""
    problems = [f'  - pretrained weights {key} = {value!r} not found: put the file there '
                f'(see the config header for where to get it) or override it, e.g. '
                f'--cfg-options {key}=/path/to/file'
                for key, value in missing_weight_files(cfg.model.to_dict())]
    problems += [f'  - dataset {key} = {root!r} not found: put {kind} there (layout in the '
                 f'README table) or override it, e.g. --cfg-options {key}=/path/to/data'
                 for key, root, kind in missing_data_roots(cfg, loaders)]
    if problems:
        raise SystemExit('Cannot start: files this config needs are missing\n' +
                         '\n'.join(problems))
