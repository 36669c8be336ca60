"""Frozen CLIP text tower: the sentence encoder of S2M and MMChange.

S2M (section 3.2, Eq. 4, 6-7) embeds the mask-derived sentences with the
frozen text encoder of CLIP ViT-B/32; MMChange (TDE) embeds the VLM captions
of both dates with the same frozen ``encode_text``. The tower is a causal
transformer over byte-pair tokens: width 512, 12 layers, 8 heads, context 77,
vocabulary 49408; the sentence embedding is the final LayerNorm output at the
end-of-text token (the highest token id) times ``text_projection``.

The transformer is mmseg's :class:`~mmseg.models.text_encoder.CLIPTextEncoder`
(its ``encode_text``) and the tokenizer mmseg's offline CLIP BPE tokenizer;
this module adds loading of the released weights, freezing and the sentence
cache of :class:`FrozenTextEncoder`. Nothing is downloaded: the weights come
from a local file, either

* an OpenAI CLIP release (``ViT-B-32.pt``, a TorchScript archive, or its
  plain state dict), or
* an open_clip checkpoint (``open_clip_pytorch_model.bin`` / ``.safetensors``
  or a training checkpoint with ``state_dict`` and ``module.`` prefixes),

both converted by :func:`convert_clip_text_checkpoint` (the two share the
OpenAI key layout; only the container differs).
"""
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.registry import DefaultScope
from mmseg.models.text_encoder import CLIPTextEncoder as MMSegCLIPTextEncoder
from mmseg.utils import tokenizer
from torch import Tensor

from mmcd_plugin.registry import MODELS
from .frozen_text_encoder import FrozenTextEncoder

CLIP_DOWNLOAD_HINT = (
    'Download the OpenAI CLIP ViT-B/32 weights (ViT-B-32.pt) or an open_clip '
    'ViT-B-32 checkpoint on a machine with internet access, copy the file here '
    "and set the text encoder's `checkpoint` to its path.")


def convert_clip_text_checkpoint(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Convert an OpenAI-CLIP / open_clip state dict to mmseg's text tower keys.

    Keeps the text tower (the ``visual.*`` image tower and ``logit_scale``
    are dropped), strips ``module.`` / ``state_dict`` wrappers, and renames the
    residual blocks to mmcv's ``BaseTransformerLayer`` layout:

    ============================================  ==========================================
    OpenAI / open_clip                            mmseg ``CLIPTextEncoder``
    ============================================  ==========================================
    ``transformer.resblocks.{i}.ln_1``            ``transformer.{i}.norms.0``
    ``transformer.resblocks.{i}.attn.*``          ``transformer.{i}.attentions.0.attn.*``
    ``transformer.resblocks.{i}.ln_2``            ``transformer.{i}.norms.1``
    ``transformer.resblocks.{i}.mlp.c_fc``        ``transformer.{i}.ffns.0.layers.0.0``
    ``transformer.resblocks.{i}.mlp.c_proj``      ``transformer.{i}.ffns.0.layers.1``
    ``token_embedding``, ``positional_embedding``, ``ln_final``, ``text_projection``: unchanged
    ============================================  ==========================================

    Args:
        state_dict (dict[str, Tensor]): The loaded checkpoint.

    Returns:
        dict[str, Tensor]: Text-tower weights in mmseg's key layout (empty if
        the input has no CLIP text tower).
    """
    if isinstance(state_dict.get('state_dict'), dict):
        state_dict = state_dict['state_dict']
    renames = (('.ln_1.', '.norms.0.'), ('.attn.', '.attentions.0.attn.'),
               ('.ln_2.', '.norms.1.'), ('.mlp.c_fc.', '.ffns.0.layers.0.0.'),
               ('.mlp.c_proj.', '.ffns.0.layers.1.'))
    converted = {}
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if key in ('token_embedding.weight', 'positional_embedding', 'text_projection',
                   'ln_final.weight', 'ln_final.bias'):
            converted[key] = value
        elif key.startswith('transformer.resblocks.'):
            key = 'transformer.' + key[len('transformer.resblocks.'):]
            for old, new in renames:
                key = key.replace(old, new)
            converted[key] = value
    return converted


def read_clip_checkpoint(path: str) -> Dict[str, Tensor]:
    """Read a local CLIP weight file of any released container format.

    Args:
        path (str): ``.pt`` (TorchScript archive or state dict), ``.bin`` /
            ``.pth`` (state dict) or ``.safetensors``.

    Returns:
        dict[str, Tensor]: The raw state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'CLIP checkpoint not found: {path!r}. ' + CLIP_DOWNLOAD_HINT)
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        loaded = torch.load(path, map_location='cpu', weights_only=True)
    except RuntimeError as err:
        if 'TorchScript' not in str(err) and 'constants.pkl' not in str(err):
            raise RuntimeError(f'cannot read CLIP checkpoint {path!r}: {err}') from err
        loaded = torch.jit.load(path, map_location='cpu').state_dict()
    if not isinstance(loaded, dict):
        raise RuntimeError(f'{path!r} holds a {type(loaded).__name__}, not a CLIP state dict.')
    return loaded


