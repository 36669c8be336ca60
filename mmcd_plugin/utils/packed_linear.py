"""Linear layers on weights packed once in bf16, for bf16 CPU inference.

Under ``torch.autocast('cpu', dtype=torch.bfloat16)`` every ``nn.Linear``
call casts its fp32 weight to bf16 and hands it to oneDNN, which reorders it
into its blocked layout again, a copy of every weight at every call in the
transformer models (STSF-Net's Hiera and Swin, S2M's ViT).
:class:`PackedLinear` keeps the weight cast and reordered once
(``torch.ops.mkldnn._reorder_linear_weight``) and runs oneDNN's linear on
it; the bf16 speed of the models that use it is in ``docs/benchmarks.md``
("bf16 on CPU").

Re-typing (:func:`pack_linear`) changes only ``forward``: parameters,
buffers and state-dict keys stay, and outside bf16 autocast on CPU, or with
autograd recording, the layer is ``nn.Linear``. Its output is bf16, as
autocast's linear would give; unlike autocast, the bias stays fp32 (added to
oneDNN's fp32 accumulator before the result is rounded), so it carries no
per-channel rounding offset.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcd_plugin.utils.precision import bf16_autocast_on_cpu

#: oneDNN's linear on a prepacked weight.
ONEDNN_LINEAR_AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(
    torch.ops.mkldnn, '_linear_pointwise')


class PackedLinear(nn.Linear):
    """``nn.Linear`` running on a bf16 weight packed once, under bf16 autocast.

    The packed copy is dropped when the weight changes (loading a state
    dict, ``.to()``) and is not pickled or deep-copied.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self._runs_packed(x):
            return F.linear(x, self.weight, self.bias)
        weight, bias = self._packed()
        return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), weight, bias,
                                                  'none', [], '')

    def _runs_packed(self, x: Tensor) -> bool:
        return (ONEDNN_LINEAR_AVAILABLE and bf16_autocast_on_cpu()
                and not torch.jit.is_tracing() and x.device.type == 'cpu' and self.weight.device.type == 'cpu'
                and x.dtype in (torch.float32, torch.bfloat16)
                and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)))

    def _packed(self) -> tuple:
        source = (self.weight.data_ptr(), self.weight._version,
                  None if self.bias is None else (self.bias.data_ptr(), self.bias._version))
        if self.__dict__.get('_packed_source') != source:
            weight = self.weight.detach().to(torch.bfloat16)
            bias = None if self.bias is None else self.bias.detach()
            self._packed_weights = (torch.ops.mkldnn._reorder_linear_weight(weight), bias)
            self._packed_source = source
        return self._packed_weights

    def __getstate__(self) -> dict:
        # oneDNN's opaque tensors cannot be copied or pickled: rebuild on demand
        state = dict(super().__getstate__())
        state.pop('_packed_weights', None)
        state.pop('_packed_source', None)
        return state


def pack_linear(model: nn.Module) -> nn.Module:
    """Re-type every plain ``nn.Linear`` of ``model`` to :class:`PackedLinear`
    in place (subclasses such as LoRA layers keep their own forward).

    Returns:
        nn.Module: The same model.
    """
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = PackedLinear
    return model
