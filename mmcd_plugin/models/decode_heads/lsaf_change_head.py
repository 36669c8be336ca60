"""LSAFNet's change detection (CD) decoder: late-stage bitemporal fusion.

Paper: LSAFNet, Sec. II-D, Eq. 9-14, Fig. 2(b). From the SS decoders'
features ``F'_{L,M,H}1`` (date 1) and ``F'_{L,M,H}2`` (date 2):

* ``F~_H = LGAA(F'_H1, F'_H2)`` (Eq. 9; the paper's "LGAA(F'_H1 + F'_H2)"
  names LGAA's two inputs, whose sum LGAA attends to),
* ``F~'_H = ReLU(BN(Conv1x1(F~_H)))`` (Eq. 10, "to reduce its channel
  dimension": to ``high_channels``, default C/2 = 64, our choice),
* ``F~'_M = |F'_M1 - F'_M2|``, ``F~'_L = |F'_L1 - F'_L2|`` (Eq. 11-12),
* ``F'_C = f(F~'_H, F~'_M)``, ``F_C = f(F'_C, F~'_L)`` (Eq. 13-14,
  :class:`ConvBlock`),
* ``X_C = classifier(F_C)``, the binary change map (stride 2).

The head is an mmseg decode head whose input is each level of the two dates
concatenated along channels (Open-CD's ``FeatureFusionNeck(policy='concat')``
output), so it also serves as the ``binary_cd_head`` of an Open-CD SCD model
(``GeneralSCDHead`` with ``binary_cd_neck=dict(type='FeatureFusionNeck',
policy='concat')``) on any backbone's features: ``in_channels`` are the
per-date channels of the low, mid and high level, picked by ``in_index``.

Eq. 16 is the binary cross-entropy of the change probability p_c. The
default ``out_channels=2`` gives ``p_c = softmax(z)_1 = sigmoid(z_1 - z_0)``
(two-class logits, as every Open-CD change head; prediction = argmax);
``out_channels=1`` is the authors' single logit (``p_c = sigmoid(z)``,
prediction ``p_c > threshold``, default 0.5). :class:`ChangeBCELoss` takes
both. Table III's "Base" uses ``fusion=dict(type='ConcatFusion')``. The
authors' code fuses the high level with an SK-style attention of
``[F'_H1, F'_H2]`` concatenated with ``|F'_H1 - F'_H2|`` and three
ConvBlocks instead of Eq. 9-14; we follow the paper.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor

from mmcd_plugin.registry import MODELS
from .conv_block import ConvBlock, build_classifier, in_plugin_scope


@MODELS.register_module()
class LSAFChangeHead(BaseDecodeHead):
    """CD decoder (Eq. 9-14) + change classifier on two dates' features.

    Args:
        in_channels (Sequence[int]): Per-date channels of the low, mid and
            high level (F'_L, F'_M, F'_H). Defaults to (128, 128, 128).
        channels (int): Width of F'_C and F_C. Defaults to 128.
        num_classes (int): 2 (no change / change). Defaults to 2.
        out_channels (int, optional): 2 (two-class logits) or 1 (one
            sigmoid logit). Defaults to None (= num_classes).
        threshold (float): Change threshold of p_c with one output channel.
            Defaults to 0.5.
        in_index (Sequence[int]): Input levels taken as low, mid, high.
            Defaults to (0, 1, 2).
        high_channels (int, optional): Output width of Eq. 10. Defaults to
            None (half the high level's width).
        fusion (dict): Eq. 9 fusion, built with the high level's
            ``channels``: ``dict(type='LGAA')`` or
            ``dict(type='ConcatFusion')``. Defaults to dict(type='LGAA').
        conv_block (dict): ``depthwise`` / ``dilation`` of the ConvBlocks.
            Defaults to dict().
        classifier_channels (int, optional): Hidden width of the classifier.
            Defaults to 64.
        dropout_ratio (float): Defaults to 0.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
        loss_decode (dict | list[dict]): Defaults to Eq. 16,
            ``dict(type='ChangeBCELoss')``.
        **kwargs: Other mmseg ``BaseDecodeHead`` arguments.
    """

    def __init__(self, in_channels: Sequence[int] = (128, 128, 128), channels: int = 128, *,
                 num_classes: int = 2, out_channels: Optional[int] = None,
                 threshold: float = 0.5, in_index: Sequence[int] = (0, 1, 2),
                 high_channels: Optional[int] = None, fusion: Dict = dict(type='LGAA'),
                 conv_block: Dict = dict(), classifier_channels: Optional[int] = 64,
                 dropout_ratio: float = 0.0, norm_cfg: Dict = dict(type='BN'),
                 loss_decode=dict(type='ChangeBCELoss'), **kwargs):
        if num_classes != 2:
            raise ValueError(f'LSAFChangeHead is a binary change head: num_classes must be '
                             f'2, got {num_classes}')
        super().__init__(list(in_channels), channels, num_classes=num_classes,
                         out_channels=out_channels or num_classes, threshold=threshold,
                         in_index=list(in_index), input_transform='multiple_select',
                         dropout_ratio=dropout_ratio, norm_cfg=norm_cfg,
                         loss_decode=in_plugin_scope(loss_decode), **kwargs)
        if len(self.in_channels) != 3:
            raise ValueError(f'LSAFChangeHead takes a low, mid and high level, got '
                             f'in_channels={list(in_channels)}')
        low, mid, high = self.in_channels
        high_channels = high_channels or high // 2
        self.fusion = MODELS.build(fusion, default_args=dict(channels=high, norm_cfg=norm_cfg))
        self.reduce_high = ConvModule(high, high_channels, 1, norm_cfg=norm_cfg)
        block_args = dict(conv_block, norm_cfg=norm_cfg, align_corners=self.align_corners)
        self.block_mid = ConvBlock(high_channels, mid, channels, **block_args)
        self.block_low = ConvBlock(channels, low, channels, **block_args)
        self.pre_classifier, self.conv_seg = build_classifier(
            channels, classifier_channels, self.out_channels, norm_cfg)

    def split_dates(self, inputs: Sequence[Tensor]) -> List[Tuple[Tensor, Tensor]]:
        """``(date 1, date 2)`` of each selected level."""
        pairs = []
        for level, (feat, channels) in enumerate(zip(self._transform_inputs(inputs),
                                                     self.in_channels)):
            if feat.shape[1] != 2 * channels:
                raise ValueError(
                    f'LSAFChangeHead level {level} has {feat.shape[1]} channels; it expects '
                    f'both dates concatenated along channels (2 x {channels}), e.g. from '
                    "FeatureFusionNeck(policy='concat').")
            pairs.append(tuple(feat.split(channels, dim=1)))
        return pairs

    def change_features(self, inputs: Sequence[Tensor]) -> Tensor:
        """F_C (Eq. 9-14)."""
        (low_1, low_2), (mid_1, mid_2), (high_1, high_2) = self.split_dates(inputs)
        high = self.reduce_high(self.fusion(high_1, high_2))  # Eq. 9-10
        change = self.block_mid(high, (mid_1 - mid_2).abs())  # Eq. 11, 13
        return self.block_low(change, (low_1 - low_2).abs())  # Eq. 12, 14

    def cls_seg(self, feat: Tensor) -> Tensor:
        return super().cls_seg(self.pre_classifier(feat))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """X_C: change logits at the low level's resolution."""
        return self.cls_seg(self.change_features(inputs))

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples) -> dict:
        """mmseg's losses, with ``acc_seg`` thresholded for one output channel
        (mmseg's accuracy assumes at least two)."""
        losses = super().loss_by_feat(seg_logits, batch_data_samples)
        if self.out_channels == 1:
            with torch.no_grad():
                label = self._stack_batch_gt(batch_data_samples)
                logits = resize(seg_logits.detach(), size=label.shape[2:], mode='bilinear',
                                align_corners=self.align_corners)
                pred = logits.sigmoid() > self.threshold
                valid = label != self.ignore_index
                correct = (pred == label.bool()) & valid
                losses['acc_seg'] = 100.0 * correct.sum() / valid.sum().clamp(min=1)
        return losses
