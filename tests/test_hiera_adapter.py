"""HieraAdapter (STSF-Net optical encoder) and SemanticPriorGenerator (SPG).

Checkpoints are written here in the official SAM2 layout by inverting the
conversion from a random timm trunk, so loading is checked against timm's own
features for the same weights. Small inputs (64x64, arch 'tiny') keep it fast.
"""
import copy

import pytest
import timm
import torch
from torch import nn

import mmcd_plugin.models.backbones  # noqa: F401  (registers the backbones)
from mmcd_plugin.models.backbones import (HieraAdapter, SemanticPriorGenerator,
                                          adapter_param_count, convert_sam2_checkpoint)
from mmcd_plugin.registry import MODELS

SIZE = 64


def timm_trunk(arch='tiny', seed=0):
    torch.manual_seed(seed)
    model = timm.create_model(f'sam2_hiera_{arch}', pretrained=False, num_classes=0)
    model.head = nn.Identity()
    return model.eval()


def to_official(trunk_sd):
    """Inverse of convert_sam2_checkpoint: timm trunk keys -> SAM2 file keys."""
    out = {}
    for k, v in trunk_sd.items():
        k = k.replace('mlp.fc1', 'mlp.layers.0').replace('mlp.fc2', 'mlp.layers.1')
        out['image_encoder.trunk.' + k] = v.clone()
    return out


def write_official(path, trunk_sd):
    model = to_official(trunk_sd)
    # some non-trunk keys as in the real files
    model['image_encoder.neck.convs.0.conv.weight'] = torch.randn(4, 4, 1, 1)
    model['sam_mask_decoder.iou_token.weight'] = torch.randn(1, 8)
    model['sam_prompt_encoder.point_embeddings.0.weight'] = torch.randn(1, 8)
    model['maskmem_tpos_enc'] = torch.randn(7, 1, 1, 8)
    torch.save({'model': model}, path)
    return str(path)


@pytest.fixture(scope='module')
def reference():
    return timm_trunk('tiny', seed=1)


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory, reference):
    return write_official(tmp_path_factory.mktemp('sam2') / 'sam2.1_hiera_tiny.pt',
                          reference.state_dict())


def test_conversion_roundtrip(reference):
    sd = reference.state_dict()
    official = to_official(sd)
    assert any('mlp.layers.0' in k for k in official)
    official['sam_mask_decoder.x'] = torch.zeros(1)
    converted = convert_sam2_checkpoint({'model': official})
    assert converted.keys() == sd.keys()
    assert all(torch.equal(converted[k], sd[k]) for k in sd)
    # the bare 'model' state dict works too
    assert convert_sam2_checkpoint(official).keys() == sd.keys()


def test_features_equal_timm_trunk(tiny_ckpt, reference):
    model = HieraAdapter(arch='tiny', checkpoint=tiny_ckpt).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        feats = model(x)
        ref = reference.forward_intermediates(x, intermediates_only=True)
    assert len(feats) == 4
    for i, (f, r) in enumerate(zip(feats, ref)):
        assert f.shape == (2, 96 * 2 ** i, SIZE // 4 // 2 ** i, SIZE // 4 // 2 ** i)
        torch.testing.assert_close(f, r, rtol=0, atol=1e-6)
    # mmengine's init_weights keeps the pretrained trunk (reloads it)
    nn.init.zeros_(model.trunk.patch_embed.proj.weight)
    model._is_init = False
    model.init_weights()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[3], ref[3], rtol=0, atol=1e-6)


def test_out_indices_and_sizes(tiny_ckpt):
    model = HieraAdapter(arch='tiny', out_indices=(1, 2)).eval()
    assert len(model.adapters) == model.stage_ends[2] + 1  # later blocks not run
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 96, 128))
    assert [f.shape[1:] for f in feats] == [(192, 12, 16), (384, 6, 8)]
    with pytest.raises(ValueError, match='divisible by 32'):
        model(torch.randn(1, 3, 80, 64))


