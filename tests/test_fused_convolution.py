"""Convolutions with ReLU and residual sum fused in (mmcd_plugin/utils/fused_convolution.py)."""
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, fuse_conv_bn
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck
from torch import nn

from mmcd_plugin.utils.fused_convolution import (ONEDNN_AVAILABLE, FusedBasicBlock,
                                                 FusedBottleneck, FusedConv2d,
                                                 FusedConvModule, fuse_conv_relu)

needs_onednn = pytest.mark.skipif(not ONEDNN_AVAILABLE, reason='torch built without oneDNN')


def channels_last(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).contiguous(
        memory_format=torch.channels_last)


def fused_copy(conv):
    fused = copy.deepcopy(conv)
    fuse_conv_relu(fused)
    assert type(fused) is FusedConv2d
    return fused


def test_fused_conv_relu_of_a_hand_computed_case():
    """1x1 convolution, one input channel: y = relu(w x + b + r) by hand."""
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.5, 1.0]))
    fused = fused_copy(conv)
    x = torch.tensor([1.0, -2.0, 3.0, 0.0]).view(1, 1, 2, 2).contiguous(
        memory_format=torch.channels_last)
    residual = torch.tensor([[0.0, 1.0, -10.0, 2.0], [1.0, 1.0, 1.0, 1.0]]).view(1, 2, 2, 2)
    with torch.inference_mode():
        got = fused(x, residual=residual, relu=True)
        assert (fused._fused_dtype(x, residual) == torch.float32) == ONEDNN_AVAILABLE
    # channel 0: 2x + 0.5 + r = [2.5, -2.5, -3.5, 2.5] -> relu
    # channel 1: -x + 1 + 1   = [1, 4, -1, 2]          -> relu
    assert got[0].flatten(1).tolist() == [[2.5, 0.0, 0.0, 2.5], [1.0, 4.0, 0.0, 2.0]]


@needs_onednn
@pytest.mark.parametrize('kernel,stride,dilation,groups', [
    (1, 1, 1, 1), (3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 4, 1), (5, 4, 1, 1), (7, 1, 1, 8)])
