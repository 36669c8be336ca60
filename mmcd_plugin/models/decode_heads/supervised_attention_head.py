"""Top-down decoder with supervised attention and deep supervision (MMChange).

Zhou et al., "Multimodal Feature Fusion Network with Text Difference
Enhancement for Remote Sensing Change Detection" (MMChange), Sec. III-E:
the fused four-scale features are decoded by the progressive decoder of
A2Net (Li et al., TGRS 2023, the paper's ref. [52]) and every decoder
output is supervised with BCE + Dice.

From the coarsest scale down: a *supervised attention* block predicts a
change map from the current feature, turns its probabilities (change,
no change) into a context by a 1x1 conv-BN-ReLU, multiplies the feature by it
and refines it with a 3x3 conv-BN-ReLU; the result is upsampled, added to the
next finer fused feature and merged by a 3x3 conv-BN-ReLU. The finest merged
feature gives the final map. The maps predicted inside the attention blocks
(scales 2 .. 4, strides 8, 16, 32) are the side outputs: each gets the same
losses as the final map (deep supervision), weighted by
``side_loss_weights`` (1 each in the authors' code).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.utils import ConfigType, SampleList
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


class SupervisedAttention(nn.Module):
    """A2Net's supervised attention: predict a map, attend with its probabilities."""

    def __init__(self, channels: int, out_channels: int, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        self.classifier = nn.Conv2d(channels, out_channels, 1)
        self.context = ConvModule(max(out_channels, 2), channels, 1, norm_cfg=norm_cfg,
                                  act_cfg=act_cfg)
        self.refine = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        logits = self.classifier(x)
        if logits.shape[1] == 1:
            change = torch.sigmoid(logits)
            probabilities = torch.cat([change, 1 - change], dim=1)
        else:
            probabilities = F.softmax(logits, dim=1)
        return self.refine(x * self.context(probabilities)), logits


@MODELS.register_module()
class SupervisedAttentionHead(BaseDecodeHead):
    """Progressive top-down decoder with supervised attention and deep supervision.

    ``forward`` returns the final logits (inference, FLOP counting);
    training adds the side outputs to the loss.

    Args:
        in_channels (Sequence[int]): Channels of the fused maps, finest first.
        channels (int): Decoder width (64 in MMChange).
        side_loss_weights (Sequence[float], optional): Loss weight of each side
            output, finest first (one per scale but the finest). Defaults to
            all 1.
        **kwargs: :class:`~mmseg.models.decode_heads.decode_head.BaseDecodeHead`
            arguments (``num_classes``, ``out_channels``, ``threshold``,
            ``norm_cfg``, ``loss_decode``, ``in_index``, ``align_corners``...).
            For MMChange: ``out_channels=1`` (sigmoid change map) with
            ``CrossEntropyLoss(use_sigmoid=True)`` and ``BinaryDiceLoss``.
    """

    def __init__(self, side_loss_weights: Optional[Sequence[float]] = None, **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        num_scales = len(self.in_channels)
        self.side_loss_weights = list(side_loss_weights) if side_loss_weights is not None \
            else [1.0] * (num_scales - 1)
        if len(self.side_loss_weights) != num_scales - 1:
            raise ValueError(f'side_loss_weights needs {num_scales - 1} values (one per '
                             f'side output), got {self.side_loss_weights}')
        conv = dict(norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        self.laterals = nn.ModuleList(
            nn.Identity() if c == self.channels else ConvModule(c, self.channels, 1, **conv)
            for c in self.in_channels)
        self.attentions = nn.ModuleList(
            SupervisedAttention(self.channels, self.out_channels, **conv)
            for _ in range(num_scales - 1))
        self.merges = nn.ModuleList(
            ConvModule(self.channels, self.channels, 3, padding=1, **conv)
            for _ in range(num_scales - 1))

    def forward_with_side_outputs(self, inputs: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Final logits and side logits (finest first)."""
        features = [lateral(x) for lateral, x in zip(self.laterals, self._transform_inputs(inputs))]
        x = features[-1]
        side_outputs = []
        for level in range(len(features) - 2, -1, -1):
            x, side = self.attentions[level](x)
            side_outputs.insert(0, side)
            finer = features[level]
            x = self.merges[level](finer + resize(x, size=finer.shape[2:], mode='bilinear',
                                                  align_corners=self.align_corners))
        return self.cls_seg(x), side_outputs

    def forward(self, inputs: List[Tensor]) -> Tensor:
        return self.forward_with_side_outputs(inputs)[0]

    def loss(self, inputs: List[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        final, side_outputs = self.forward_with_side_outputs(inputs)
        losses = self.single_output_losses(final, batch_data_samples)
        # side outputs belong to scales 2 .. n (scale 1, the finest, is the final map)
        for scale, (weight, side) in enumerate(zip(self.side_loss_weights, side_outputs), 2):
            for name, value in self.single_output_losses(side, batch_data_samples).items():
                if name.startswith('loss'):
                    losses[f'side{scale}.{name}'] = weight * value
        return losses

    def single_output_losses(self, seg_logits: Tensor, batch_data_samples: SampleList) -> dict:
        """mmseg's losses of one output, with a pixel accuracy that is also
        right for a one-channel sigmoid map (mmseg's ``accuracy`` takes the
        arg-max over channels)."""
        losses = self.loss_by_feat(seg_logits, batch_data_samples)
        if seg_logits.shape[1] == 1:
            label = self._stack_batch_gt(batch_data_samples).squeeze(1)
            logits = resize(seg_logits, size=label.shape[1:], mode='bilinear',
                            align_corners=self.align_corners).squeeze(1)
            valid = label != self.ignore_index
            pred = (torch.sigmoid(logits) > self.threshold).long()
            losses['acc_seg'] = (pred[valid] == label[valid]).float().mean() * 100
        return losses