@MODELS.register_module()
class CLIPSentenceEncoder(FrozenTextEncoder):
    """Frozen CLIP text tower with a sentence-embedding cache.

    Args:
        checkpoint (str, optional): Local OpenAI-CLIP or open_clip weight file
            (see module docstring). ``None`` gives seeded random weights, for
            tests and parameter counts only.
        context_length (int): Token positions. Defaults to 77.
        vocab_size (int): BPE vocabulary size. Defaults to 49408.
        width (int): Transformer width. Defaults to 512 (ViT-B/32).
        num_layers (int): Transformer layers. Defaults to 12.
        num_heads (int): Attention heads. Defaults to 8.
        embed_dim (int): Output (projected) embedding size. Defaults to 512.
        normalize (bool): L2-normalise the embeddings. Defaults to False
            (``encode_text`` as released; the losses normalise themselves).
        **kwargs: ``cache_size``, ``save_weights``, ``batch_size`` of
            :class:`FrozenTextEncoder`.
    """

    def __init__(self, checkpoint: Optional[str] = None, context_length: int = 77,
                 vocab_size: int = 49408, width: int = 512, num_layers: int = 12,
                 num_heads: int = 8, embed_dim: int = 512, normalize: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.context_length = context_length
        self.embed_dim = embed_dim
        self.normalize = normalize
        self.checkpoint = checkpoint
        # mmcv builds the tower's QuickGELU from mmseg's registry: mmseg scope.
        with DefaultScope.overwrite_default_scope('mmseg'):
            self.tower = MMSegCLIPTextEncoder(
                vocabulary=[], cat_bg=False, total_vocab_size=vocab_size,
                context_length=context_length, embed_dims=width, num_layers=num_layers,
                num_heads=num_heads, output_dims=embed_dim, cache_feature=False)
        del self.tower.logit_scale  # a CLIP training temperature, unused for text features
        self.init_weights()
        self.freeze()

    def init_weights(self) -> None:
        """Load the checkpoint, or random-initialise without one.

        Called at construction (so a model built for testing has the frozen
        weights, which its checkpoints leave out) and again by the runner
        after the parent's ``init_cfg`` ran, which must not overwrite them.
        """
        if self.checkpoint is not None:
            self.load_checkpoint(self.checkpoint)
            return
        gen = torch.Generator().manual_seed(0)
        tower = self.tower
        torch.nn.init.normal_(tower.token_embedding.weight, std=0.02, generator=gen)
        torch.nn.init.normal_(tower.positional_embedding, std=0.01, generator=gen)
        torch.nn.init.normal_(tower.text_projection, std=tower.text_projection.shape[0] ** -0.5,
                              generator=gen)

    def load_checkpoint(self, path: str) -> None:
        """Load a local CLIP file strictly into the text tower."""
        weights = convert_clip_text_checkpoint(read_clip_checkpoint(path))
        own = self.tower.state_dict()
        missing = sorted(set(own) - set(weights))
        mismatched = [f'{k}: file {tuple(weights[k].shape)} vs model {tuple(v.shape)}'
                      for k, v in own.items() if k in weights and weights[k].shape != v.shape]
        if missing or mismatched:
            raise RuntimeError(
                f'{path!r} does not fit this CLIP text tower '
                f'(width {self.tower.text_projection.shape[0]}, '
                f'{len(self.tower.transformer)} layers): '
                f'{len(missing)} missing keys {missing[:5]}, shape mismatches '
                f'{mismatched[:5]}. Expected a ViT-B/32 text tower, or set '
                'width / num_layers / num_heads / embed_dim to the file\'s model.')
        self.tower.load_state_dict({k: weights[k] for k in own}, strict=True)

    def tokenize(self, texts: List[str]) -> Tensor:
        """mmseg's CLIP BPE tokenizer; over-long sentences are cut at the context."""
        return tokenizer.tokenize(texts, context_length=self.context_length)

    def encode_uncached(self, texts: List[str]) -> Tensor:
        tokens = self.tokenize(texts).to(self._device())
        return self.tower.encode_text(tokens, normalize=self.normalize)
