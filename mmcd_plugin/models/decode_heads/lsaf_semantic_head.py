"""LSAFNet's semantic segmentation (SS) decoder, shared by both dates.

Paper: LSAFNet, Sec. II-C, Fig. 2(d). From the SFM output ``[F_L, F_M, F_H]``
of one date:

* ``F'_H = LGCE(F_H)`` (Eq. 6-8),
* ``F'_M = f(F'_H, F_M)``, ``F'_L = f(F'_M, F_L)`` (ConvBlocks),
* ``X = classifier(F'_L)``: the date's semantic map (stride 2 of the input).

``F'_L, F'_M, F'_H`` also go to the CD decoder (:meth:`forward_features`).
The same head (same weights) decodes both dates.

Decisions (options):

* ``enhance_before_decoding=True`` (the paper: "F_H is first processed in
  LGCE") feeds F'_H to the ConvBlocks. The authors' code decodes F_H itself
  and applies LGCE only to the copy sent to the CD decoder (``False``).
* The classifier is Conv1x1(C -> C/2)-BN-ReLU-Conv1x1 (authors' code); in
  their code it also sees the change features, which the paper's late-stage
  design ("the semantic features from both temporal phases haven't met")
  excludes: here it sees F'_L only.
* The maps have ``num_classes`` = K + 1 channels, index 0 being the
  dataset's no-change class: the semantic loss ignores it (Eq. 15) and
  predictions take the argmax over classes 1..K.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS
from .conv_block import ConvBlock, build_classifier, in_plugin_scope


@MODELS.register_module()
class LSAFSemanticHead(BaseDecodeHead):
    """SS decoder: LGCE + two ConvBlocks + classifier (Sec. II-C).

    Args:
        in_channels (Sequence[int]): Channels of ``[F_L, F_M, F_H]``.
            Defaults to (64, 64, 128).
        channels (int): Width of F'_M and F'_L. Defaults to 128.
        num_classes (int): K + 1 (no change + K land-cover classes).
        in_index (Sequence[int]): Levels of the input taken as F_L, F_M, F_H.
            Defaults to (0, 1, 2).
        context_enhancement (dict, optional): Module applied to F_H, built
            with its ``channels``: ``dict(type='LGCE')`` (Eq. 6-8) or None
            for the identity (Table III without LGCE). Defaults to
            dict(type='LGCE').
        enhance_before_decoding (bool): Decode LGCE(F_H) (the paper) or F_H
            (the authors' code). Defaults to True.
        conv_block (dict): ``depthwise`` / ``dilation`` of the ConvBlocks.
            Defaults to dict() (depth-wise, dilation 1).
        classifier_channels (int, optional): Hidden width of the classifier;
            None for a single Conv1x1. Defaults to 64.
        no_change_index (int): Label of the no-change class, excluded from
            the argmax of predictions and of the logged accuracy.
            Defaults to 0.
        dropout_ratio (float): Before the last Conv1x1. Defaults to 0.
        norm_cfg (dict): Norm layer. Defaults to dict(type='BN').
        loss_decode (dict | list[dict]): Defaults to the Eq. 15 loss with
            weight 0.5 (Eq. 18): ``dict(type='SemanticCELoss',
            loss_weight=0.5)``.
        **kwargs: Other mmseg ``BaseDecodeHead`` arguments.
    """

    def __init__(self, in_channels: Sequence[int] = (64, 64, 128), channels: int = 128, *,
                 num_classes: int, in_index: Sequence[int] = (0, 1, 2),
                 context_enhancement: Optional[Dict] = dict(type='LGCE'),
                 enhance_before_decoding: bool = True, conv_block: Dict = dict(),
                 classifier_channels: Optional[int] = 64, no_change_index: int = 0,
                 dropout_ratio: float = 0.0, norm_cfg: Dict = dict(type='BN'),
                 loss_decode=dict(type='SemanticCELoss', loss_weight=0.5), **kwargs):
        super().__init__(list(in_channels), channels, num_classes=num_classes,
                         in_index=list(in_index), input_transform='multiple_select',
                         dropout_ratio=dropout_ratio, norm_cfg=norm_cfg,
                         loss_decode=in_plugin_scope(loss_decode), **kwargs)
        if len(self.in_channels) != 3:
            raise ValueError(f'LSAFSemanticHead takes [F_L, F_M, F_H], got in_channels='
                             f'{list(in_channels)}')
        low, mid, high = self.in_channels
        self.context_enhancement = nn.Identity() if context_enhancement is None else \
            MODELS.build(context_enhancement, default_args=dict(channels=high,
                                                                norm_cfg=norm_cfg))
        self.enhance_before_decoding = enhance_before_decoding
        block_args = dict(conv_block, norm_cfg=norm_cfg, align_corners=self.align_corners)
        self.block_mid = ConvBlock(high, mid, channels, **block_args)
        self.block_low = ConvBlock(channels, low, channels, **block_args)
        self.pre_classifier, self.conv_seg = build_classifier(
            channels, classifier_channels, self.out_channels, norm_cfg)
        self.no_change_index = no_change_index

    def forward_features(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """``[F'_L, F'_M, F'_H]`` of one date (or of both, batched)."""
        low, mid, high = self._transform_inputs(inputs)
        enhanced = self.context_enhancement(high)
        mid = self.block_mid(enhanced if self.enhance_before_decoding else high, mid)
        low = self.block_low(mid, low)
        return [low, mid, enhanced]

    def cls_seg(self, feat: Tensor) -> Tensor:
        return super().cls_seg(self.pre_classifier(feat))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """The semantic map X (Open-CD / mmseg head interface)."""
        return self.cls_seg(self.forward_features(inputs)[0])

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples) -> dict:
        """mmseg's losses; ``acc_seg`` is the accuracy on changed pixels (the
        only ones with a semantic target), no-change excluded from the argmax."""
        losses = super().loss_by_feat(seg_logits, batch_data_samples)
        with torch.no_grad():
            label = self._stack_batch_gt(batch_data_samples).squeeze(1)
            logits = resize(seg_logits.detach(), size=label.shape[1:], mode='bilinear',
                            align_corners=self.align_corners)
            logits[:, self.no_change_index] = float('-inf')
            label = label.masked_fill(label == self.no_change_index, self.ignore_index)
            losses['acc_seg'] = accuracy(logits, label, ignore_index=self.ignore_index)
        return losses
