"""bf16 inference and training on CPU: precision resolution, packed bf16
linear layers, fp32 logits, the CPU AMP optimizer wrapper and ``--amp``."""
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from torch import nn

from mmcd_plugin.engine import CPUAmpOptimWrapper
from mmcd_plugin.registry import MODELS, OPTIM_WRAPPERS
from mmcd_plugin.utils import launch, precision
from mmcd_plugin.utils.packed_linear import ONEDNN_LINEAR_AVAILABLE, PackedLinear, pack_linear

needs_bf16 = pytest.mark.skipif(precision.bf16_unsupported_reason('cpu') is not None,
                                reason='CPU without native bf16')


def no_native_bf16(monkeypatch):
    monkeypatch.setattr(precision.torch.cpu, '_is_avx512_bf16_supported', lambda: False)
    monkeypatch.setattr(precision.torch.cpu, '_is_amx_tile_supported', lambda: False)
    messages = []
    monkeypatch.setattr(precision, 'print_log', lambda msg, **kw: messages.append(msg))
    return messages


def test_precision_resolution_and_fallback(monkeypatch):
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\)"):
        precision.resolve_precision('fp16')
    assert precision.resolve_precision('fp32') == 'fp32'
    messages = no_native_bf16(monkeypatch)
    assert precision.resolve_precision('fp32') == 'fp32' and messages == []
    assert precision.resolve_precision('bf16') == 'fp32'
    assert messages == ['bf16 requested, running in fp32: this CPU has none of avx512_bf16, '
                        'amx_bf16, so oneDNN would emulate bf16, slower than fp32.']


@needs_bf16
def test_bf16_is_kept_where_the_cpu_has_it():
    assert precision.resolve_precision('bf16') == 'bf16'


@pytest.mark.skipif(not ONEDNN_LINEAR_AVAILABLE, reason='torch built without oneDNN')
def test_packed_linear_is_bf16_with_an_fp32_bias_and_follows_weight_changes():
    """bf16 products as autocast's linear (2-D and 4-D inputs) but the bias
    added in fp32: a bias of 5.01, which bf16 rounds to 5.0, leaves no offset;
    nn.Linear outside autocast; the packed copy is rebuilt when the weight
    changes and is not copied or pickled."""
    torch.manual_seed(0)
    reference = nn.Linear(24, 40)
    with torch.no_grad():
        reference.bias.fill_(5.01)
    layer = pack_linear(nn.Sequential(copy.deepcopy(reference)))[0]
    assert type(layer) is PackedLinear
    x = torch.randn(2, 5, 7, 24)

    def bf16_products(inputs, lin):  # bf16 operands, fp32 sum and bias, rounded once
        return (inputs.bfloat16().float() @ lin.weight.bfloat16().float().t()
                + lin.bias).bfloat16()
    with torch.inference_mode():
        assert torch.equal(layer(x), reference(x))  # fp32: nn.Linear
        exact = reference(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            for inputs in (x, x[0, 0]):
                got = layer(inputs)
                assert got.dtype == torch.bfloat16
                torch.testing.assert_close(got, bf16_products(inputs, reference),
                                           rtol=2 ** -7, atol=0)
            assert '_packed_weights' in layer.__dict__
            offset, autocast_offset = ((out.float() - exact).mean().item()
                                       for out in (layer(x), reference(x)))
    assert abs(offset) < 1e-3 and autocast_offset == pytest.approx(-0.01, abs=3e-3)
    with torch.no_grad():
        layer.weight.mul_(-1)
        reference.weight.mul_(-1)
    with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16):
        torch.testing.assert_close(layer(x), bf16_products(x, reference), rtol=2 ** -7, atol=0)
    assert '_packed_weights' not in copy.deepcopy(layer).__dict__
    assert '_packed_weights' not in pickle.loads(pickle.dumps(layer)).__dict__


