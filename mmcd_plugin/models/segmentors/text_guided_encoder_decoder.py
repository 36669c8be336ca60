"""Siamese encoder-decoder guided by per-date image descriptions (MMChange).

Zhou et al., "Multimodal Feature Fusion Network with Text Difference
Enhancement for Remote Sensing Change Detection" (MMChange), Sec. III, Fig. 2:
a siamese ResNet-50 encodes both dates; a vision-language model has described
each image beforehand (``tools/caption_images.py``) and a frozen CLIP text
encoder embeds the two descriptions; the neck (IFR, TDE, ITFF) fuses image and
text features; a decoder with deep supervision predicts the change map.
"""
from typing import List, Optional, Sequence, Tuple

from mmseg.utils import SampleList
from torch import Tensor

from mmcd_plugin.registry import MODELS
from .bi_temporal_encoder_decoder import BiTemporalEncoderDecoder


@MODELS.register_module()
class TextGuidedEncoderDecoder(BiTemporalEncoderDecoder):
    """Bi-temporal encoder-decoder whose neck also reads the dates' descriptions.

    The descriptions come with the data: the dataset's ``caption_file`` puts
    ``texts = [caption_date1, caption_date2]`` in every sample, the pipeline
    swaps them with the images (``TemporalExchange``) and packs them into the
    metainfo. The frozen ``text_encoder`` embeds them (each distinct sentence
    once) and the neck is called as ``neck(feats_from, feats_to, emb_from,
    emb_to)``.

    Args:
        backbone (dict): Shared (siamese) image encoder.
        neck (dict): Image-text neck (``MMChangeNeck``); gets
            ``text_dim = text_encoder.embed_dim`` unless it sets one.
        decode_head (dict): Decoder.
        text_encoder (dict, optional): Frozen sentence encoder
            (``CLIPSentenceEncoder``, ``MiniLMSentenceEncoder``). None for a
            model without text (the "without TDE" ablation). Defaults to None.
        default_caption (str): Description of both dates when the model is
            called on a bare tensor without data samples (FLOP counting,
            export): identical descriptions, i.e. no text difference. Samples
            that come without ``texts`` are an error instead. Defaults to ''.
        auxiliary_head, train_cfg, test_cfg, data_preprocessor, in_channels,
            init_cfg: As in :class:`BiTemporalEncoderDecoder`.
    """

    def __init__(self, backbone: dict, neck: dict, decode_head: dict,
                 text_encoder: Optional[dict] = None, default_caption: str = '',
                 auxiliary_head=None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 in_channels: Optional[Sequence[int]] = None, init_cfg=None):
        self._init_segmentor(data_preprocessor, init_cfg)
        self.backbone = MODELS.build(backbone)
        self.backbone_to = None
        self.text_encoder = MODELS.build(text_encoder) if text_encoder is not None else None
        self.default_caption = default_caption
        neck = dict(neck)
        if self.text_encoder is not None:
            neck.setdefault('text_dim', self.text_encoder.embed_dim)
        self.neck = MODELS.build(neck)
        self._init_heads(decode_head, auxiliary_head, in_channels, train_cfg, test_cfg)

    def captions(self, batch_img_metas: Optional[List[dict]],
                 batch_size: int) -> Tuple[List[str], List[str]]:
        """The date-1 and date-2 descriptions of a batch, from the metainfo."""
        if batch_img_metas is None:
            return [self.default_caption] * batch_size, [self.default_caption] * batch_size
        missing = [meta.get('img_path', index) for index, meta in enumerate(batch_img_metas)
                   if len(meta.get('texts') or ()) != 2]
        if missing:
            raise KeyError(
                f'{type(self).__name__} needs the two dates\' descriptions in the metainfo '
                f"key 'texts' (got none for {missing[:3]}): set caption_file in the dataset "
                "(captions from tools/caption_images.py) and keep 'texts' in "
                "PackChangeInputs' meta_keys.")
        texts_from, texts_to = zip(*(meta['texts'] for meta in batch_img_metas))
        return list(texts_from), list(texts_to)

    def extract_feat(self, inputs: Tensor,
                     batch_img_metas: Optional[List[dict]] = None) -> List[Tensor]:
        feats_from, feats_to = self.extract_bitemporal_feats(inputs)
        if self.text_encoder is None:
            return self.neck(feats_from, feats_to)
        texts_from, texts_to = self.captions(batch_img_metas, inputs.shape[0])
        embeddings = self.text_encoder(texts_from + texts_to).to(inputs.dtype)
        emb_from, emb_to = embeddings.split(len(texts_from))
        return self.neck(feats_from, feats_to, emb_from, emb_to)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        x = self.extract_feat(inputs, batch_img_metas)
        return self.decode_head.predict(x, batch_img_metas, self.test_cfg)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        x = self.extract_feat(inputs, [sample.metainfo for sample in data_samples])
        losses = dict(self._decode_head_forward_train(x, data_samples))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def _forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None) -> Tensor:
        metas = None if data_samples is None else [s.metainfo for s in data_samples]
        return self.decode_head.forward(self.extract_feat(inputs, metas))