def test_fused_conv_matches_conv_add_relu(kernel, stride, dilation, groups):
    """Against F.conv2d + residual + relu on random data, every geometry the
    methods use (strided, dilated, grouped), with and without bias; the
    fused path really runs (oneDNN's op is called)."""
    for bias in (True, False):
        conv = nn.Conv2d(16, 24, kernel, stride, dilation * (kernel // 2), dilation,
                         groups, bias=bias)
        fused = fused_copy(conv).to(memory_format=torch.channels_last)
        x = channels_last(2, 16, 19, 21, seed=1)
        with torch.inference_mode():
            plain = conv(x)
            residual = torch.randn_like(plain)
            assert fused._fused_dtype(x, residual) == torch.float32
            torch.testing.assert_close(fused(x), plain, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(fused(x, relu=True), plain.relu(), atol=1e-5, rtol=1e-5)
            got = fused(x, residual=residual, relu=True)
            torch.testing.assert_close(got, (plain + residual).relu(), atol=1e-5, rtol=1e-5)
        assert got.is_contiguous(memory_format=torch.channels_last)


@needs_onednn
def test_prepacked_weight_follows_weight_changes_and_shapes():
    """The packed copy is per input shape (two kept) and is rebuilt when the
    weight changes (load_state_dict, in-place edits, .to()): a stale copy
    would keep giving the old outputs."""
    conv = nn.Conv2d(8, 8, 3, padding=1).eval()
    fused = fused_copy(conv).to(memory_format=torch.channels_last)
    small, large = channels_last(1, 8, 9, 9), channels_last(2, 8, 17, 13)
    with torch.inference_mode():
        fused(small), fused(large)
        assert len(fused._packed) == 2
        other = nn.Conv2d(8, 8, 3, padding=1)
        fused.load_state_dict(other.state_dict())
        torch.testing.assert_close(fused(small), other(small), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        fused.weight.mul_(-1)
    with torch.inference_mode():
        torch.testing.assert_close(fused(large), F.conv2d(large, -other.weight, other.bias,
                                                          padding=1), atol=1e-5, rtol=1e-5)
        assert list(fused._packed) == [(tuple(large.shape), torch.float32)]
        # at most MAX_PACKED_SHAPES (2) shapes are kept: a third starts over
        third = channels_last(3, 8, 5, 7)
        fused(small)
        torch.testing.assert_close(fused(third), F.conv2d(third, -other.weight, other.bias,
                                                          padding=1), atol=1e-5, rtol=1e-5)
        assert list(fused._packed) == [(tuple(third.shape), torch.float32)]


def test_eager_path_with_autograd_nchw_and_double():
    """Inputs the fused kernel does not take (autograd, NCHW, float64) give
    the same function by the eager path, with gradients."""
    conv = nn.Conv2d(4, 6, 3, padding=1)
    fused = fused_copy(conv)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    residual = torch.randn(2, 6, 8, 8)
    assert fused._fused_dtype(x, residual) is None
    out = fused(x, residual=residual, relu=True)
    expected = (conv(x) + residual).relu()
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    grad = x.grad.clone()
    x.grad = None
    expected.sum().backward()
    torch.testing.assert_close(grad, x.grad)
    with torch.no_grad():
        assert fused._fused_dtype(x.detach(), None) is None  # NCHW
        double = fused_copy(conv.double())
        torch.testing.assert_close(double(x.detach().double(), relu=True),
                                   conv.double()(x.detach().double()).relu())


@needs_onednn
def test_fused_conv_copies_and_pickles_without_its_packed_weight():
    fused = fused_copy(nn.Conv2d(3, 4, 3)).to(memory_format=torch.channels_last)
    x = channels_last(1, 3, 8, 8)
    with torch.inference_mode():
        expected = fused(x)
    assert fused._packed  # oneDNN's opaque tensors, which cannot be copied
    for clone in (copy.deepcopy(fused), pickle.loads(pickle.dumps(fused))):
        assert '_packed' not in clone.__dict__
        with torch.inference_mode():
            torch.testing.assert_close(clone(x), expected)


def folded_eval(module):
    """Random BN statistics, folded, eval, channels-last."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=gen))
                m.bias.copy_(torch.randn(m.num_features, generator=gen))
    module.eval()
    return module


@pytest.mark.parametrize('block,downsample', [
    (BasicBlock, False), (BasicBlock, True), (Bottleneck, False), (Bottleneck, True)])
def test_fused_resnet_blocks_keep_outputs_and_inputs(block, downsample):
    """mmseg's blocks after folding: same outputs as the unfused block, the
    block's input untouched (the residual sum is not written into it), and
    the same state-dict keys."""
    inplanes, planes = (16, 4) if block is Bottleneck else (8, 8)
    out_channels = planes * block.expansion
    down = None
    if downsample or inplanes != out_channels:
        down = nn.Sequential(nn.Conv2d(inplanes, out_channels, 1, 2 if downsample else 1,
                                       bias=False), nn.BatchNorm2d(out_channels))
    stride = 2 if downsample else 1
    reference = folded_eval(block(inplanes, planes, stride=stride, downsample=down))
    fused = copy.deepcopy(reference)
    fuse_conv_bn(fused)
    keys = set(fused.state_dict())
    fuse_conv_relu(fused.to(memory_format=torch.channels_last))
    assert type(fused) is (FusedBottleneck if block is Bottleneck else FusedBasicBlock)
    assert set(fused.state_dict()) == keys
    x = channels_last(2, inplanes, 12, 12, seed=5)
    before = x.clone()
    with torch.inference_mode():
        expected = reference(x)
        got = fused(x)
    assert (expected == 0).any() and (expected > 0).any()  # the ReLU matters
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(x, before)


def test_conv_module_fused_only_when_its_norm_is_folded_and_act_is_relu():
    relu = ConvModule(4, 6, 3, padding=1, norm_cfg=dict(type='BN'))
    gelu = ConvModule(4, 6, 3, padding=1, norm_cfg=dict(type='BN'), act_cfg=dict(type='GELU'))
    unfolded = ConvModule(4, 6, 3, padding=1, norm_cfg=dict(type='BN'))
    models = [folded_eval(m) for m in (relu, gelu, unfolded)]
    expected = [copy.deepcopy(m) for m in models]
    fuse_conv_bn(relu), fuse_conv_bn(gelu)
    for m in models:
        fuse_conv_relu(m.to(memory_format=torch.channels_last))
    assert [type(m) for m in models] == [FusedConvModule, ConvModule, ConvModule]
    assert all(type(m.conv) is FusedConv2d for m in models)
    x = channels_last(1, 4, 10, 10, seed=7)
    with torch.inference_mode():
        for m, e in zip(models, expected):
            torch.testing.assert_close(m(x), e(x), atol=1e-5, rtol=1e-5)
        # activate=False still means no activation
        torch.testing.assert_close(relu(x, activate=False), expected[0](x, activate=False),
                                   atol=1e-5, rtol=1e-5)
        assert (relu(x, activate=False) < 0).any()


def test_flop_counter_traces_a_fused_model():
    """mmengine's FlopAnalyzer traces the model (torch.jit.trace), which the
    oneDNN op cannot go through: traced, the eager path runs and the
    convolution is counted, 8 x 10 x 10 outputs of 4 x 3 x 3 multiply-adds."""
    from mmengine.analysis import FlopAnalyzer
    fused = fused_copy(nn.Conv2d(4, 8, 3, padding=1)).to(memory_format=torch.channels_last)
    assert FlopAnalyzer(fused, channels_last(1, 4, 10, 10)).total() == 8 * 10 * 10 * 4 * 9


@needs_onednn
def test_fused_conv_computes_in_bf16_under_autocast_like_autocasts_conv():
    """Under CPU autocast to bf16 the fused path casts the input, residual and
    (once, packed) weight to bf16 as autocast's own convolution does: the
    same result as autocast's conv2d + residual + relu up to bf16 rounding,
    a bf16 output, a bf16 packed copy next to the fp32 one, the fp32
    parameter untouched."""
    conv = nn.Conv2d(16, 24, 3, padding=1)
    fused = fused_copy(conv).to(memory_format=torch.channels_last)
    x, residual = channels_last(2, 16, 12, 12, seed=1), channels_last(2, 24, 12, 12, seed=2)
    with torch.inference_mode():
        fp32 = fused(x, residual=residual, relu=True)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert fused._fused_dtype(x, residual) == torch.bfloat16
            got = fused(x, residual=residual, relu=True)
            reference = (conv(x) + residual.bfloat16()).relu()
    assert got.dtype == reference.dtype == torch.bfloat16
    assert fused.weight.dtype == torch.float32
    assert {key[1] for key in fused._packed} == {torch.float32, torch.bfloat16}
    torch.testing.assert_close(got.float(), reference.float(), atol=0.06, rtol=0.02)
    # bf16 really ran: it differs from fp32 by bf16 rounding, not by nothing
    error = (got.float() - fp32).abs().max().item()
    assert 0 < error < 0.1 * fp32.abs().max().item()


@needs_onednn
@pytest.mark.parametrize('with_residual', [False, True])
def test_bf16_fused_conv_keeps_the_bias_exact(with_residual):
    """A folded BatchNorm leaves biases like 5.01, which bf16 rounds to 5.0:
    autocast's convolution then shifts every output of the channel by -0.01.
    The fused path adds the bias in fp32 (to the accumulator, or to the
    residual before it is cast), so its mean error stays at the rounding
    noise of the products."""
    conv = nn.Conv2d(16, 24, 3, padding=1)
    with torch.no_grad():
        conv.bias.fill_(5.01)
    fused = fused_copy(conv).to(memory_format=torch.channels_last)
    x, residual = channels_last(2, 16, 12, 12, seed=1), channels_last(2, 24, 12, 12, seed=2)
    residual = residual if with_residual else None
    with torch.inference_mode():
        exact = fused(x, residual=residual)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = fused(x, residual=residual)
            autocast = conv(x) + (0 if residual is None else residual.bfloat16())
    assert got.dtype == torch.bfloat16
    assert abs((got.float() - exact).mean().item()) < 1e-3
    assert (autocast.float() - exact).mean().item() == pytest.approx(-0.01, abs=3e-3)
