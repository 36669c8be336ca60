"""SDPASwinTransformer: mmseg's Swin with fused window attention, same numbers."""
import torch
from mmseg.models.backbones import SwinTransformer

from mmcd_plugin.models.backbones import SDPASwinTransformer
from mmcd_plugin.models.backbones.sdpa_swin import FusedWindowMSA

ARGS = dict(in_channels=4, embed_dims=32, depths=[2, 2], num_heads=[2, 4], window_size=4,
            out_indices=(0, 1), strides=(4, 2), drop_path_rate=0.0)


def test_same_state_dict_and_outputs_as_mmseg_swin():
    torch.manual_seed(0)
    reference = SwinTransformer(**ARGS)
    reference.eval()   # mmseg's Swin.train() returns None: no chaining
    with torch.no_grad():   # a non-zero relative position bias (mmseg inits it at 0.02 std)
        for name, param in reference.named_parameters():
            if 'relative_position_bias_table' in name:
                param.normal_(0, 1)
    fused = SDPASwinTransformer(**ARGS)
    fused.eval()
    assert fused.state_dict().keys() == reference.state_dict().keys()
    fused.load_state_dict(reference.state_dict(), strict=True)
    blocks = [m for m in fused.modules() if isinstance(m, FusedWindowMSA)]
    assert len(blocks) == 4            # every window attention, shifted or not
    # 36 x 44: padding to whole windows and the shifted-window mask both occur
    x = torch.randn(2, 4, 36, 44)
    with torch.no_grad():
        for got, expected in zip(fused(x), reference(x)):
            assert expected.abs().max() > 0.5
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_gradients_match_in_training():
    torch.manual_seed(1)
    reference, fused = SwinTransformer(**ARGS), SDPASwinTransformer(**ARGS)
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(1, 4, 32, 32)
    for model in (reference, fused):
        sum(out.square().sum() for out in model(x)).backward()
    table = 'stages.0.blocks.1.attn.w_msa.relative_position_bias_table'
    grads = [dict(m.named_parameters())[table].grad for m in (reference, fused)]
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-5)
