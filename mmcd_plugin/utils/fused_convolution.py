"""Convolutions with their ReLU and residual sum fused in, for CPU inference.

Once BatchNorms are folded into the convolutions (``fuse_conv_bn``), a
ResNet block is ``relu(conv(relu(conv(x))) + identity)`` and a ``ConvModule``
is ``relu(conv(x))``. Eagerly, every ReLU and every residual sum is one more
pass over a feature map, and oneDNN reorders every convolution's weight into
its blocked layout on every call: for MMChange's dilated ResNet-50 at 256^2
the weights of the last stage (up to 9 MiB each) are larger than the
activations they multiply. :func:`fuse_conv_relu` re-types a model's
modules so that

* every convolution runs as a oneDNN primitive on a weight reordered once
  per input shape (:class:`FusedConv2d`), and
* the ReLU of a ``ConvModule`` (:class:`FusedConvModule`) and the residual
  sum and ReLU of mmseg's ``BasicBlock`` / ``Bottleneck``
  (:class:`FusedBasicBlock`, :class:`FusedBottleneck`) are applied by oneDNN
  as post-ops while each output element is still in a register.

The outputs are those of the unfused model up to float rounding (tested on
every method). Measured in paired runs on MMChange and LSAFNet at 256^2
and 512^2: 2-11 % lower latency (``docs/benchmarks.md``).

Re-typing changes only ``forward``: each module keeps its parameters,
buffers and state-dict keys, so a checkpoint loads into the fused model as
into the original. The fused path runs for float32 CPU inputs in the
channels-last format without autograd (``torch.inference_mode`` /
``torch.no_grad``) and outside ``torch.jit.trace`` (FLOP counters trace);
anything else takes the eager path, which computes the same function.

Under ``torch.autocast('cpu', dtype=torch.bfloat16)`` (bf16 inference,
:mod:`mmcd_plugin.utils.precision`) the fused path computes in bf16, as
autocast's own convolution does: input and residual are cast to bf16, the
weight is packed once in bf16 (the fp32 parameter is kept) and the output
is bf16. The bias stays fp32 (oneDNN adds it to the fp32 accumulator); where
a residual is fused, whose sum wants a bias of the input's dtype, it is
added to the residual in fp32 before that is cast. Autocast's convolution
rounds the bias to bf16 instead, which after BatchNorm folding (biases of
magnitude 1-10, bf16 steps of 0.008-0.06) shifts every pixel of a channel
the same way: a systematic error that the rounding of products does not
have (tested, ``tests/test_fused_convolution.py``). Without this path the
direct oneDNN call would bypass autocast and stay in fp32.
"""
from typing import Dict, Optional, Tuple

import torch
from mmcv.cnn import ConvModule
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck
from torch import Tensor, nn

from mmcd_plugin.utils.precision import bf16_autocast_on_cpu

#: oneDNN's convolution with post-ops (the kernels torch.compile uses on CPU).
ONEDNN_AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(
    torch.ops.mkldnn, '_convolution_pointwise')
#: Input shapes whose prepacked weight a convolution keeps: scene inference
#: uses two (full batches and the last, smaller one); a third shape drops
#: them and packs again. Each kept shape costs one more copy of the
#: convolution weights (MMChange 107 MiB, LSAFNet 93 MiB).
MAX_PACKED_SHAPES = 2
#: Input dtypes of the fused path (bf16 inputs only under autocast to bf16).
FUSED_DTYPES = (torch.float32, torch.bfloat16)