def test_missing_file_message(tmp_path):
    path = str(tmp_path / 'sam2.1_hiera_small.pt')
    with pytest.raises(FileNotFoundError, match='sam2.1_hiera_small.pt') as err:
        HieraAdapter(arch='small', checkpoint=path)
    assert 'model.backbone.checkpoint' in str(err.value)


def test_bad_checkpoint_messages(tmp_path, reference):
    sd = reference.state_dict()
    # missing keys (truncated file) + an unexpected key
    broken = {k: v for k, v in sd.items() if not k.startswith('blocks.11.')}
    broken['blocks.0.extra.weight'] = torch.zeros(1)
    path = write_official(tmp_path / 'broken.pt', broken)
    with pytest.raises(RuntimeError) as err:
        HieraAdapter(arch='tiny', checkpoint=path)
    msg = str(err.value)
    assert path in msg and 'Missing keys' in msg and 'blocks.11.attn.qkv.weight' in msg
    assert 'Unexpected keys 1' in msg and 'blocks.0.extra.weight' in msg
    assert '(' in msg and 'more)' in msg  # long lists are cut with a count

    # a 'tiny' file loaded as 'small': names the keys and suggests arch='tiny'
    path = write_official(tmp_path / 'sam2.1_hiera_tiny.pt', sd)
    with pytest.raises(RuntimeError) as err:
        HieraAdapter(arch='small', checkpoint=path)
    msg = str(err.value)
    assert "'small'" in msg and 'Missing keys 50:' in msg and 'blocks.12.' in msg
    assert 'Shape mismatches' in msg and "set arch='tiny'" in msg

    # a file without any SAM2 trunk
    path = str(tmp_path / 'other.pt')
    torch.save({'state_dict': {'backbone.conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(RuntimeError, match='no SAM2 image trunk'):
        HieraAdapter(arch='tiny', checkpoint=path)


def test_only_adapters_train(tiny_ckpt):
    model = HieraAdapter(arch='tiny', checkpoint=tiny_ckpt)
    model.train()
    assert not model.trunk.training and model.adapters.training
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith('adapters.') for n in trainable)
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith('adapters.')}

    trunk_before = copy.deepcopy(model.trunk.state_dict())
    adapters_before = copy.deepcopy(model.adapters.state_dict())
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):  # step 1 moves fc2 off zero, step 2 then moves fc1 too
        optim.zero_grad()
        sum(f.square().mean() for f in model(torch.randn(1, 3, SIZE, SIZE))).backward()
        assert all(p.grad is None for p in model.trunk.parameters())
        optim.step()
    for k, v in model.trunk.state_dict().items():
        assert torch.equal(v, trunk_before[k]), k
    after = model.adapters.state_dict()
    assert all(not torch.equal(after[k], adapters_before[k]) for k in after)


def test_trainable_norms_option():
    with torch.device('meta'):  # structure only: no compute, no init cost
        model = HieraAdapter(arch='tiny', trainable_norms=(3,))
    names = {n for n, p in model.named_parameters() if p.requires_grad and
             n.startswith('trunk.')}
    last_stage = range(model.stage_ends[2] + 1, model.stage_ends[3] + 1)
    assert names == {f'trunk.blocks.{i}.{norm}.{p}' for i in last_stage
                     for norm in ('norm1', 'norm2') for p in ('weight', 'bias')}
    with torch.device('meta'):
        model = HieraAdapter(arch='tiny', use_adapters=False)
    assert model.adapters is None
    assert not any(p.requires_grad for p in model.parameters())


def test_adapter_param_count_small():
    with torch.device('meta'):
        model = HieraAdapter(arch='small')
    n = sum(p.numel() for p in model.adapters.parameters())
    # sum over the 16 blocks of 2*C*64 + 64 + C; input widths 96x2, 192x2, 384x11, 768
    assert n == adapter_param_count('small') == 129 * 5568 + 64 * 16 == 719_296
    print(f'Hiera-S adapters: {n} parameters (paper Table VI: 0.72 M trainable)')
    with torch.device('meta'):
        ratio = HieraAdapter(arch='tiny', adapter_ratio=0.25)
    assert sum(p.numel() for p in ratio.adapters.parameters()) == \
        adapter_param_count('tiny', adapter_ratio=0.25)
    assert ratio.adapters[0].fc1.out_features == 24


