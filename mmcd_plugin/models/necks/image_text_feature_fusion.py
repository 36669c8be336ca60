"""Image-Text Feature Fusion (ITFF) of MMChange.

Zhou et al., "Multimodal Feature Fusion Network with Text Difference
Enhancement for Remote Sensing Change Detection" (MMChange), Sec. III-D,
Eq. 12-13: image features ``F`` (from IFR) and text features ``T`` (from
TDE) of one scale are added, ``TF = T + F`` (Eq. 12), and fused through
channel attention, spatial attention and a sigmoid-gated pixel attention
(Eq. 13):

* channel attention ``W_c = MLP(GAP(TF))``, ``(B, C, 1, 1)``;
* spatial attention ``W_s = Conv7x7([mean_c(TF), max_c(TF)])``, ``(B, 1, H, W)``;
* coarse attention ``W_cs = W_c + W_s`` (broadcast, ``(B, C, H, W)``);
* pixel attention ``W_p = sigmoid(GConv7x7([TF, W_cs]))``: a depth-wise 7x7
  convolution over each channel's pair (``TF``, ``W_cs``) gives one gate per
  channel and position, in [0, 1];
* ``out = Conv1x1(TF + W_p * F + (1 - W_p) * T)``: the gate chooses, per
  position and channel, between the image and the text feature.

This is the order and combination of the authors' code (content-guided
attention); their code applies the sigmoid twice, here it is applied once, and
pads the 7x7 convolutions by reflection, which fails on maps of 3 pixels or
less (the stride-32 map of a 64-pixel input): replication padding works for
every input size divisible by 32.
With ``T = 0`` (no text, or identical descriptions of both dates, see TDE) the
output depends on ``F`` alone: ``Conv1x1((1 + W_p) * F)`` with the gates
computed from ``F``.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class ImageTextFeatureFusion(BaseModule):
    """ITFF: channel -> spatial -> pixel attention fusion of ``F`` and ``T``.

    Args:
        channels (int): Channels of the image and text features.
        reduction (int): Channel reduction of the channel-attention MLP.
            Defaults to 8 (authors).
        kernel_size (int): Kernel of the spatial and pixel attention
            convolutions. Defaults to 7 (authors).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, channels: int, reduction: int = 8, kernel_size: int = 7,
                 init_cfg=None):
        super().__init__(init_cfg)
        padding = kernel_size // 2
        hidden = max(channels // reduction, 1)
        self.channel_attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1))
        self.spatial_attention = nn.Conv2d(2, 1, kernel_size, padding=padding,
                                           padding_mode='replicate')
        self.pixel_attention = nn.Conv2d(2 * channels, channels, kernel_size, padding=padding,
                                         padding_mode='replicate', groups=channels)
        self.project = nn.Conv2d(channels, channels, 1)

    def attention(self, fused: Tensor) -> Dict[str, Tensor]:
        """The three attentions of ``TF``: ``channel``, ``spatial``, ``pixel`` (gate)."""
        channel = self.channel_attention(fused)
        spatial = self.spatial_attention(torch.cat(
            [fused.mean(dim=1, keepdim=True), fused.amax(dim=1, keepdim=True)], dim=1))
        coarse = channel + spatial
        pixel = torch.sigmoid(self.pixel_logits(fused, coarse))
        return dict(channel=channel, spatial=spatial, pixel=pixel)

    def pixel_logits(self, fused: Tensor, coarse: Tensor) -> Tensor:
        """``GConv7x7([TF, W_cs])``: ``pixel_attention`` (``C`` groups) over the
        interleaved channel pairs ``(TF_c, W_cs_c)``, computed as two depth-wise
        convolutions with the two input slices of its weight and summed: the
        same numbers without building the interleaved ``2C``-channel map (and
        in the input's memory format: 0.7 against 7 ms at 64^2, 64 channels)."""
        conv = self.pixel_attention
        pad_h, pad_w = conv.padding
        padding = (pad_w, pad_w, pad_h, pad_h)

        def depthwise(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
            return F.conv2d(F.pad(x, padding, mode=conv.padding_mode), weight, bias,
                            groups=conv.groups)
        return depthwise(fused, conv.weight[:, :1], conv.bias) + \
            depthwise(coarse, conv.weight[:, 1:], None)

    def forward(self, image: Tensor, text: Optional[Tensor] = None) -> Tensor:
        """Fuse ``image`` (F) with ``text`` (T); ``text=None`` means ``T = 0``."""
        if text is None:
            gate = self.attention(image)['pixel']
            return self.project(image + gate * image)
        fused = image + text
        gate = self.attention(fused)['pixel']
        return self.project(fused + gate * image + (1 - gate) * text)