class FusedConv2d(nn.Conv2d):
    """``nn.Conv2d`` computing ``relu(conv(x) + residual)`` in one oneDNN call.

    Made by :func:`fuse_conv_relu` from an existing ``nn.Conv2d``; called
    as a plain convolution (``conv(x)``) it gives the same result.

    The weight is reordered into oneDNN's layout for each input shape and
    kept (:data:`MAX_PACKED_SHAPES` shapes at most); the copy is dropped
    when the weight changes (loading a state dict, ``.to()``) and is not
    pickled or deep-copied.
    """

    def forward(self, x: Tensor, residual: Optional[Tensor] = None,
                relu: bool = False) -> Tensor:
        """
        Args:
            x (Tensor): Input, (N, C, H, W).
            residual (Tensor, optional): Added to the convolution's output,
                before the ReLU. Defaults to None.
            relu (bool): Apply a ReLU last. Defaults to False.
        """
        dtype = self._fused_dtype(x, residual)
        if dtype is None:
            out = self._eager_conv(x)
            if residual is not None:
                out = out + residual
            return out.relu_() if relu else out
        x, bias = x.to(dtype), self.bias
        if residual is not None:  # the fused sum wants a bias of the input's dtype
            if bias is not None and dtype != torch.float32:
                residual, bias = residual.float() + bias.view(1, -1, 1, 1), None
            residual = residual.to(dtype)
        args = (self._packed_weight(x.shape, dtype), bias, self.padding, self.stride,
                self.dilation, self.groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, *args, 'relu' if relu else 'none', [], '')
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, *args, 'add', None, 'relu' if relu else None, [], '')

    def _eager_conv(self, x: Tensor) -> Tensor:
        """``nn.Conv2d``'s forward, but under bf16 autocast with the bias
        added in fp32 and the sum rounded once (autocast would round the
        bias itself)."""
        if self.bias is None or not bf16_autocast_on_cpu():
            return super().forward(x)
        out = self._conv_forward(x, self.weight, None)
        return (out.float() + self.bias.view(1, -1, 1, 1)).to(out.dtype)

    def _fused_dtype(self, x: Tensor, residual: Optional[Tensor]) -> Optional[torch.dtype]:
        """The dtype the fused path computes in (bf16 under CPU autocast to
        bf16, else fp32), or None where the eager path runs."""
        tensors = (x, self.weight) if residual is None else (x, self.weight, residual)
        runs = (ONEDNN_AVAILABLE and not torch.jit.is_tracing() and self.padding_mode == 'zeros'
                and not isinstance(self.padding, str)
                and all(t.device.type == 'cpu' and t.dtype in FUSED_DTYPES for t in tensors)
                and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
                and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)))
        if not runs:
            return None
        if bf16_autocast_on_cpu():
            return torch.bfloat16
        return torch.float32 if x.dtype == torch.float32 == self.weight.dtype else None

    def _packed_weight(self, input_shape: torch.Size, dtype: torch.dtype) -> Tensor:
        source = (self.weight.data_ptr(), self.weight._version)
        packed: Dict[Tuple, Tensor] = self.__dict__.setdefault('_packed', {})
        if self.__dict__.get('_packed_source') != source or len(packed) >= MAX_PACKED_SHAPES:
            packed.clear()
            self._packed_source = source
        key = (tuple(input_shape), dtype)
        if key not in packed:
            packed[key] = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight.detach().to(dtype), self.padding, self.stride, self.dilation,
                self.groups, list(input_shape))
        return packed[key]

    def __getstate__(self) -> dict:
        # oneDNN's opaque tensors cannot be copied or pickled: rebuild on demand
        state = dict(super().__getstate__())
        state.pop('_packed', None)
        state.pop('_packed_source', None)
        return state


class FusedConvModule(ConvModule):
    """mmcv ``ConvModule`` (conv, folded norm, ReLU) as one fused convolution."""

    def forward(self, x: Tensor, activate: bool = True, norm: bool = True) -> Tensor:
        if self.with_explicit_padding:
            x = self.padding_layer(x)
        return self.conv(x, relu=activate)


class FusedBasicBlock(BasicBlock):
    """mmseg ``BasicBlock`` (folded norms): ``relu(conv2(relu(conv1(x))) + identity)``."""

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.conv2(self.conv1(x, relu=True), residual=identity, relu=True)


class FusedBottleneck(Bottleneck):
    """mmseg ``Bottleneck`` (folded norms, no plugins): the three convolutions
    with their ReLUs, the residual sum fused into the last."""

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x, relu=True), relu=True)
        return self.conv3(out, residual=identity, relu=True)


def _is_folded(*norms: nn.Module) -> bool:
    return all(isinstance(norm, nn.Identity) for norm in norms)


def _fused_type(module: nn.Module) -> Optional[type]:
    """The fused class ``module`` can take, or None."""
    if type(module) is nn.Conv2d:
        return FusedConv2d
    if type(module) is ConvModule:
        fusable = (module.order == ('conv', 'norm', 'act') and isinstance(module.conv, FusedConv2d)
                   and (not module.with_norm or _is_folded(module.norm))
                   and module.with_activation and type(module.activate) is nn.ReLU)
        return FusedConvModule if fusable else None
    if type(module) is BasicBlock and _is_folded(module.norm1, module.norm2):
        convs = (module.conv1, module.conv2)
        return FusedBasicBlock if all(type(c) is FusedConv2d for c in convs) else None
    if type(module) is Bottleneck and not module.with_plugins \
            and _is_folded(module.norm1, module.norm2, module.norm3):
        convs = (module.conv1, module.conv2, module.conv3)
        return FusedBottleneck if all(type(c) is FusedConv2d for c in convs) else None
    return None


def fuse_conv_relu(model: nn.Module) -> nn.Module:
    """Re-type ``model``'s convolutions, ConvModules and ResNet blocks in
    place to their fused inference forms (see the module docstring).

    Fold the BatchNorms first (``mmcv.cnn.fuse_conv_bn``): a ConvModule or
    block whose norms are not folded keeps its own forward (its convolutions
    are still prepacked). Calling it again changes nothing.

    Args:
        model (nn.Module): A model in eval mode.

    Returns:
        nn.Module: The same model.
    """
    # children before parents: a parent's check looks at its fused convolutions
    for module in reversed(list(model.modules())):
        fused = _fused_type(module)
        if fused is not None:
            module.__class__ = fused
    return model