def test_packed_linear_trains_as_nn_linear():
    """With autograd recording it is nn.Linear under autocast, gradients included."""
    torch.manual_seed(0)
    reference = nn.Linear(6, 3)
    layer = pack_linear(nn.Sequential(copy.deepcopy(reference)))[0]
    x = torch.randn(4, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        layer(x).float().sum().backward()
        reference(x).float().sum().backward()
    assert torch.equal(layer.weight.grad, reference.weight.grad)


def tiny_segmentor():
    init_default_scope('mmcd_plugin')
    torch.manual_seed(0)
    cfg = Config.fromfile('configs/tiny/tiny_siamese-resnet_levir-cd.py')
    return MODELS.build(cfg.model)


def test_fp32_logits_runs_the_classifier_in_fp32_inside_autocast():
    model = tiny_segmentor().eval()
    first, again = precision.fp32_logits(model), precision.fp32_logits(model)
    assert len(first) == 2 and again == []   # one classifier, hooked once
    conv_seg = model.decode_head.conv_seg
    with torch.no_grad():
        conv_seg.bias.fill_(2.3)  # bf16 would round it to 2.296875
    seen = {}
    conv_seg.register_forward_pre_hook(  # runs after fp32_logits' pre-hook
        lambda m, args: seen.update(input=args[0], autocast=torch.is_autocast_enabled('cpu')))
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        model._forward(x)
        assert torch.is_autocast_enabled('cpu')  # switched back after the classifier
        out = conv_seg(seen['input'])
    assert seen['input'].dtype == torch.float32 and seen['autocast'] is False
    with torch.no_grad():
        torch.testing.assert_close(out, F.conv2d(seen['input'], conv_seg.weight, conv_seg.bias),
                                   rtol=0, atol=0)
    # an exception inside the classifier leaves autocast as it was
    with torch.autocast('cpu', dtype=torch.bfloat16), pytest.raises(RuntimeError):
        conv_seg(torch.randn(1, 3, 4, 4))
    assert not torch.is_autocast_enabled('cpu')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with pytest.raises(RuntimeError):
            conv_seg(torch.randn(1, 3, 4, 4))
        assert torch.is_autocast_enabled('cpu')


def amp_step(model, optim_wrapper_cls, inputs, labels):
    model = copy.deepcopy(model)
    wrapper = optim_wrapper_cls(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    dtypes = []
    model[0].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    with wrapper.optim_context(model):
        logits = model(inputs)
        loss = F.cross_entropy(logits, labels)
    wrapper.backward(loss)
    grad_dtypes = {p.grad.dtype for p in model.parameters()}
    wrapper.step()
    return model, loss, logits.dtype, dtypes[0], grad_dtypes


def test_cpu_amp_optim_wrapper_trains_in_bf16_autocast_with_fp32_weights():
    """One SGD step: the convolution ran in bf16, the logits (a classifier
    named conv_seg) and the loss are fp32, the weights and gradients stay
    fp32, and the step is exactly that of a hand-written autocast step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    model.add_module('conv_seg', nn.Conv2d(8, 2, 1))
    inputs, labels = torch.randn(2, 3, 8, 8), torch.randint(0, 2, (2, 8, 8))
    amp_model, loss, logits_dtype, conv_dtype, grad_dtypes = amp_step(
        model, CPUAmpOptimWrapper, inputs, labels)
    assert conv_dtype == torch.bfloat16 and logits_dtype == loss.dtype == torch.float32
    assert grad_dtypes == {torch.float32}
    assert all(p.dtype == torch.float32 for p in amp_model.parameters())
    manual = copy.deepcopy(model)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        features = manual[1](manual[0](inputs))
    manual_loss = F.cross_entropy(manual.conv_seg(features.float()), labels)  # fp32 classifier
    manual_loss.backward()
    with torch.no_grad():
        for p in manual.parameters():
            p -= 0.1 * p.grad
    for a, b in zip(amp_model.parameters(), manual.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    _, fp32_loss, _, fp32_conv, _ = amp_step(model, OptimWrapper, inputs, labels)
    assert fp32_conv == torch.float32 and fp32_loss != loss   # autocast made the difference


def test_amp_flag_on_cpu_picks_the_cpu_wrapper_or_says_why_not(monkeypatch):
    monkeypatch.setattr(launch.torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))
    if precision.bf16_unsupported_reason('cpu') is None:
        launch.enable_amp(cfg)
        assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
        assert OPTIM_WRAPPERS.get('CPUAmpOptimWrapper') is CPUAmpOptimWrapper
    messages = no_native_bf16(monkeypatch)
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))
    launch.enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and len(messages) == 1
    with pytest.raises(ValueError, match='--amp needs optim_wrapper.type OptimWrapper'):
        launch.enable_amp(Config(dict(optim_wrapper=dict(type='OtherWrapper'))))
