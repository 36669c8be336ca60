"""Apply the inference speed-ups once the test checkpoint is loaded."""
from mmengine.hooks import Hook

from mmcd_plugin.registry import HOOKS
from mmcd_plugin.utils.inference_optimization import optimize_for_inference


@HOOKS.register_module()
class InferenceOptimizationHook(Hook):
    """Fold conv-BN pairs, switch to channels-last, fuse ReLUs and residual
    sums into the convolutions and keep freed memory before testing.

    ``Runner.test()`` loads ``load_from`` before the test loop starts, so
    ``before_test`` sees the trained weights; validation during training is
    left alone (a folded model cannot train). ``tools/test.py
    --fuse-conv-bn`` / ``--channels-last`` / ``--precision bf16`` add this
    hook (``--fuse-conv-bn`` sets both folding options). Linear layers always
    get their packed bf16 weights and classifiers their fp32 logits
    (:func:`~mmcd_plugin.utils.optimize_for_inference`): what bf16 testing
    (the test loop's autocast, ``test_cfg.fp16``) needs, a no-op in fp32.

    Args:
        fuse_conv_bn (bool): Fold BatchNorms into convolutions. Defaults to True.
        channels_last (bool): Channels-last memory format. Defaults to True.
        keep_memory (bool): Keep freed memory for reuse (process-wide, see
            :func:`keep_freed_memory`). Defaults to True.
        fuse_conv_relu (bool): Fuse ReLUs and residual sums into the
            (folded) convolutions, which then run on prepacked weights
            (:func:`~mmcd_plugin.utils.fused_convolution.fuse_conv_relu`).
            Defaults to True.
    """

    def __init__(self, fuse_conv_bn: bool = True, channels_last: bool = True,
                 keep_memory: bool = True, fuse_conv_relu: bool = True):
        self.fuse_conv_bn = fuse_conv_bn
        self.fuse_conv_relu = fuse_conv_relu
        self.channels_last = channels_last
        self.keep_memory = keep_memory

    def before_test(self, runner) -> None:
        optimize_for_inference(runner.model, self.fuse_conv_bn, self.channels_last,
                               self.keep_memory, self.fuse_conv_relu)
