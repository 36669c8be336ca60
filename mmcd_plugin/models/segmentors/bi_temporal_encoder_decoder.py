"""Encoder-decoder for bi-temporal and multimodal change detection."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.segmentors.base import BaseSegmentor
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class BiTemporalEncoderDecoder(EncoderDecoder):
    """Siamese or pseudo-siamese encoder, a fusion neck and a decode head.

    ``inputs`` are the two dates concatenated along channels (Open-CD
    convention); they are split with the data preprocessor's ``in_channels``.
    With one ``backbone`` both dates share it (siamese) and go through it in one
    batched call; with ``backbone_to`` as well, date 2 has its own encoder
    (pseudo-siamese, e.g. optical + SAR). The ``neck`` is called as
    ``neck(feats_from, feats_to)`` and returns the fused multi-scale features
    for any mmseg decode head; sliding-window inference, test-time resizing and
    the mmseg/Open-CD data samples all work as in mmseg's ``EncoderDecoder``.

    Parts are built in this plugin's scope, so the model also builds from a
    config of another project (e.g. Open-CD) that names it
    ``mmcd_plugin.BiTemporalEncoderDecoder``.

    Args:
        backbone (dict): Date-1 (or shared) encoder.
        neck (dict): Fusion neck taking ``(feats_from, feats_to)``.
        decode_head (dict): mmseg decode head.
        backbone_to (dict, optional): Date-2 encoder (pseudo-siamese). Without
            a ``type`` it holds overrides of ``backbone``: the same architecture
            with separate weights, e.g. ``dict(in_channels=4)`` for quad-pol SAR.
        auxiliary_head (dict | list[dict], optional): Auxiliary heads.
        train_cfg, test_cfg (dict, optional): As in mmseg (``mode='slide'``...).
        data_preprocessor (dict, optional): Usually ``MultiModalDataPreprocessor``.
        in_channels (Sequence[int], optional): Channels of each date; defaults
            to the data preprocessor's ``in_channels``, else an even split.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, backbone: dict, neck: dict, decode_head: dict,
                 backbone_to: Optional[dict] = None, auxiliary_head=None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 in_channels: Optional[Sequence[int]] = None, init_cfg=None):
        self._init_segmentor(data_preprocessor, init_cfg)
        self.backbone = MODELS.build(backbone)
        if backbone_to is not None and 'type' not in backbone_to:
            backbone_to = {**backbone, **backbone_to}
        self.backbone_to = MODELS.build(backbone_to) if backbone_to is not None else None
        self.neck = MODELS.build(neck)
        self._init_heads(decode_head, auxiliary_head, in_channels, train_cfg, test_cfg)

    def _init_segmentor(self, data_preprocessor, init_cfg) -> None:
        """mmseg's segmentor set-up, the preprocessor built in our scope."""
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)

    def _init_heads(self, decode_head, auxiliary_head, in_channels, train_cfg,
                    test_cfg) -> None:
        """Heads, per-date channel split and train/test settings."""
        self._init_decode_head(decode_head)
        self._init_auxiliary_head(auxiliary_head)
        self.in_channels = list(in_channels) if in_channels is not None else \
            getattr(self.data_preprocessor, 'in_channels', None)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def _init_decode_head(self, decode_head: dict) -> None:
        self.decode_head = MODELS.build(decode_head)
        self.align_corners = self.decode_head.align_corners
        self.num_classes = self.decode_head.num_classes
        self.out_channels = self.decode_head.out_channels

    def _init_auxiliary_head(self, auxiliary_head) -> None:
        if isinstance(auxiliary_head, list):
            self.auxiliary_head = nn.ModuleList(MODELS.build(h) for h in auxiliary_head)
        elif auxiliary_head is not None:
            self.auxiliary_head = MODELS.build(auxiliary_head)

    @property
    def siamese(self) -> bool:
        return self.backbone_to is None

    def split_inputs(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Split ``(B, C1 + C2, H, W)`` into the two dates."""
        channels = self.in_channels or [inputs.shape[1] // 2] * 2
        if inputs.shape[1] != sum(channels):
            raise ValueError(f'inputs have {inputs.shape[1]} channels, the model expects '
                             f'{channels} per date.')
        image_from, image_to = inputs.split(list(channels), dim=1)
        return image_from, image_to

    def extract_bitemporal_feats(self, inputs: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """Multi-scale features of each date (shared encoder: one batched call)."""
        image_from, image_to = self.split_inputs(inputs)
        if self.siamese and image_from.shape[1] == image_to.shape[1]:
            feats = self.backbone(torch.cat([image_from, image_to]))
            batch = image_from.shape[0]
            return [f[:batch] for f in feats], [f[batch:] for f in feats]
        encoder_to = self.backbone if self.siamese else self.backbone_to
        return list(self.backbone(image_from)), list(encoder_to(image_to))

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        feats_from, feats_to = self.extract_bitemporal_feats(inputs)
        return self.neck(feats_from, feats_to)
