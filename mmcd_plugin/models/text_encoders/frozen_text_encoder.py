"""Base class of the frozen sentence encoders used as text supervision.

S2M (Eq. 4, 6-7) and MMChange (TDE) both embed sentences with a *frozen*
pretrained text encoder: the embeddings are fixed functions of the sentence.
This base class holds what follows from that and nothing model specific:

* the weights never train (``requires_grad=False``, always in eval mode, no
  autograd graph is built);
* every distinct sentence is encoded once and its embedding cached (an LRU
  dictionary of CPU tensors, ``cache_size`` entries), so a dataset whose
  sentences repeat costs one transformer pass per distinct sentence;
* with ``save_weights=False`` (the default) the encoder's weights are left out
  of the model's checkpoints and a checkpoint without them loads without
  "missing keys": they come from the encoder's own pretrained file at build
  time, and a deployed model that never sees text does not carry them;
* the encoder runs in fp32 even inside a bf16/fp16 autocast region: a
  cached embedding must not depend on the precision of the call that first
  computed it, and a batch of sentences costs little next to the images.

Subclasses implement :meth:`encode_uncached` and set ``embed_dim``.
"""
from collections import OrderedDict
from typing import Dict, List, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn


class FrozenTextEncoder(BaseModule):
    """Frozen, caching sentence encoder: ``forward(texts) -> (N, embed_dim)``.

    Args:
        cache_size (int): Distinct sentences kept in the embedding cache
            (least recently used ones are dropped). 0 disables caching.
            Defaults to 65536.
        save_weights (bool): Keep the encoder's weights in the model's
            state dict (and so in checkpoints). Defaults to False.
        batch_size (int): Sentences encoded per forward pass on a cache miss.
            Defaults to 256.
        init_cfg (dict, optional): Initialisation config.
    """

    embed_dim: int

    def __init__(self, cache_size: int = 65536, save_weights: bool = False,
                 batch_size: int = 256, init_cfg=None):
        super().__init__(init_cfg)
        self.cache_size = cache_size
        self.save_weights = save_weights
        self.batch_size = batch_size
        self._cache: 'OrderedDict[str, Tensor]' = OrderedDict()
        if not save_weights:
            self._register_state_dict_hook(_drop_own_keys)
            self._register_load_state_dict_pre_hook(_fill_own_keys, with_module=True)

    def freeze(self) -> None:
        """Stop gradients and switch to eval mode (called by subclasses)."""
        for param in self.parameters():
            param.requires_grad = False
        super().train(False)

    def train(self, mode: bool = True) -> 'FrozenTextEncoder':
        """Stay in eval mode: dropout never acts on a frozen encoder."""
        return super().train(False)

    def encode_uncached(self, texts: List[str]) -> Tensor:
        """Embed sentences with the network: ``(len(texts), embed_dim)``."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, texts: Sequence[str]) -> Tensor:
        """Embed sentences, each distinct sentence computed once.

        Args:
            texts (Sequence[str]): Sentences.

        Returns:
            Tensor: ``(len(texts), embed_dim)`` embeddings on the encoder's
            device, without gradient.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f'{type(self).__name__} expects a list of sentences (str), '
                            f'got {type(texts).__name__}: {texts!r:.200}')
        device = self._device()
        if self.cache_size <= 0:
            return self._encode_batched(list(texts)).to(device)
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for text, emb in zip(todo, self._encode_batched(todo).cpu()):
                self._cache[text] = emb
        for text in texts:
            self._cache.move_to_end(text)
        out = torch.stack([self._cache[t] for t in texts]).to(device)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def _encode_batched(self, texts: List[str]) -> Tensor:
        with torch.autocast(self._device().type, enabled=False):
            chunks = [self.encode_uncached(texts[i:i + self.batch_size])
                      for i in range(0, len(texts), self.batch_size)]
        return torch.cat(chunks).float()

    def _device(self) -> torch.device:
        param = next(self.parameters(), None)
        return param.device if param is not None else torch.device('cpu')


def _drop_own_keys(module: FrozenTextEncoder, state_dict: dict, prefix: str,
                   local_metadata) -> None:
    """State-dict hook: leave the frozen encoder's weights out."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def _fill_own_keys(module: FrozenTextEncoder, state_dict: dict, prefix: str,
                   *args) -> None:
    """Load pre-hook: a checkpoint without the frozen weights keeps the current ones.

    The weights were loaded from the encoder's own pretrained file when it
    was built; filling the absent keys with them makes strict loading pass
    and changes nothing. Keys present in the checkpoint load as usual.
    """
    for name, tensor in _full_state(module).items():
        state_dict.setdefault(prefix + name, tensor)


def _full_state(module: nn.Module) -> Dict[str, Tensor]:
    """Parameters and persistent buffers by state-dict name, bypassing hooks."""
    state = {}
    for mod_name, mod in module.named_modules():
        mod_prefix = mod_name + '.' if mod_name else ''
        for name, tensor in mod._parameters.items():
            if tensor is not None:
                state[mod_prefix + name] = tensor.detach()
        for name, tensor in mod._buffers.items():
            if tensor is not None and name not in mod._non_persistent_buffers_set:
                state[mod_prefix + name] = tensor
    return state
