"""bf16 against fp32 inference of a checkpoint on its test set: the accuracy guard.

    python tools/analysis_tools/compare_precision.py CONFIG CKPT [--no-optimize]
        [--cfg-options ...]

Runs the config's test dataloader through the trained model twice, in fp32
and under bf16 autocast (as ``tools/test.py --precision bf16`` and
``tools/infer_scene.py --precision bf16`` run it, with the inference
optimizations unless ``--no-optimize``), and prints the share of pixels whose
change class agrees and every test metric in both precisions. Exits with 1
when fewer than 99.5 % of the pixels agree or a metric moves by more than 0.2
points (:mod:`mmcd_plugin.evaluation.precision_agreement`).
"""
import argparse
import sys

import mmcd_plugin  # noqa: F401  (registers modules, safe checkpoint loading)
from mmcd_plugin.evaluation.precision_agreement import compare_precisions
from mmcd_plugin.utils.inference_optimization import optimize_for_inference
from mmcd_plugin.utils.launch import DictAction, build_runner, check_files, load_config
from mmcd_plugin.utils.precision import resolve_precision


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the log goes')
    parser.add_argument('--no-optimize', action='store_true',
                        help='compare the model as built (no folding, fusing, packing)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if resolve_precision('bf16') != 'bf16':
        print('bf16 is not native on this CPU: nothing to compare.')
        return 0
    cfg = load_config(args.config, args.cfg_options, 'none', args.work_dir)
    check_files(cfg, ('test_dataloader', ))
    runner = build_runner(cfg)
    runner.load_checkpoint(args.checkpoint)
    model = runner.model if args.no_optimize else optimize_for_inference(runner.model)
    loader = runner.build_dataloader(cfg.test_dataloader)
    evaluator = runner.build_evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = loader.dataset.metainfo
    result = compare_precisions(model, loader, evaluator)
    print(result.format())
    failures = result.failures()
    print('guard holds' if not failures else 'guard FAILS: ' + '; '.join(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
