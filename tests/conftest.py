import copy
import os.path as osp
import sys

import pytest

from mmcd_plugin.evaluation.precision_agreement import MAX_SHIFT, compare_precisions
from mmcd_plugin.utils.inference_optimization import optimize_for_inference
from mmcd_plugin.utils.precision import bf16_unsupported_reason

SHARED = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '..', 'shared')
SHARED_DATA = osp.join(SHARED, 'data')
OPENCD = osp.normpath(osp.join(SHARED, 'peers', 'open-cd'))


@pytest.fixture()
def shared_data():
    """``shared_data('levir_cd_samples')``: a path under ../shared/data, or a
    skipped test when that real sample data is absent."""
    def locate(*parts):
        path = osp.normpath(osp.join(SHARED_DATA, *parts))
        if not osp.exists(path):
            pytest.skip(f'real sample data not present: {path}')
        return path
    return locate


@pytest.fixture(scope='session')
def opencd():
    """The real Open-CD 1.1.0 imported from ``../shared/peers/open-cd`` (its
    models, datasets and metrics registered); its path, or a skipped test when
    the source or mmdet (which ``import opencd`` needs) is absent."""
    if not osp.isdir(osp.join(OPENCD, 'opencd')):
        pytest.skip(f'Open-CD source not present: {OPENCD}')
    pytest.importorskip('mmdet', reason='import opencd needs mmdet (tools/setup_env.sh '
                        'installs mmdet==3.3.0 --no-deps)')
    if OPENCD not in sys.path:
        sys.path.insert(0, OPENCD)
    import opencd.datasets  # noqa: F401
    import opencd.evaluation  # noqa: F401
    import opencd.models  # noqa: F401
    return OPENCD


@pytest.fixture()
def bf16_guard():
    """``bf16_guard(model, batches, evaluator)`` or ``bf16_guard(runner)``:
    bf16 inference of a trained model (a copy, optimized as the inference
    entry points run it) against fp32 on the same samples must agree on
    >= 99.5 % of the change-map pixels and move no metric by more than 0.2
    points (``max_shift``); bf16 must really have run (the logits differ). Returns the
    comparison. Skips on a CPU without native bf16."""
    def check(model, batches=None, evaluator=None, max_shift=MAX_SHIFT):
        reason = bf16_unsupported_reason('cpu')
        if reason is not None:
            pytest.skip(reason)
        if batches is None:  # a Runner: its model, test loader and test evaluator
            runner = model
            model, batches = runner.model, runner.build_dataloader(runner.cfg.test_dataloader)
            evaluator = runner.build_evaluator(runner.cfg.test_evaluator)
            evaluator.dataset_meta = batches.dataset.metainfo
        result = compare_precisions(optimize_for_inference(copy.deepcopy(model)), batches,
                                    evaluator)
        print(result.format())  # the figures, shown with pytest -s
        assert result.failures(max_shift=max_shift) == [], result.format()
        assert result.max_logit_diff > 0 and result.pixels > 0, result.format()
        return result
    return check
