"""Multi-task semantic change detector with late-stage bitemporal fusion.

Paper: LSAFNet, Sec. II-A, Fig. 2(a), Sec. II-E. Each date goes through the
same encoder, neck (SFM) and SS decoder without meeting the other date; the
CD decoder fuses the two dates' decoded features; three maps come out:

* X_1, X_2: semantic maps of date 1 and 2 (K + 1 channels, 0 = no change),
* X_C: binary change map,

supervised by Eq. 18, ``L = L_BCD + 0.5 (L_SS1 + L_SS2) + L_SC``: the change
head's loss (Eq. 16), the semantic head's loss on each date (Eq. 15, weight
0.5 in its config) and ``consistency_loss`` (Eq. 17). The final semantic
change maps are the semantic argmax (over classes 1..K) masked by the
predicted change map, published as Open-CD does: ``pred_sem_seg`` (change),
``pred_sem_seg_from`` / ``pred_sem_seg_to`` (semantic change maps, 0 where
unchanged) and the logits ``seg_logits`` / ``seg_logits_from`` /
``seg_logits_to``, which :class:`SemanticChangeMetric` scores.

Both dates run through the encoder, neck and SS decoder as one batch (shared
weights, one call each); BatchNorm statistics are thus taken over both dates'
images, where the authors' code runs the dates one after the other.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix
from torch import Tensor

from mmcd_plugin.registry import MODELS
from .bi_temporal_encoder_decoder import BiTemporalEncoderDecoder

DATES = ('from', 'to')


@MODELS.register_module()
class SemanticChangeEncoderDecoder(BiTemporalEncoderDecoder):
    """Siamese encoder + shared per-date semantic decoder + change decoder on
    the decoded features (LSAFNet, Fig. 2(a)).

    Args:
        backbone (dict): Shared encoder (LSAFNet: ``ResNetWithStem``,
            ResNet-34, output stride 8).
        semantic_head (dict): Per-date decoder with ``forward_features`` and
            ``cls_seg`` (``LSAFSemanticHead``); its ``num_classes`` is K + 1.
        decode_head (dict): Change head on the semantic head's features of
            both dates, concatenated along channels per level
            (``LSAFChangeHead``).
        neck (dict, optional): Per-date neck between encoder and semantic
            head (LSAFNet: ``SemanticFusionModule``). Defaults to None.
        consistency_loss (dict, optional): Loss on ``(X_1, X_2, change
            label)``; None drops it. Defaults to
            dict(type='SemanticConsistencyLoss').
        train_cfg, test_cfg (dict, optional): As in mmseg; only
            ``test_cfg.mode='whole'`` inference.
        data_preprocessor (dict, optional): ``MultiModalDataPreprocessor``.
        in_channels (Sequence[int], optional): Channels of each date.
        init_cfg (dict, optional): Initialisation config (LSAFNet: Kaiming).
    """

    def __init__(self, backbone: dict, semantic_head: dict, decode_head: dict,
                 neck: Optional[dict] = None,
                 consistency_loss: Optional[dict] = dict(type='SemanticConsistencyLoss'),
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 in_channels: Optional[Sequence[int]] = None, init_cfg=None):
        self._init_segmentor(data_preprocessor, init_cfg)
        self.backbone = MODELS.build(backbone)
        self.backbone_to = None
        self.neck = MODELS.build(neck) if neck is not None else None
        self.semantic_head = MODELS.build(semantic_head)
        self.consistency_loss = MODELS.build(consistency_loss) \
            if consistency_loss is not None else None
        self._init_heads(decode_head, None, in_channels, train_cfg, test_cfg or {})
        if (self.test_cfg or {}).get('mode', 'whole') != 'whole':
            raise ValueError(f"{type(self).__name__} supports test_cfg mode='whole' only, "
                             f"got {self.test_cfg['mode']!r}")

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Encoder (+ neck) features of date 1 then date 2, stacked on the batch."""
        image_from, image_to = self.split_inputs(inputs)
        feats = self.backbone(torch.cat([image_from, image_to]))
        return list(self.neck(feats) if self.neck is not None else feats)

    def forward_scd(self, inputs: Tensor) -> Dict[str, Tensor]:
        """``seg_logits`` (X_C), ``seg_logits_from`` (X_1), ``seg_logits_to``
        (X_2) at the heads' resolution."""
        batch = inputs.shape[0]
        decoded = self.semantic_head.forward_features(self.extract_feat(inputs))
        semantic = self.semantic_head.cls_seg(decoded[0])
        pairs = [torch.cat(feat.split(batch), dim=1) for feat in decoded]
        return dict(seg_logits=self.decode_head(pairs),
                    seg_logits_from=semantic[:batch], seg_logits_to=semantic[batch:])

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Tensor mode: the change logits X_C (every output is computed; use
        :meth:`forward_scd` for all three)."""
        return self.forward_scd(inputs)['seg_logits']

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """The three logit maps resized to the (padded) input size."""
        size = batch_img_metas[0]['img_shape'] if batch_img_metas else inputs.shape[2:]
        return {name: resize(logits, size=size, mode='bilinear',
                             align_corners=self.align_corners)
                for name, logits in self.forward_scd(inputs).items()}

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        return self.encode_decode(inputs, batch_img_metas)

    def loss(self, inputs: Tensor, data_samples: List[SegDataSample]) -> dict:
        """Eq. 18: ``bcd.*`` (Eq. 16), ``ss_from.*`` / ``ss_to.*`` (Eq. 15,
        weighted in the semantic head's loss config) and ``loss_sc`` (Eq. 17)."""
        logits = self.forward_scd(inputs)
        losses = add_prefix(self.decode_head.loss_by_feat(logits['seg_logits'], data_samples),
                            'bcd')
        for date in DATES:
            samples = [semantic_sample(sample, date) for sample in data_samples]
            losses.update(add_prefix(self.semantic_head.loss_by_feat(
                logits[f'seg_logits_{date}'], samples), f'ss_{date}'))
        if self.consistency_loss is not None:
            change = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1)
            losses[self.consistency_loss.loss_name] = self.consistency_loss(
                logits['seg_logits_from'], logits['seg_logits_to'], change,
                ignore_index=self.decode_head.ignore_index)
        return losses

    def predict(self, inputs: Tensor, data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        if data_samples is None:
            shape = tuple(inputs.shape[2:])
            data_samples = [SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape,
                                                        padding_size=[0, 0, 0, 0]))
                            for _ in range(inputs.shape[0])]
        logits = self.inference(inputs, [s.metainfo for s in data_samples])
        for index, sample in enumerate(data_samples):
            restored = {name: restore_to_original(value[index], sample.metainfo,
                                                  self.align_corners)
                        for name, value in logits.items()}
            self.set_predictions(sample, restored)
        return data_samples

    def set_predictions(self, sample: SegDataSample, logits: Dict[str, Tensor]) -> None:
        """Change map, then each date's semantic argmax masked by it."""
        change_logits = logits['seg_logits']
        if change_logits.shape[0] == 1:
            change = (change_logits.sigmoid() > self.decode_head.threshold).long()
        else:
            change = change_logits.argmax(dim=0, keepdim=True)
        fields = dict(seg_logits=PixelData(data=change_logits),
                      pred_sem_seg=PixelData(data=change))
        for date in DATES:
            semantic_logits = logits[f'seg_logits_{date}']
            fields[f'seg_logits_{date}'] = PixelData(data=semantic_logits)
            fields[f'pred_sem_seg_{date}'] = PixelData(data=masked_semantic_argmax(
                semantic_logits, change[0].bool(), self.semantic_head.no_change_index)[None])
        sample.set_data(fields)


