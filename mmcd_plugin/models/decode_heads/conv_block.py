"""ConvBlock ``f(.)`` of LSAFNet's SS and CD decoders, and the pieces both
decoders share (classifier, loss configs resolved in this plugin's scope).

Paper: LSAFNet, Sec. II-C ("Following the practice in [10], the ConvBlock
consists of upsampling, concatenation and two cascaded ResBlocks to combine
the two input features, and apply depthwise convolution to further fuse the
spatial context") and Eq. 13-14, Fig. 2(b, d):

    f(x_high, x_low) = SpatialConv(Res(Res(concat(up(x_high), x_low))))

* ``up``: bilinear upsampling of the coarser input to the finer one's size;
* ``Res``: ResNet basic blocks (mmseg's ``BasicBlock``: Conv3x3-BN-ReLU-
  Conv3x3-BN + shortcut, ReLU); the first one maps the concatenated width to
  ``out_channels`` with a Conv1x1-BN projection shortcut, as in the authors'
  code;
* ``SpatialConv``: 3x3 Conv-BN-ReLU. The paper says depth-wise
  (``depthwise=True``, default); the authors' code uses a dense 3x3 conv with
  dilation 2 (``depthwise=False, dilation=2``).
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.backbones.resnet import BasicBlock
from torch import Tensor, nn

from mmcd_plugin.registry import SCOPE


class ConvBlock(nn.Module):
    """``f(x_high, x_low)``: upsample, concatenate, two ResBlocks, spatial conv.

    Args:
        high_channels (int): Channels of the coarser input ``x_high``.
        low_channels (int): Channels of the finer input ``x_low``.
        out_channels (int): Output channels.
        depthwise (bool): Depth-wise spatial conv (the paper) instead of a
            dense one (the authors' code). Defaults to True.
        dilation (int): Dilation of the spatial 3x3 conv (the authors' code:
            2). Defaults to 1.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
        align_corners (bool): Of the bilinear upsampling. Defaults to False.
    """

    def __init__(self, high_channels: int, low_channels: int, out_channels: int,
                 depthwise: bool = True, dilation: int = 1,
                 norm_cfg: Dict = dict(type='BN'), align_corners: bool = False):
        super().__init__()
        in_channels = high_channels + low_channels
        projection = None
        if in_channels != out_channels:
            projection = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg,
                                    act_cfg=None)
        self.res_blocks = nn.Sequential(
            BasicBlock(in_channels, out_channels, downsample=projection, norm_cfg=norm_cfg),
            BasicBlock(out_channels, out_channels, norm_cfg=norm_cfg))
        self.spatial_conv = ConvModule(
            out_channels, out_channels, 3, padding=dilation, dilation=dilation,
            groups=out_channels if depthwise else 1, norm_cfg=norm_cfg)
        self.align_corners = align_corners

    def forward(self, x_high: Tensor, x_low: Tensor) -> Tensor:
        if x_high.shape[2:] != x_low.shape[2:]:
            x_high = F.interpolate(x_high, size=x_low.shape[2:], mode='bilinear',
                                   align_corners=self.align_corners)
        return self.spatial_conv(self.res_blocks(torch.cat([x_high, x_low], dim=1)))


def build_classifier(channels: int, hidden_channels: Optional[int], out_channels: int,
                     norm_cfg: Dict) -> Tuple[nn.Module, nn.Conv2d]:
    """The pixel classifier of both LSAFNet decoders: Conv1x1(C -> hidden)-BN-
    ReLU, then Conv1x1(hidden -> classes), as in the authors' code (the paper
    only says "classifier"). ``hidden_channels=None`` keeps a single Conv1x1.

    Returns:
        tuple: ``(pre_classifier, conv_seg)``; the first is an identity when
        ``hidden_channels`` is None.
    """
    if hidden_channels is None:
        return nn.Identity(), nn.Conv2d(channels, out_channels, 1)
    return (ConvModule(channels, hidden_channels, 1, norm_cfg=norm_cfg),
            nn.Conv2d(hidden_channels, out_channels, 1))


def in_plugin_scope(loss_decode: Union[Dict, List[Dict]]) -> Union[Dict, List[Dict]]:
    """Loss configs that mmseg's head builds in this plugin's scope: bare names
    resolve to our losses (``SemanticCELoss``) or mmseg's
    (``CrossEntropyLoss``) whatever the caller's default scope, so the heads
    also work when built directly or from an Open-CD config."""
    if isinstance(loss_decode, dict):
        return {'_scope_': SCOPE, **loss_decode}
    return [in_plugin_scope(cfg) for cfg in loss_decode]
