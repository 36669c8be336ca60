"""Textual Difference Enhancement (TDE) of MMChange.

Zhou et al., "Multimodal Feature Fusion Network with Text Difference
Enhancement for Remote Sensing Change Detection" (MMChange), Sec. III-B,
Eq. 1-6: the vision-language-model descriptions of the two dates are embedded
by a frozen text encoder (CLIP ViT-B/32 ``encode_text``), their difference is
enhanced by scaled dot-product attention, and multi-scale convolutions with
element-wise multiplication turn it into text features ``T_1 .. T_4`` at the
four image scales.

For sentence embeddings ``e_a, e_b`` (``E`` values each), with the numbers of
the single steps our reading of the equation range:

* each embedding is read as ``L`` tokens of ``d = E / L`` values (the
  authors' code: 512 -> 8 x 64), optionally after rescaling to unit RMS (see
  ``normalize``);
* difference (Eq. 1): ``Delta = |tok_a - tok_b|``;
* scaled dot-product attention over the tokens (Eq. 2-3), ``h`` heads,
  queries = keys = values = ``Delta``, a bias-free output projection:
  ``Delta' = W_o softmax(Delta Delta^T / sqrt(d / h)) Delta``;
* lifting to the finest image scale ``(H/4, W/4)`` (Eq. 4): the ``L x d``
  token map is stretched bilinearly over the image size (``layout='stretch'``,
  the authors' layout: tokens become channels, token values run along the
  width) or broadcast as one ``E``-channel vector per position
  (``layout='broadcast'``); the size comes from the image features, so any
  input size works (the authors hard-code 64 x 64);
* content features (Eq. 5): both dates' lifted tokens pass a shared
  conv-BN-ReLU, interact as ``conv([C_a, C_b, |C_a - C_b|])`` and go down the
  scales with stride-2 conv-BN-ReLU: ``M_1 .. M_4``;
* difference maps: the lifted ``Delta'`` passes a bias-free convolution and
  bias-free stride-2 convolutions: ``G_1 .. G_4``;
* element-wise multiplication (Eq. 6): ``T_k = M_k * G_k``.

``G_k`` is linear in ``Delta'`` and ``Delta'`` vanishes with ``Delta``, so
identical descriptions of the two dates give ``T_k = 0`` exactly: the text
stream says nothing when the text sees no change, and ITFF then runs on the
image features alone. (The authors' code multiplies once at the finest scale
and downsamples the product with biased, normalised convolutions, which
loses this property.)
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.models.utils import resize
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS

LAYOUTS = ('stretch', 'broadcast')


@MODELS.register_module()
class TextualDifferenceEnhancement(BaseModule):
    """TDE: text features ``T_1 .. T_n`` from the two dates' sentence embeddings.

    Args:
        text_dim (int): Sentence-embedding size ``E`` of the text encoder
            (512 for CLIP ViT-B/32).
        channels (int): Channels of every ``T_k`` (those of the image
            features they are fused with).
        num_scales (int): Number of scales ``n``. Defaults to 4.
        num_tokens (int): Tokens ``L`` an embedding is split into; must divide
            ``text_dim``. Defaults to 8 (authors: 8 x 64 for CLIP).
        num_heads (int): Attention heads; must divide ``text_dim /
            num_tokens``. Defaults to 8 (authors).
        layout (str): How tokens become a feature map, 'stretch' or
            'broadcast' (module docstring). Defaults to 'stretch'.
        normalize (bool): Rescale each embedding to unit root-mean-square
            (``e * sqrt(E) / ||e||``) first, so the difference has the same
            scale whatever the encoder (raw CLIP embeddings have norm ~10,
            MiniLM's norm 1). Identical sentences still give ``Delta = 0``.
            Defaults to True.
        norm_cfg (dict): Normalisation of the content convolutions.
            Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, text_dim: int, channels: int, num_scales: int = 4,
                 num_tokens: int = 8, num_heads: int = 8, layout: str = 'stretch',
                 normalize: bool = True, norm_cfg: dict = dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg)
        if text_dim % num_tokens or (text_dim // num_tokens) % num_heads:
            raise ValueError(f'TDE: num_tokens ({num_tokens}) must divide text_dim '
                             f'({text_dim}) and num_heads ({num_heads}) the token size.')
        if layout not in LAYOUTS:
            raise ValueError(f'TDE: layout must be one of {LAYOUTS}, got {layout!r}')
        self.text_dim = text_dim
        self.num_tokens = num_tokens
        self.num_heads = num_heads
        self.layout = layout
        self.normalize = normalize
        token_dim = text_dim // num_tokens
        lifted = num_tokens if layout == 'stretch' else text_dim
        self.attention_proj = nn.Linear(token_dim, token_dim, bias=False)
        self.embed = ConvModule(lifted, channels, 3, padding=1, norm_cfg=norm_cfg)
        self.interact = ConvModule(3 * channels, channels, 3, padding=1, norm_cfg=norm_cfg)
        self.content_down = nn.ModuleList(
            ConvModule(channels, channels, 3, stride=2, padding=1, norm_cfg=norm_cfg)
            for _ in range(num_scales - 1))
        self.difference_embed = nn.Conv2d(lifted, channels, 3, padding=1, bias=False)
        self.difference_down = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False)
            for _ in range(num_scales - 1))

    def init_weights(self) -> None:
        """Variance-preserving init (std ``1 / sqrt(fan_in)``) of the bias-free
        difference path, so ``G_k`` keeps the scale of ``Delta`` at every scale
        (PyTorch's default init shrinks it by ~0.6 per layer, leaving the
        coarse text features near zero at the start of training)."""
        super().init_weights()
        for layer in [self.attention_proj, self.difference_embed, *self.difference_down]:
            fan_in = layer.weight[0].numel()
            nn.init.normal_(layer.weight, std=fan_in ** -0.5)

    def tokens(self, embedding: Tensor) -> Tensor:
        """``(B, E)`` -> ``(B, L, E / L)``, unit-RMS when ``normalize``."""
        if embedding.dim() != 2 or embedding.shape[1] != self.text_dim:
            raise ValueError(f'TDE expects (batch, {self.text_dim}) sentence embeddings, got '
                             f'{tuple(embedding.shape)}; set text_dim to the encoder\'s '
                             'embed_dim.')
        if self.normalize:
            embedding = F.normalize(embedding, dim=-1) * math.sqrt(self.text_dim)
        return embedding.view(embedding.shape[0], self.num_tokens, -1)

    def attend(self, difference: Tensor) -> Tensor:
        """Eq. 2-3: multi-head scaled dot-product self-attention of ``(B, L, d)``."""
        batch, length, dim = difference.shape
        heads = difference.view(batch, length, self.num_heads, -1).transpose(1, 2)
        attended = F.scaled_dot_product_attention(heads, heads, heads)
        return self.attention_proj(attended.transpose(1, 2).reshape(batch, length, dim))

    def lift(self, tokens: Tensor, size: Tuple[int, int]) -> Tensor:
        """Eq. 4: ``(B, L, d)`` tokens -> a feature map of ``size``."""
        if self.layout == 'stretch':
            return F.interpolate(tokens.unsqueeze(2), size=size, mode='bilinear',
                                 align_corners=False)
        return tokens.flatten(1)[:, :, None, None].expand(-1, -1, *size)

    def forward(self, text_from: Tensor, text_to: Tensor,
                sizes: Sequence[Tuple[int, int]]) -> List[Tensor]:
        """Text features at the image scales.

        Args:
            text_from, text_to (Tensor): ``(B, E)`` sentence embeddings.
            sizes (Sequence[tuple[int, int]]): ``(h, w)`` of each image scale,
                finest first (one per scale).

        Returns:
            list[Tensor]: ``T_k`` of shape ``(B, channels, h_k, w_k)``.
        """
        if len(sizes) != len(self.content_down) + 1:
            raise ValueError(f'TDE was built for {len(self.content_down) + 1} scales, '
                             f'got sizes {list(sizes)}')
        tokens_from, tokens_to = self.tokens(text_from), self.tokens(text_to)
        difference = self.difference_embed(
            self.lift(self.attend(torch.abs(tokens_from - tokens_to)), sizes[0]))
        embedded_from = self.embed(self.lift(tokens_from, sizes[0]))
        embedded_to = self.embed(self.lift(tokens_to, sizes[0]))
        content = self.interact(torch.cat(
            [embedded_from, embedded_to, torch.abs(embedded_from - embedded_to)], dim=1))
        features = [content * difference]
        for content_conv, difference_conv, size in zip(self.content_down,
                                                       self.difference_down, sizes[1:]):
            content = _fit(content_conv(content), size)
            difference = _fit(difference_conv(difference), size)
            features.append(content * difference)
        return features


def _fit(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Resize when a stride-2 convolution missed the image scale's size (odd sizes)."""
    return x if tuple(x.shape[-2:]) == tuple(size) else \
        resize(x, size=tuple(size), mode='bilinear', align_corners=False)