def test_build_from_registry(tiny_ckpt):
    model = MODELS.build(dict(type='HieraAdapter', arch='tiny', checkpoint=tiny_ckpt))
    assert isinstance(model, HieraAdapter)


# ---------------------------------------------------------------- SPG


def test_spg_frozen_and_equal_to_encoder(tiny_ckpt):
    enc_cfg = dict(type='HieraAdapter', arch='tiny', use_adapters=False, checkpoint=tiny_ckpt)
    spg = MODELS.build(dict(type='SemanticPriorGenerator', encoder=enc_cfg))
    spg.train()
    assert not spg.encoder.training and not spg.encoder.trunk.training
    assert not any(p.requires_grad for p in spg.parameters())

    # a second module loading the same file: separate copy, same output
    optical = HieraAdapter(arch='tiny', checkpoint=tiny_ckpt).eval()
    assert optical.trunk.pos_embed.data_ptr() != spg.encoder.trunk.pos_embed.data_ptr()

    opt = torch.randn(2, 3, SIZE, SIZE, requires_grad=True)
    sar = torch.randn(2, 1, SIZE, SIZE)
    priors_opt, priors_sar = spg(opt, sar)
    assert isinstance(priors_opt, list) and len(priors_opt) == len(priors_sar) == 4
    assert not any(p.requires_grad for p in priors_opt + priors_sar)
    with torch.no_grad():
        ref_opt = optical(opt)
        ref_sar = optical(sar.repeat(1, 3, 1, 1))
    # one batched trunk call for both modalities: separate calls' numbers up to
    # the rounding of differently blocked matrix products
    for a, b in zip(priors_opt, ref_opt):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(priors_sar, ref_sar):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_spg_band_handling():
    spg = SemanticPriorGenerator(encoder=dict(type='ResNetV1c', depth=18, base_channels=8,
                                              stem_channels=8))
    quad = torch.randn(1, 4, 8, 8)
    assert torch.equal(spg.adapt_channels(quad), quad.mean(1, keepdim=True).repeat(1, 3, 1, 1))
    assert torch.equal(spg.adapt_channels(quad, (0, 1, 3)), quad[:, [0, 1, 3]])
    spg.reduce = 'first'
    assert torch.equal(spg.adapt_channels(quad), quad[:, :1].repeat(1, 3, 1, 1))
    rgb = torch.randn(1, 3, 8, 8)
    assert spg.adapt_channels(rgb) is rgb
    with pytest.raises(ValueError, match='reduce'):
        SemanticPriorGenerator(encoder=dict(type='ResNetV1c', depth=18), reduce='max')


def test_spg_with_mmseg_resnet():
    enc_cfg = dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8,
                   out_indices=(0, 1, 2, 3))
    spg = MODELS.build(dict(type='SemanticPriorGenerator', encoder=enc_cfg))
    spg.init_weights()
    spg.train()
    assert not spg.encoder.training  # BN statistics never update
    assert not any(p.requires_grad for p in spg.parameters())
    bn = next(m for m in spg.encoder.modules() if isinstance(m, nn.BatchNorm2d))
    running = bn.running_mean.clone()
    opt, sar = torch.randn(2, 3, SIZE, SIZE), torch.randn(2, 4, SIZE, SIZE)
    priors_opt, priors_sar = spg(opt, sar)
    assert torch.equal(bn.running_mean, running)
    assert [p.shape[1] for p in priors_opt] == [8, 16, 32, 64]
    with torch.no_grad():
        ref = spg.encoder(sar.mean(1, keepdim=True).repeat(1, 3, 1, 1))
    for a, b in zip(priors_sar, ref):
        assert torch.equal(a, b)
