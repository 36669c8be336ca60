"""S2M's text branch around any decode head: training with text, inference without.

S2M ("Masks Can Talk", Sec. 3.2-3.3, Fig. 3) trains in two stages. Stage 1
trains the visual change detector, with the feature bridge W_b between
encoder and decoder. Stage 2 starts from those weights and adds the
sentences derived from the change mask: a frozen text encoder embeds them
(R_T), the text-guided alignment fuses them into the visual features before
the decoder (Eq. 4, :class:`TextGuidedAlignment`), and a bidirectional
InfoNCE loss between the global visual feature R_I and R_T (Eq. 6-7,
:class:`BidirectionalInfoNCELoss`) is added with weight lambda to the
segmentation loss (Eq. 8). At inference "neither the text nor the
corresponding fusion module is required": the decoder receives ``W_b R_I``.

:class:`TextGuidedHead` wraps any decode head built from a config (ours,
mmseg's, Open-CD's: S2M's Table 4 adds the text branch to CDxLSTM, SNUNet
and STNet) and is itself a decode head: ``loss`` uses the text,
``predict`` / ``forward`` never read it, so predictions do not depend on
whether the data samples carry text. Its three uses:

* Stage 1: ``text_dim=None``: bridge only, no text parameters.
* Stage 2: ``text_encoder=dict(...)``: text read from each data sample's
  metainfo (``text_key``, written by the ``GenerateChangeText`` transform).
* Deployment: the Stage-2 config with ``text_encoder=None`` (``text_dim``
  kept): same parameter names, so a Stage-2 checkpoint, which never holds the
  frozen encoder's weights, loads strictly, and no text encoder is built.

The global visual feature R_I^i of Eq. 6 is the average-pooled visual
feature of every level (the head's inputs before the bridge), concatenated
and linearly projected to the text width. The text embedding R_T^i of a
sample is the mean of its sentence embeddings (one sentence per change class
present; a binary tile has one). Attributes of the wrapped head
(``num_classes``, ``align_corners``, ``out_channels``, ``threshold``...) are
available on the wrapper, so any mmseg / Open-CD segmentor can use it.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from mmcd_plugin.registry import MODELS
from .text_guided_alignment import TextGuidedAlignment

SENTENCE_END = re.compile(r'(?<=[.!?])\s+')


def split_sentences(text: Union[str, Sequence[str]]) -> List[str]:
    """The sentences of a sample's text: a list is taken as given, a string
    is cut after each '.', '!' or '?' followed by white space."""
    sentences = [text] if isinstance(text, str) else list(text)
    return [s for part in sentences for s in SENTENCE_END.split(part.strip()) if s]


@MODELS.register_module()
class TextGuidedHead(BaseModule):
    """Decode head wrapper: bridge W_b + (training only) text alignment and InfoNCE.

    Args:
        head (dict): The wrapped decode head.
        in_channels (Sequence[int]): Width of each feature level the head
            receives (the neck's outputs).
        text_dim (int, optional): Text embedding width. None and no
            ``text_encoder``: Stage 1 (bridge only). Defaults to None (taken
            from ``text_encoder`` when one is given).
        text_encoder (dict, optional): Frozen sentence encoder
            (``CLIPSentenceEncoder``, ``MiniLMSentenceEncoder``). Needed to
            train with text; None for Stage 1 and deployment. Defaults to None.
        num_heads (int): Heads of the text cross-attention. Defaults to 8.
        gate_init (float): Initial gate parameter (``tanh(0) = 0``: Stage 2
            starts from the Stage-1 function). Defaults to 0.0.
        null_token (bool): Learned null key/value token. Defaults to True.
        bridge (bool): Learned 1x1 bridge W_b. Defaults to True.
        loss_contrastive (dict): Eq. 6-8 loss. Defaults to
            ``BidirectionalInfoNCELoss(temperature=0.7, loss_weight=0.5)``.
        text_key (str): Metainfo key of the sample text (a string, or a list
            of sentences). Defaults to 'change_text'.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 head: dict,
                 in_channels: Sequence[int],
                 text_dim: Optional[int] = None,
                 text_encoder: Optional[dict] = None,
                 num_heads: int = 8,
                 gate_init: float = 0.0,
                 null_token: bool = True,
                 bridge: bool = True,
                 loss_contrastive: dict = dict(type='BidirectionalInfoNCELoss',
                                               temperature=0.7, loss_weight=0.5),
                 text_key: str = 'change_text',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.head = MODELS.build(head)
        self.in_channels = [int(c) for c in in_channels]
        self.text_key = text_key
        self.text_encoder = MODELS.build(text_encoder) if text_encoder is not None else None
        if self.text_encoder is not None:
            if text_dim is not None and text_dim != self.text_encoder.embed_dim:
                raise ValueError(f'text_dim={text_dim} but the text encoder '
                                 f'{type(self.text_encoder).__name__} gives '
                                 f'{self.text_encoder.embed_dim}-d embeddings')
            text_dim = self.text_encoder.embed_dim
        self.text_dim = text_dim
        self.alignments = nn.ModuleList(
            TextGuidedAlignment(c, text_dim, num_heads, gate_init, null_token, bridge)
            for c in self.in_channels)
        if text_dim is None:
            self.visual_proj = self.loss_contrastive = None
        else:
            self.visual_proj = nn.Linear(sum(self.in_channels), text_dim)
            self.loss_contrastive = MODELS.build(loss_contrastive)

    def init_weights(self) -> None:
        """The wrapped head's init, then W_b = I and the initial gates (the
        alignments sit in a ModuleList, which mmengine's recursion skips)."""
        super().init_weights()
        for align in self.alignments:
            align.init_weights()

    def __getattr__(self, name: str):
        """Attributes of the wrapped head (``num_classes``, ``align_corners``...)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get('_modules', {})
            if 'head' not in modules:
                raise
            return getattr(modules['head'], name)

    # ----------------------------------------------------------------- visual
    def _check_levels(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        inputs = list(inputs)
        if len(inputs) != len(self.in_channels) or any(
                x.shape[1] != c for x, c in zip(inputs, self.in_channels)):
            raise ValueError(f'TextGuidedHead was built for levels of {self.in_channels} '
                             f'channels, got {[x.shape[1] for x in inputs]}: set its '
                             'in_channels to the neck outputs.')
        return inputs

    def visual_path(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """``W_b R_I`` of every level: what the head sees at inference."""
        return [align(x) for align, x in zip(self.alignments, self._check_levels(inputs))]

    def global_visual_feature(self, inputs: Sequence[Tensor]) -> Tensor:
        """R_I^i of Eq. 6: pooled levels, concatenated, projected: (B, text_dim)."""
        pooled = torch.cat([x.mean(dim=(2, 3)) for x in inputs], dim=1)
        return self.visual_proj(pooled)

    # ------------------------------------------------------------------- text
    def sample_texts(self, batch_data_samples) -> List[Union[str, Sequence[str]]]:
        texts = []
        for sample in batch_data_samples:
            if self.text_key not in sample.metainfo:
                raise KeyError(
                    f"TextGuidedHead needs each training sample's metainfo['{self.text_key}'] "
                    f'(image {sample.metainfo.get("img_path")}): put GenerateChangeText '
                    'before PackChangeInputs in the train pipeline (Stage 2), or train '
                    'without text (text_dim=None, Stage 1).')
            texts.append(sample.metainfo[self.text_key])
        return texts

    def encode_texts(self, texts: Sequence[Union[str, Sequence[str]]]
                     ) -> Tuple[Tensor, Tensor, Tensor]:
        """Embed every sentence once per batch.

        Returns:
            tuple[Tensor]: text tokens (B, L, D) (one per sentence, zero
            padded), padding mask (B, L) (True = padding) and the per-sample
            text embedding R_T (B, D) (mean of its sentences).
        """
        sentences = [split_sentences(t) for t in texts]
        empty = [i for i, s in enumerate(sentences) if not s]
        if empty:
            raise ValueError(f'samples {empty} of the batch have an empty text')
        embeddings = self.text_encoder([s for group in sentences for s in group])
        groups = list(embeddings.split([len(s) for s in sentences]))
        tokens = pad_sequence(groups, batch_first=True)
        lengths = torch.tensor([len(g) for g in groups], device=tokens.device)
        padding = torch.arange(tokens.shape[1], device=tokens.device)[None] >= lengths[:, None]
        sample_embeddings = torch.stack([g.mean(dim=0) for g in groups])
        return tokens, padding, sample_embeddings

    # -------------------------------------------------------- decode-head API
    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Text-free logits (the inference path)."""
        return self.head(self.visual_path(inputs))

    def predict(self, inputs: Sequence[Tensor], batch_img_metas: List[dict],
                test_cfg: dict) -> Tensor:
        """Text-free prediction; no text or text encoder is used."""
        return self.head.predict(self.visual_path(inputs), batch_img_metas, test_cfg)

    def loss(self, inputs: Sequence[Tensor], batch_data_samples, train_cfg: dict
             ) -> Dict[str, Tensor]:
        """Segmentation losses of the head on R_m (Eq. 4) plus L_cot (Eq. 6-8).

        Without a text branch (Stage 1) the head is trained on ``W_b R_I``.
        """
        inputs = self._check_levels(inputs)
        if self.text_dim is None:
            return self.head.loss(self.visual_path(inputs), batch_data_samples, train_cfg)
        if self.text_encoder is None:
            raise RuntimeError('TextGuidedHead has a text branch (text_dim set) but no '
                               'text_encoder: give one to train with text, or set '
                               'text_dim=None to train without (Stage 1).')
        tokens, padding, text_embeddings = self.encode_texts(
            self.sample_texts(batch_data_samples))
        fused = [align(x, tokens, padding) for align, x in zip(self.alignments, inputs)]
        losses = self.head.loss(fused, batch_data_samples, train_cfg)
        losses[self.loss_contrastive.loss_name] = self.loss_contrastive(
            self.global_visual_feature(inputs), text_embeddings)
        return losses

