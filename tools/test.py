"""Evaluate a checkpoint: ``python tools/test.py CONFIG CKPT [--show-dir DIR]``."""
import argparse

import mmcd_plugin  # noqa: F401  (registers modules, safe checkpoint loading)
from mmcd_plugin.utils.launch import (DictAction, build_runner, check_files, load_config,
                                      setup_cpu_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and visualise) a change detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the metrics and logs go')
    parser.add_argument('--show', action='store_true', help='show each panel in a window')
    parser.add_argument('--show-dir', help='write one panel per sample (dates, ground truth,'
                        ' prediction) and GeoTIFF predictions into WORK_DIR/TIMESTAMP/SHOW_DIR')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown panel')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation '
                        '(needs tta_model and tta_pipeline in the config)')
    parser.add_argument('--fuse-conv-bn', action='store_true', help='fold BatchNorms into the '
                        'preceding convolutions, and with --channels-last also ReLUs and '
                        'residual sums (faster inference, same outputs)')
    parser.add_argument('--channels-last', action='store_true',
                        help='run in the channels-last memory format (faster CPU convolutions)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def configure_visualization(cfg, args):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise KeyError(f'{args.config} has no default_hooks.visualization; add '
                       "dict(type='ChangeVisualizationHook') to use --show/--show-dir.")
    hook.draw = True
    if args.show:
        hook.show, hook.wait_time = True, args.wait_time
    if args.show_dir:
        hook.show_dir = args.show_dir


def configure_tta(cfg, args):
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise KeyError(f'--tta needs tta_model and tta_pipeline in {args.config}.')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    setup_cpu_distributed(cfg)
    cfg.load_from = args.checkpoint
    check_files(cfg, ('test_dataloader', ))
    if args.show or args.show_dir:
        configure_visualization(cfg, args)
    if args.tta:
        configure_tta(cfg, args)
    if args.fuse_conv_bn or args.channels_last:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(
            type='InferenceOptimizationHook', fuse_conv_bn=args.fuse_conv_bn,
            channels_last=args.channels_last, fuse_conv_relu=args.fuse_conv_bn)]
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