def masked_semantic_argmax(semantic_logits: Tensor, changed: Tensor, no_change: int) -> Tensor:
    """One date's semantic change map: the argmax over the classes other than
    ``no_change`` where ``changed``, ``no_change`` elsewhere.

    Args:
        semantic_logits (Tensor): (K, H, W) semantic logits of one date.
        changed (Tensor): (H, W) bool change mask.
        no_change (int): Index of the no-change class.

    Returns:
        Tensor: (H, W) int64 class indices.
    """
    masked = semantic_logits.clone()
    masked[no_change] = float('-inf')
    return torch.where(changed, masked.argmax(dim=0), no_change)


def semantic_sample(sample: SegDataSample, date: str) -> SegDataSample:
    """A sample whose ``gt_sem_seg`` is the date's semantic map (for mmseg's
    head losses)."""
    field = f'gt_sem_seg_{date}'
    if field not in sample:
        raise KeyError(f'{field} missing from the data sample of '
                       f'{sample.metainfo.get("img_path")}: semantic change detection needs '
                       'both semantic maps; load them with '
                       'LoadChangeAnnotations (seg_map_path_from / seg_map_path_to in the '
                       'dataset) and PackChangeInputs.')
    return SegDataSample(gt_sem_seg=sample.get(field), metainfo=sample.metainfo)


def restore_to_original(logits: Tensor, meta: dict, align_corners: bool) -> Tensor:
    """Crop the padding of one (C, H, W) logit map, undo a test-time flip and
    resize it to ``ori_shape`` (as mmseg's ``postprocess_result``)."""
    left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
    height, width = logits.shape[1:]
    logits = logits[:, top:height - bottom, left:width - right]
    if meta.get('flip'):
        logits = logits.flip(dims=(2, ) if meta.get('flip_direction') == 'horizontal' else (1, ))
    return resize(logits[None], size=meta['ori_shape'], mode='bilinear',
                  align_corners=align_corners, warning=False)[0]
