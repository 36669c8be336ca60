"""bf16 mixed-precision training on CPU, the OpenMMLab way (``--amp``)."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmcd_plugin.registry import OPTIM_WRAPPERS
from mmcd_plugin.utils.precision import fp32_logits


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` with the forward and the loss under
    ``torch.autocast('cpu', dtype=torch.bfloat16)``: mmengine's
    ``AmpOptimWrapper`` for CPUs, which it refuses.

    The weights, their gradients and the optimizer state stay fp32 (autocast
    casts copies of the weights for each matmul and convolution); bf16 has
    fp32's exponent range, so gradients neither underflow nor overflow the
    way fp16 ones do, and no gradient scaler is needed (none is used:
    ``backward`` and ``step`` are the base class's). The classifiers run in
    fp32 (:func:`~mmcd_plugin.utils.precision.fp32_logits`), so the logits,
    the losses and their softmaxes are fp32.

    ``tools/train.py --amp`` picks this wrapper on a machine without a GPU
    (on a CPU without native bf16 it keeps fp32, with a log line). Accepts
    every argument of ``OptimWrapper``; the loss curves of fp32 and bf16
    training are compared in ``docs/benchmarks.md``.
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient accumulation's context of the base class, in bf16 autocast."""
        if getattr(model, '_fp32_logits_model', None) is not True:
            fp32_logits(model)
            model._fp32_logits_model = True
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield
