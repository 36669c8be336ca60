"""Low-rank adaptation (LoRA) of the query and value projections of a fused qkv layer.

S2M ("Masks Can Talk", Table 2, "S2M (DINOv3+LoRA)") fine-tunes its DINOv3
encoder with LoRA instead of updating every weight; the issue fixes the
set-up to rank r = 4 on the query and value projections (Hu et al., LoRA,
ICLR 2022, Sec. 4.2 / 7.1). timm's ViTs fuse the three projections into one
``qkv`` linear layer whose output is ``[q | k | v]`` along the features, so
LoRA acts on the first and last thirds of that output:

    q = W_q x + (alpha / r) B_q A_q x,   k = W_k x,   v = W_v x + (alpha / r) B_v A_v x

with ``A`` of shape (r, in) and ``B`` of shape (out / 3, r). ``A`` takes
PyTorch's default Linear (Kaiming-uniform) init and ``B`` starts at zero, so
the adapted layer computes exactly the pretrained layer until ``B`` is trained.
Per layer of width D this adds ``2 * (r * D + D * r) = 4 r D`` parameters.

:class:`LoRAQKVLinear` is an ``nn.Linear`` that keeps the pretrained
``weight`` / ``bias`` under their original names (checkpoints of the base
model load unchanged) and adds ``lora_a_q``, ``lora_b_q``, ``lora_a_v``,
``lora_b_v``.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LoRAQKVLinear(nn.Linear):
    """Fused qkv projection with LoRA on the query and value slices.

    Args:
        in_features (int): Input width D.
        out_features (int): ``3 * attention width``.
        rank (int): LoRA rank r. Defaults to 4.
        alpha (float, optional): LoRA scaling numerator; the update is scaled
            by ``alpha / rank``. Defaults to None (= ``rank``, scale 1).
        bias (bool): Keep a bias (copied from the wrapped layer).
            Defaults to False.
    """

    def __init__(self, in_features: int, out_features: int, rank: int = 4,
                 alpha: Optional[float] = None, bias: bool = False):
        super().__init__(in_features, out_features, bias=bias)
        if out_features % 3:
            raise ValueError(f'a fused qkv layer has 3 equal outputs, got {out_features} '
                             'output features')
        if rank < 1:
            raise ValueError(f'LoRA rank must be >= 1, got {rank}')
        self.rank = rank
        self.scaling = (rank if alpha is None else alpha) / rank
        width = out_features // 3
        self.lora_a_q = nn.Parameter(torch.empty(rank, in_features))
        self.lora_b_q = nn.Parameter(torch.empty(width, rank))
        self.lora_a_v = nn.Parameter(torch.empty(rank, in_features))
        self.lora_b_v = nn.Parameter(torch.empty(width, rank))
        self.reset_lora_parameters()

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int = 4,
                    alpha: Optional[float] = None) -> 'LoRAQKVLinear':
        """Wrap a pretrained fused qkv layer, sharing its weight and bias."""
        lora = cls(linear.in_features, linear.out_features, rank, alpha,
                   bias=linear.bias is not None)
        lora.weight = linear.weight
        if linear.bias is not None:
            lora.bias = linear.bias
        return lora.to(linear.weight.device)

    def reset_lora_parameters(self) -> None:
        """``A``: Kaiming-uniform as ``nn.Linear``; ``B``: zeros (no change at init)."""
        for a in (self.lora_a_q, self.lora_a_v):
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b_q)
        nn.init.zeros_(self.lora_b_v)

    def forward(self, x: Tensor) -> Tensor:
        qkv = F.linear(x, self.weight, self.bias)
        delta_q = F.linear(F.linear(x, self.lora_a_q), self.lora_b_q)
        delta_v = F.linear(F.linear(x, self.lora_a_v), self.lora_b_v)
        delta = torch.cat([delta_q, torch.zeros_like(delta_q), delta_v], dim=-1)
        return qkv + self.scaling * delta

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, rank={self.rank}, scaling={self.scaling:g}, lora=q,v'


def add_lora_to_attention(attn: nn.Module, rank: int = 4,
                          alpha: Optional[float] = None) -> LoRAQKVLinear:
    """Replace ``attn.qkv`` (a fused ``nn.Linear``) by a :class:`LoRAQKVLinear`.

    timm's EVA / DINOv3 attention with separate q / v biases normally calls
    ``F.linear(x, qkv.weight, bias)``, bypassing the module; it is switched to
    its ``qkv_bias_separate`` path (``qkv(x) + bias``, the same result) so
    that the LoRA update is applied.

    Args:
        attn (nn.Module): Attention module with a fused ``qkv`` linear layer.
        rank (int): LoRA rank. Defaults to 4.
        alpha (float, optional): See :class:`LoRAQKVLinear`.

    Returns:
        LoRAQKVLinear: The new layer (already installed in ``attn``).
    """
    qkv = getattr(attn, 'qkv', None)
    if not isinstance(qkv, nn.Linear):
        raise TypeError(f'LoRA on q and v needs a fused qkv nn.Linear, '
                        f'{type(attn).__name__} has {type(qkv).__name__}')
    if getattr(attn, 'q_bias', None) is not None:
        if not hasattr(attn, 'qkv_bias_separate'):
            raise TypeError(f'{type(attn).__name__} applies its q/v biases with F.linear on '
                            'qkv.weight, which would bypass LoRA; use an arch without qkv '
                            'bias or a timm version with qkv_bias_separate.')
        attn.qkv_bias_separate = True
    attn.qkv = LoRAQKVLinear.from_linear(qkv, rank, alpha)
    return attn.qkv
