"""Inference and training precision: fp32, or bf16 where the processor has it.

bfloat16 keeps float32's exponent range with an 8-bit mantissa, so a model
trained in float32 runs in it without rescaling. On CPUs with native bf16
dot products (``avx512_bf16``, or Intel AMX) oneDNN's bf16 matmuls run
about 2.2 times as fast as fp32 on this project's 2-core machines (the
paired probes of ``docs/benchmarks.md``, "bf16 on CPU");
without them oneDNN emulates bf16 and it is *slower* than fp32, so a bf16
request on such a CPU falls back to fp32 with one log line saying why
(:func:`resolve_precision`).

bf16 here is ``torch.autocast``: matmuls, convolutions and attention run in
bf16, everything autocast keeps in fp32 stays there, and the weights stay
fp32 (checkpoints and training are unchanged). What the numbers leave the
network as is fp32 on purpose: :func:`fp32_logits` runs every decode
head's classifier in fp32, so the logits, the resize to the input size,
softmax, argmax, the scene stitching accumulators and the metrics all work in
fp32.
"""
import contextlib
from typing import Iterator, List, Optional

import torch
from mmengine.logging import print_log
from torch import nn

PRECISIONS = ('fp32', 'bf16')
#: CPU flags that make bf16 dot products native (the names in /proc/cpuinfo).
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')
#: Decode-head attributes holding the final classifier (mmseg's and ours).
CLASSIFIER_NAMES = ('conv_seg', )


def bf16_autocast_on_cpu() -> bool:
    """Whether CPU autocast to bf16 is active."""
    return torch.is_autocast_enabled('cpu') and \
        torch.get_autocast_dtype('cpu') == torch.bfloat16


def bf16_unsupported_reason(device: str = 'cpu') -> Optional[str]:
    """Why bf16 would not be fast on ``device``, or None when it would.

    On CPU: torch's cpuinfo probe of ``avx512_bf16`` and AMX tiles; on CUDA:
    ``torch.cuda.is_bf16_supported()``.
    """
    if str(device).startswith('cuda'):
        return None if torch.cuda.is_bf16_supported() else \
            f'{torch.cuda.get_device_name(device)} has no bf16 support'
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return None
    return (f'this CPU has none of {", ".join(BF16_CPU_FLAGS)}, so oneDNN would emulate bf16, '
            'slower than fp32')


def resolve_precision(precision: str, device: str = 'cpu') -> str:
    """The precision to run: ``precision``, or 'fp32' (logged) when bf16 is
    requested where it would not be fast.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision == 'bf16':
        reason = bf16_unsupported_reason(device)
        if reason is not None:
            print_log(f'bf16 requested, running in fp32: {reason}.', logger='current',
                      level=30)
            return 'fp32'
    return precision


def device_type(device) -> str:
    """'cpu' or 'cuda' (the ``torch.autocast`` device type) of a device name."""
    return torch.device(device).type


@contextlib.contextmanager
def inference_precision(precision: str, device: str = 'cpu') -> Iterator[None]:
    """Run the enclosed forwards in ``precision`` (bf16: ``torch.autocast``)."""
    with torch.autocast(device_type(device), dtype=torch.bfloat16,
                        enabled=precision == 'bf16'):
        yield


def _classifier_in_fp32(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: autocast off for the classifier, its input fp32."""
    kind = next((a.device.type for a in args if torch.is_tensor(a)), 'cpu')
    module._autocast_before = (kind, torch.is_autocast_enabled(kind))
    torch.set_autocast_enabled(kind, False)
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a
                 for a in args)


def _autocast_back(module: nn.Module, args: tuple, output):
    """Forward hook (also after an exception): autocast as it was."""
    kind, enabled = module.__dict__.pop('_autocast_before', ('cpu', None))
    if enabled is not None:
        torch.set_autocast_enabled(kind, enabled)
    return output.float() if torch.is_tensor(output) else output


def fp32_logits(model: nn.Module) -> List[torch.utils.hooks.RemovableHandle]:
    """Run every classifier of ``model`` (modules named in
    :data:`CLASSIFIER_NAMES`, mmseg's ``conv_seg``) in fp32, autocast or not.

    The classifier is a thin 1x1 convolution (or linear layer), a negligible
    part of the work, but its output is the decision: in bf16 its bias would
    be rounded (e.g. 2.3 by up to 0.008), an offset of every pixel's logit in
    the same direction, and its products would round near the threshold. So
    a pre-hook switches autocast off and widens the input, and a hook
    (called on exceptions too) switches it back; the logits and everything
    after them (resize, softmax, argmax, accumulation) are fp32. Idempotent.

    Returns:
        list: The hooks' handles (``handle.remove()`` undoes it).
    """
    handles = []
    for name, module in model.named_modules():
        if name.rsplit('.', 1)[-1] in CLASSIFIER_NAMES and \
                not getattr(module, '_fp32_logits', False):
            handles.append(module.register_forward_pre_hook(_classifier_in_fp32))
            handles.append(module.register_forward_hook(_autocast_back, always_call=True))
            module._fp32_logits = True
    return handles
