"""Inference-only speed-ups that keep a model's outputs.

Two standard levers for convolutional networks on CPU (oneDNN) and GPU:

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

Folding removes the BatchNorm parameters and buffers from the model: apply
it after the checkpoint is loaded, and never to a model that trains or saves
checkpoints afterwards (``train()`` raises). Measured gains:
``docs/benchmarks.md`` (``tools/analysis_tools/benchmark.py --optimize``).
"""
import torch
from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
from mmengine.model import is_model_wrapper
from torch import nn


def optimize_for_inference(model: nn.Module, fuse_conv_bn: bool = True,
                           channels_last: bool = True) -> nn.Module:
    """Put ``model`` in eval mode and apply the inference speed-ups in place.

    Args:
        model (nn.Module): A loaded model (a DDP wrapper is unwrapped).
        fuse_conv_bn (bool): Fold BatchNorms into the preceding convolutions.
            Defaults to True.
        channels_last (bool): Convert 4-D parameters and buffers to the
            channels-last memory format. Defaults to True.

    Returns:
        nn.Module: The same (unwrapped) model.
    """
    if is_model_wrapper(model):
        model = model.module
    model.eval()
    if fuse_conv_bn and not getattr(model, '_conv_bn_fused', False):
        mmcv_fuse_conv_bn(model)
        model._conv_bn_fused = True
        model.train = _refuse_training.__get__(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _refuse_training(self, mode: bool = True):
    """``train()`` of a folded model: eval stays allowed, training does not."""
    if mode:
        raise RuntimeError(
            f'{type(self).__name__} had its BatchNorms folded into its convolutions for '
            'inference (optimize_for_inference); it cannot train. Build a fresh model.')
    return nn.Module.train(self, False)
