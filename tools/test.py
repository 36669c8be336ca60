"""Evaluate a checkpoint: ``python tools/test.py CONFIG CKPT [--show-dir DIR]``."""
import argparse

import torch

import mmcd_plugin  # noqa: F401  (registers modules, safe checkpoint loading)
from mmcd_plugin.utils.launch import (DictAction, build_runner, check_files, load_config,
                                      setup_cpu_distributed)
from mmcd_plugin.utils.precision import PRECISIONS, resolve_precision


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
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='bf16: matmuls and convolutions in bfloat16 on CPU (autocast; '
                        'logits, softmax, argmax and metrics stay fp32); falls back to fp32 '
                        'with a log line on a CPU without native bf16')
    parser.add_argument('--amp', action='store_true', help='mixed precision: on CPU the same '
                        'as --precision bf16, on a GPU mmengine\'s fp16 autocast')
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


def configure_precision(cfg, args) -> str:
    """Set the test loop's autocast for ``--precision`` / ``--amp``; returns
    the precision that runs ('fp16' for ``--amp`` on a GPU)."""
    on_gpu = torch.cuda.is_available()
    if args.amp and on_gpu:
        cfg.test_cfg.fp16 = True   # mmengine's TestLoop: torch.autocast, fp16 on CUDA
        return 'fp16'
    if args.precision == 'bf16' and on_gpu:
        raise SystemExit('--precision bf16 is the CPU path; on a GPU use --amp '
                         '(mmengine\'s fp16 autocast).')
    precision = resolve_precision('bf16' if args.amp else args.precision, 'cpu')
    if precision == 'bf16':
        cfg.test_cfg.fp16 = True   # mmengine's TestLoop: torch.autocast, bf16 on CPU
    return precision


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
    reduced = configure_precision(cfg, args) != 'fp32'
    if args.fuse_conv_bn or args.channels_last or reduced:
        # in reduced precision the hook also gives fp32 logits (and packed bf16 linears)
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(
            type='InferenceOptimizationHook', fuse_conv_bn=args.fuse_conv_bn,
            channels_last=args.channels_last, fuse_conv_relu=args.fuse_conv_bn)]
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
