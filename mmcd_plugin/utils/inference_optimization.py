"""Inference-only speed-ups that keep a model's outputs.

Four levers for convolutional networks on CPU (oneDNN):

* **Conv-BN folding** (mmcv's ``fuse_conv_bn``): an eval-mode BatchNorm after
  a convolution is an affine map per channel, ``y = gamma (x - mu) /
  sqrt(var + eps) + beta``, so it folds into the convolution's weight and
  bias and its pass over the activations disappears. Folding follows the
  order in which a module registers its children (a BN registered right after
  a Conv2d is taken to follow it), as mmcv does; every model of this plugin
  is tested to give the same outputs folded and unfolded
  (``tests/test_inference_optimization.py``).
* **Channels-last memory format**: oneDNN's direct convolutions work on
  NHWC; an NCHW model pays a layout reorder at every convolution.
* **ReLUs and residual sums fused into the convolutions, weights prepacked**
  (:func:`~mmcd_plugin.utils.fused_convolution.fuse_conv_relu`): after
  folding, oneDNN applies a ConvModule's ReLU and a ResNet block's residual
  sum and ReLU while it writes the convolution's output, and each weight is
  reordered into oneDNN's layout once instead of at every call.
* **Freed memory kept for reuse** (:func:`keep_freed_memory`, glibc only):
  glibc hands every buffer above 32 MiB (a 512^2 decoder map is 64 MiB) to
  the kernel on ``free`` and maps a fresh one on the next allocation, whose
  first touch then faults in every page: 260,000 page faults and 0.5 s of
  kernel time per LSAFNet forward at 512^2 on these machines. With mmap
  disabled and trimming off, freed blocks are reused: no faults, about 10 %
  more of the matmul rate. It is process-wide (the resident set then stays
  at its peak instead of shrinking between forwards), so only the inference
  entry points call it.

Folding removes the BatchNorm parameters and buffers from the model: apply
it after the checkpoint is loaded, and never to a model that trains or saves
checkpoints afterwards (``train()`` raises). Measured gains:
``docs/benchmarks.md`` (``tools/analysis_tools/benchmark.py --variants plain
optimized``).
"""
import ctypes
import ctypes.util

import torch
from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
from mmengine.model import is_model_wrapper
from torch import nn

from mmcd_plugin.utils.fused_convolution import fuse_conv_relu as fuse_conv_relu_in_place
from mmcd_plugin.utils.packed_linear import pack_linear as pack_linear_in_place
from mmcd_plugin.utils.precision import fp32_logits


#: glibc ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
#: The largest trim threshold ``mallopt`` takes (an int): heap tops up to this stay.
MAX_TRIM_THRESHOLD = 2 ** 31 - 1


def keep_freed_memory() -> bool:
    """Make glibc's allocator keep freed memory for reuse (process-wide).

    Sets ``M_MMAP_MAX`` to 0 (large buffers come from the heap, not from
    fresh mappings) and ``M_TRIM_THRESHOLD`` to its maximum (the heap is not
    shrunk after each forward). Same effect as starting the process with
    ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``.

    Returns:
        bool: Whether it applied (False without glibc, e.g. macOS or musl).
    """
    name = ctypes.util.find_library('c')
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    if libc is None or not hasattr(libc, 'mallopt'):
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, MAX_TRIM_THRESHOLD))


def optimize_for_inference(model: nn.Module, fuse_conv_bn: bool = True,
                           channels_last: bool = True, keep_memory: bool = True,
                           fuse_conv_relu: bool = True, pack_linear: bool = True) -> nn.Module:
    """Put ``model`` in eval mode and apply the inference speed-ups in place.

    Args:
        model (nn.Module): A loaded model (a DDP wrapper is unwrapped).
        fuse_conv_bn (bool): Fold BatchNorms into the preceding convolutions.
            Defaults to True.
        channels_last (bool): Convert 4-D parameters and buffers to the
            channels-last memory format. Defaults to True.
        keep_memory (bool): Call :func:`keep_freed_memory` (process-wide).
            Defaults to True.
        fuse_conv_relu (bool): Run the convolutions on prepacked weights with
            the following ReLU and residual sum fused in (only where the
            BatchNorms are folded). Defaults to True.
        pack_linear (bool): Linear layers keep a packed bf16 copy of their
            weight for bf16 inference
            (:func:`~mmcd_plugin.utils.packed_linear.pack_linear`; fp32
            runs are unchanged). Defaults to True.

    The classifiers always run in fp32
    (:func:`~mmcd_plugin.utils.precision.fp32_logits`): a no-op in fp32,
    autocast switched off around them under bf16.

    Returns:
        nn.Module: The same (unwrapped) model.
    """
    if keep_memory:
        keep_freed_memory()
    if is_model_wrapper(model):
        model = model.module
    model.eval()
    if fuse_conv_bn and not getattr(model, '_conv_bn_fused', False):
        mmcv_fuse_conv_bn(model)
        model._conv_bn_fused = True
        model.train = _refuse_training.__get__(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if fuse_conv_relu:
        fuse_conv_relu_in_place(model)
    if pack_linear:
        pack_linear_in_place(model)
    fp32_logits(model)
    return model


def _refuse_training(self, mode: bool = True):
    """``train()`` of a folded model: eval stays allowed, training does not."""
    if mode:
        raise RuntimeError(
            f'{type(self).__name__} had its BatchNorms folded into its convolutions for '
            'inference (optimize_for_inference); it cannot train. Build a fresh model.')
    return nn.Module.train(self, False)
