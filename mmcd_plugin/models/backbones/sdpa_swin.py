"""mmseg's Swin Transformer with its window attention on torch's fused kernel.

STSF-Net (Sun, Sun & Wang, section IV-B) encodes the SAR image with a Swin-T
trained from scratch; mmseg's ``SwinTransformer`` builds it. mmseg's
``WindowMSA`` computes ``softmax(q k^T * scale + B + M) v`` (relative
position bias B, shifted-window mask M) with explicit batched matrix
products and a separate softmax over a (windows, heads, 49, 49) tensor:
many tiny products and three passes over the scores, which made the SAR
encoder the least efficient part of STSF-Net on CPU (48 GMAC/s against
100 for the Hiera encoder at 256^2, ``docs/benchmarks.md``).

:class:`SDPASwinTransformer` is the same network (same arguments, same
parameters and state-dict keys, so mmseg / official Swin checkpoints load
unchanged) whose window attention calls ``F.scaled_dot_product_attention``
with ``B + M`` as the additive mask: one fused kernel for the scores, the
softmax and the weighted sum. The outputs equal mmseg's up to float rounding
(``tests/test_sdpa_swin.py``).
"""
import torch.nn.functional as F
from mmseg.models.backbones import SwinTransformer
from mmseg.models.backbones.swin import WindowMSA
from torch import Tensor

from mmcd_plugin.registry import MODELS


class FusedWindowMSA(WindowMSA):
    """mmseg's ``WindowMSA`` computed by ``scaled_dot_product_attention``."""

    def forward(self, x: Tensor, mask: Tensor = None) -> Tensor:
        """Args:
            x (Tensor): (num_windows * B, N, C) window tokens.
            mask (Tensor, optional): (num_windows, N, N) shifted-window mask,
                0 or -100 (mmseg's convention). Defaults to None.
        """
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads,
                                  channels // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(tokens, tokens, -1).permute(2, 0, 1)            # heads, N, N
        if mask is not None:
            windows = mask.shape[0]
            bias = (bias[None] + mask[:, None]).expand(
                batch // windows, windows, self.num_heads, tokens, tokens).reshape(
                    batch, self.num_heads, tokens, tokens)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), scale=self.scale,
            dropout_p=self.attn_drop.p if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(batch, tokens, channels)))


@MODELS.register_module()
class SDPASwinTransformer(SwinTransformer):
    """mmseg's ``SwinTransformer`` with fused window attention.

    Takes exactly mmseg's ``SwinTransformer`` arguments (see there); every
    ``WindowMSA`` becomes a :class:`FusedWindowMSA`, which has the same
    parameters and buffers.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for module in self.modules():
            if type(module) is WindowMSA:
                module.__class__ = FusedWindowMSA
