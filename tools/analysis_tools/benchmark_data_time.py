"""Share of training time spent waiting for data, for a config as it is.

    python tools/analysis_tools/benchmark_data_time.py CONFIG [--iters 40]
        [--skip 5] [--cfg-options ...]

Trains ``--iters`` iterations with the config's own data loader (its
``num_workers``, batch size and pipeline) and training loop (an epoch-based
one trains the whole epochs that cover them), without validation or
checkpoints, and reads mmengine's per-iteration ``data_time`` (waiting for the loader) and
``time`` (the whole iteration) from the message hub. The first ``--skip``
iterations (worker start-up) are left out. Target: data time under 5 % of
iteration time.
"""
import argparse
import math
import os.path as osp
import statistics
import tempfile

from mmengine.config import Config, DictAction

import mmcd_plugin  # noqa: F401
from mmcd_plugin.registry import DATASETS
from mmcd_plugin.utils.launch import build_runner


def epochs_covering(cfg: Config, iters: int) -> int:
    """The number of whole epochs of the training loader with at least
    ``iters`` iterations."""
    loader = cfg.train_dataloader
    batches = len(DATASETS.build(loader.dataset)) / loader.batch_size
    batches = math.floor(batches) if loader.get('drop_last') else math.ceil(batches)
    return math.ceil(iters / max(batches, 1))


def measure(cfg: Config, iters: int, skip: int) -> dict:
    train_cfg = cfg.train_cfg.to_dict()
    if 'max_epochs' in train_cfg:
        train_cfg.pop('max_iters', None)
        train_cfg.update(max_epochs=epochs_covering(cfg, iters + skip))
        train_cfg.setdefault('type', 'EpochBasedTrainLoop')
    else:
        train_cfg.update(max_iters=iters + skip)
        train_cfg.setdefault('type', 'IterBasedTrainLoop')
    train_cfg.pop('by_epoch', None)
    train_cfg.update(val_interval=10 ** 9, dynamic_intervals=None)
    cfg.train_cfg = train_cfg
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10 ** 9)
    cfg.default_hooks.pop('visualization', None)
    cfg.param_scheduler = None
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        # mmengine keeps one message hub per experiment name (a timestamp by
        # default) and one visualizer per name ('visualizer' in the runtime):
        # names of this run's own, so that a second run never reuses them
        cfg.experiment_name = cfg.visualizer.name = osp.basename(work_dir)
        runner = build_runner(cfg)
        runner.train()
        hub = runner.message_hub
        data = list(hub.get_scalar('train/data_time').data[0])[skip:]
        total = list(hub.get_scalar('train/time').data[0])[skip:]
    return dict(iters=len(total), data_time_s=statistics.mean(data),
                iter_time_s=statistics.mean(total), share=sum(data) / sum(total),
                num_workers=cfg.train_dataloader.get('num_workers', 0),
                loop=' '.join(f'{k}={v}' for k, v in train_cfg.items()
                              if k not in ('max_iters', 'max_epochs', 'val_interval',
                                           'dynamic_intervals')))


def main():
    parser = argparse.ArgumentParser(description='Data-loading share of training time')
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--skip', type=int, default=5)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    r = measure(cfg, args.iters, args.skip)
    print(f'{args.config}: {r["iters"]} iterations, num_workers={r["num_workers"]}, '
          f'{r["loop"]}, data {r["data_time_s"] * 1000:.1f} ms / iteration '
          f'{r["iter_time_s"] * 1000:.1f} ms = {r["share"]:.1%} waiting for data (target < 5%)')


if __name__ == '__main__':
    main()
