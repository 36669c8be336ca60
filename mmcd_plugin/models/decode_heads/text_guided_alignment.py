"""Text-guided multimodal alignment with the gated feature bridge (S2M Eq. 4).

S2M ("Masks Can Talk", Sec. 3.2.1-3.2.2) fuses one level of visual features
R_I with the text embeddings R_T of the sample's sentences by cross-attention
(visual features are the queries, text features the keys and values) plus a
feature bridge W_b between encoder and decoder:

    R_m = Attention(Q, K, V) + W_b R_I                                   (Eq. 4)

and describes W_b as "a gated connection that adaptively regulates how
textual semantics modulate the multi-scale visual representations ... so
that the cross-modal signal complements rather than overrides the
fine-grained spatial features learned during Stage 1". Text is used only in
training; at inference "neither the text nor the corresponding fusion module
is required", so the decoder then receives ``W_b R_I``.

Our reading (each choice is an argument):

* ``W_b`` is a 1x1 convolution initialised to the identity, present in both
  stages (Stage 1 trains it without text).
* The gate is a learned per-channel factor ``tanh(g)`` on the attention term,
  ``R_m = tanh(g) * W_o Attention(W_q LN(R_I), W_k LN(R_T), W_v LN(R_T)) + W_b R_I``,
  with ``g`` initialised to 0: at the start of Stage 2 the model computes
  exactly its Stage-1 function, and the text enters only as far as training
  opens the gate.
* Attention is PyTorch's standard multi-head attention (keys/values of the
  text width, ``kdim = vdim = text_dim``). Every sentence of a sample is one
  key/value token; with a single token the softmax would always give weight
  1, so a learned "null" token is prepended (``null_token=True``): each pixel
  chooses between attending to the text and attending to nothing.
"""
from typing import Optional

import torch
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class TextGuidedAlignment(nn.Module):
    """Eq. 4 on one feature level: gated text cross-attention + bridge ``W_b``.

    Args:
        channels (int): Visual feature width C.
        text_dim (int, optional): Text embedding width. None builds the
            bridge only (Stage 1, no text parameters). Defaults to None.
        num_heads (int): Attention heads (C must be divisible by it).
            Defaults to 8.
        gate_init (float): Initial ``g`` of the gate ``tanh(g)``.
            Defaults to 0.0 (text closed at the start of Stage 2).
        null_token (bool): Prepend a learned key/value token.
            Defaults to True.
        bridge (bool): Use the 1x1 bridge ``W_b`` (identity-initialised);
            False makes ``W_b`` the identity map. Defaults to True.
    """

    def __init__(self, channels: int, text_dim: Optional[int] = None, num_heads: int = 8,
                 gate_init: float = 0.0, null_token: bool = True, bridge: bool = True):
        super().__init__()
        self.channels = channels
        self.text_dim = text_dim
        self.bridge = nn.Conv2d(channels, channels, 1) if bridge else nn.Identity()
        if text_dim is None:
            self.query_norm = self.text_norm = self.attn = self.gate = self.null_token = None
        else:
            if channels % num_heads:
                raise ValueError(f'channels ({channels}) must be divisible by num_heads '
                                 f'({num_heads})')
            self.query_norm = nn.LayerNorm(channels)
            self.text_norm = nn.LayerNorm(text_dim)
            self.attn = nn.MultiheadAttention(channels, num_heads, kdim=text_dim,
                                              vdim=text_dim, batch_first=True)
            self.gate = nn.Parameter(torch.full((channels, ), float(gate_init)))
            self.null_token = nn.Parameter(torch.zeros(1, 1, text_dim)) if null_token else None
        self.gate_init = gate_init
        self.reset_bridge()

    def reset_bridge(self) -> None:
        """``W_b`` = identity (weight I, bias 0)."""
        if isinstance(self.bridge, nn.Conv2d):
            nn.init.zeros_(self.bridge.bias)
            with torch.no_grad():
                self.bridge.weight.copy_(torch.eye(self.channels)[:, :, None, None])

    def init_weights(self) -> None:
        """Identity bridge and initial gate (also after an enclosing ``init_cfg``)."""
        self.reset_bridge()
        if self.gate is not None:
            nn.init.constant_(self.gate, self.gate_init)

    def text_attention(self, visual: Tensor, text: Tensor,
                       padding_mask: Optional[Tensor] = None) -> Tensor:
        """``W_o Attention(W_q LN(R_I), W_k LN(R_T), W_v LN(R_T))`` as an NCHW map.

        Args:
            visual (Tensor): (N, C, H, W) visual features R_I.
            text (Tensor): (N, L, text_dim) text tokens R_T.
            padding_mask (Tensor, optional): (N, L) True where a token is
                padding (samples with fewer sentences).
        """
        n, c, h, w = visual.shape
        keys = self.text_norm(text)
        if self.null_token is not None:
            keys = torch.cat([self.null_token.expand(n, -1, -1), keys], dim=1)
            if padding_mask is not None:
                padding_mask = torch.cat([padding_mask.new_zeros(n, 1), padding_mask], dim=1)
        queries = self.query_norm(visual.flatten(2).transpose(1, 2))
        out = self.attn(queries, keys, keys, key_padding_mask=padding_mask,
                        need_weights=False)[0]
        return out.transpose(1, 2).reshape(n, c, h, w)

    def forward(self, visual: Tensor, text: Optional[Tensor] = None,
                padding_mask: Optional[Tensor] = None) -> Tensor:
        """R_m (Eq. 4) with text, ``W_b R_I`` without (inference, Stage 1).

        Args:
            visual (Tensor): (N, C, H, W) visual features R_I.
            text (Tensor, optional): (N, L, text_dim) text tokens R_T.
            padding_mask (Tensor, optional): (N, L), True = padding.

        Returns:
            Tensor: (N, C, H, W).
        """
        bridged = self.bridge(visual)
        if text is None:
            return bridged
        if self.attn is None:
            raise RuntimeError('this TextGuidedAlignment was built without text_dim: it has '
                               'no text branch (Stage 1); set text_dim for Stage 2.')
        gate = torch.tanh(self.gate).view(1, -1, 1, 1)
        return bridged + gate * self.text_attention(visual, text, padding_mask)
