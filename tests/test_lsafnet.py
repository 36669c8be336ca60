"""LSAFNet: every equation on small tensors (values, not only shapes), the
torchvision checkpoint conversion, the SCD outputs the metric reads, the
change head inside an Open-CD-style composition, and a tiny model learning
real LEVIR-CD tiles as a 2-class semantic change task."""
import math
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd_plugin  # noqa: F401
from mmcd_plugin.evaluation import SemanticChangeMetric
from mmcd_plugin.models.backbones import ResNetWithStem, convert_torchvision_resnet
from mmcd_plugin.models.decode_heads import LSAFChangeHead, LSAFSemanticHead
from mmcd_plugin.models.decode_heads.conv_block import ConvBlock
from mmcd_plugin.models.losses import ChangeBCELoss, SemanticCELoss, SemanticConsistencyLoss
from mmcd_plugin.models.necks import LGAA, LGCE, ConcatFusion, FeatureFusionNeck
from mmcd_plugin.models.necks.sfm import SemanticFusionModule
from mmcd_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(REPO, 'configs/lsafnet/lsafnet_tiny_second.py')
PAPER = osp.join(REPO, 'configs/lsafnet/lsafnet_r34_second.py')


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def randomise_norms(module):
    """Non-trivial eval-mode BatchNorm statistics and affine parameters."""
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.normal_()
            bn.bias.data.normal_()
    return module.eval()


def conv_bn(x, layer, relu):
    """Conv1x1 + eval BN (+ ReLU) of a ConvModule, by hand."""
    y = torch.einsum('oc,nchw->nohw', layer.conv.weight[:, :, 0, 0], x)
    if layer.conv.bias is not None:
        y = y + layer.conv.bias[:, None, None]
    bn = layer.bn
    y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var + bn.eps)[:, None, None]
    y = y * bn.weight[:, None, None] + bn.bias[:, None, None]
    return y.clamp(min=0) if relu else y


def context_by_hand(context, s):
    """w_1 + w_2 of Eq. 3-4: Conv-BN-ReLU-Conv-BN on GAP(s) and on s."""
    def bottleneck(branch, x):
        return conv_bn(conv_bn(x, branch[0], relu=True), branch[1], relu=False)
    return bottleneck(context.global_context, s.mean(dim=(2, 3), keepdim=True)) + \
        bottleneck(context.local_context, s)


def saturate(module, logit):
    """Set the context logits w_1 + w_2 of an LGAA / LGCE to ``logit`` everywhere."""
    for branch in (module.context.global_context, module.context.local_context):
        branch[1].bn.weight.data.zero_()
        branch[1].bn.bias.data.fill_(logit / 2)
    return module


# ---------------------------------------------------------------- LGAA / LGCE

def test_lgaa_of_equal_inputs_is_that_input_whatever_the_weights():
    lgaa = randomise_norms(LGAA(8))
    a = torch.randn(2, 8, 5, 6)
    assert torch.allclose(lgaa(a, a), a, atol=1e-6)
    lgaa.train()
    assert torch.allclose(lgaa(a, a), a, atol=1e-6)
    code_variant = randomise_norms(LGAA(8, output_scale=2.0))  # the authors' 2x
    assert torch.allclose(code_variant(a, a), 2 * a, atol=1e-6)


def test_lgaa_equals_eq_3_to_5_computed_by_hand():
    lgaa = randomise_norms(LGAA(8, reduction=4))
    assert lgaa.context.local_context[0].conv.out_channels == 2  # C / r
    f_i, f_j = torch.randn(2, 8, 4, 5), torch.randn(2, 8, 4, 5)
    weight = torch.sigmoid(context_by_hand(lgaa.context, f_i + f_j))
    expected = f_i * weight + f_j * (1 - weight)
    assert torch.allclose(lgaa(f_i, f_j), expected, atol=1e-5)
    # constant context logit 0 -> s = 1/2: the mean; logit ln 3 -> s = 3/4
    assert torch.allclose(saturate(lgaa, 0.0)(f_i, f_j), (f_i + f_j) / 2, atol=1e-6)
    assert torch.allclose(saturate(lgaa, math.log(3))(f_i, f_j), 0.75 * f_i + 0.25 * f_j,
                          atol=1e-6)


def test_lgce_equals_eq_6_to_8_computed_by_hand():
    lgce = randomise_norms(LGCE(8))
    x = torch.randn(2, 8, 4, 5)
    assert torch.allclose(lgce(x), x * torch.sigmoid(context_by_hand(lgce.context, x)),
                          atol=1e-5)
    assert torch.allclose(saturate(lgce, math.log(3))(x), 0.75 * x, atol=1e-6)


def test_concat_fusion_is_an_mlp_on_the_concatenation():
    fusion = randomise_norms(ConcatFusion(4))
    a, b = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    assert torch.allclose(fusion(a, b), conv_bn(torch.cat([a, b], 1), fusion[0], relu=True),
                          atol=1e-5)


# ---------------------------------------------------------------------- SFM

def test_sfm_fuses_top_down_as_eq_1_and_2():
    sfm = randomise_norms(SemanticFusionModule(in_channels=[4, 4, 8, 16, 32]))
    feats = [torch.randn(2, c, 6, 6) for c in (4, 4, 8, 16, 32)]
    f_l, f_m, f_1, f_2, f_3 = feats
    reduce_3, reduce_2 = sfm.reduces[1], sfm.reduces[0]  # Conv1x1-BN-ReLU of Eq. 1, 2
    assert (reduce_3.conv.in_channels, reduce_3.conv.out_channels) == (32, 16)
    assert (reduce_2.conv.in_channels, reduce_2.conv.out_channels) == (16, 8)
    # Eq. 1's LGAA keeps its first input F_2, Eq. 2's keeps its second, R(F'_2)
    saturate(sfm.fusions[1], 40.0), saturate(sfm.fusions[0], -40.0)
    out = sfm(feats)
    assert out[0] is f_l and out[1] is f_m and len(out) == 3
    assert torch.allclose(out[2], conv_bn(f_2, reduce_2, relu=True), atol=1e-5)
    # both keep the reduced higher level: F_H = R_2(R_1(F_3))
    saturate(sfm.fusions[1], -40.0)
    expected = conv_bn(conv_bn(f_3, reduce_3, relu=True), reduce_2, relu=True)
    assert torch.allclose(sfm(feats)[2], expected, atol=1e-5)
    saturate(sfm.fusions[0], 40.0)  # Eq. 2 keeps F_1
    assert torch.allclose(sfm(feats)[2], f_1, atol=1e-6)


# -------------------------------------------------------------- decoders

def test_conv_block_upsamples_then_fuses_with_a_depthwise_conv():
    block = randomise_norms(ConvBlock(6, 4, 8))
    x_high, x_low = torch.randn(1, 6, 4, 4), torch.randn(1, 4, 8, 8)
    upsampled = F.interpolate(x_high, size=(8, 8), mode='bilinear', align_corners=False)
    assert torch.allclose(block(x_high, x_low), block(upsampled, x_low), atol=1e-6)
    assert block(x_high, x_low).shape == (1, 8, 8, 8)
    assert block.spatial_conv.conv.weight.shape == (8, 1, 3, 3)  # depth-wise (paper)
    assert block.res_blocks[0].downsample is not None  # 6 + 4 -> 8 projection shortcut
    dense = ConvBlock(6, 4, 8, depthwise=False, dilation=2)  # the authors' code
    assert dense.spatial_conv.conv.weight.shape == (8, 8, 3, 3)
    assert dense.spatial_conv.conv.dilation == (2, 2)


def pyramid(batch, channels, sizes):
    return [torch.randn(batch, c, s, s) for c, s in zip(channels, sizes)]


def test_semantic_head_decodes_lgce_of_f_h_then_two_conv_blocks():
    head = randomise_norms(LSAFSemanticHead([4, 4, 8], 8, num_classes=3,
                                            classifier_channels=4))
    f_l, f_m, f_h = pyramid(2, (4, 4, 8), (16, 8, 4))
    low, mid, high = head.forward_features([f_l, f_m, f_h])
    enhanced = head.context_enhancement(f_h)
    assert isinstance(head.context_enhancement, LGCE) and torch.equal(high, enhanced)
    assert torch.allclose(mid, head.block_mid(enhanced, f_m), atol=1e-6)
    assert torch.allclose(low, head.block_low(mid, f_l), atol=1e-6)
    assert head([f_l, f_m, f_h]).shape == (2, 3, 16, 16)
    # the authors' code: decode F_H itself, LGCE only on the copy for the CD decoder
    head.enhance_before_decoding = False
    low, mid, high = head.forward_features([f_l, f_m, f_h])
    assert torch.allclose(mid, head.block_mid(f_h, f_m), atol=1e-6)
    ablated = LSAFSemanticHead([4, 4, 8], 8, num_classes=3, context_enhancement=None)
    assert isinstance(ablated.context_enhancement, torch.nn.Identity)


def change_head_inputs(channels=(4, 4, 8), sizes=(16, 8, 4)):
    date_1, date_2 = pyramid(2, channels, sizes), pyramid(2, channels, sizes)
    return date_1, date_2, [torch.cat(p, dim=1) for p in zip(date_1, date_2)]


def test_change_head_follows_eq_9_to_14():
    head = randomise_norms(LSAFChangeHead([4, 4, 8], 8, classifier_channels=4))
    (l1, m1, h1), (l2, m2, h2), inputs = change_head_inputs()
    assert isinstance(head.fusion, LGAA) and head.reduce_high.conv.out_channels == 4
    high = head.reduce_high(head.fusion(h1, h2))            # Eq. 9-10
    change = head.block_mid(high, (m1 - m2).abs())           # Eq. 11, 13
    change = head.block_low(change, (l1 - l2).abs())         # Eq. 12, 14
    logits = head.conv_seg(head.pre_classifier(change))
    assert torch.allclose(head(inputs), logits, atol=1e-5)
    assert logits.shape == (2, 2, 16, 16)
    # |difference| (Eq. 11-12): swapping the dates' mid and low levels changes nothing
    swapped = [torch.cat([l2, l1], 1), torch.cat([m2, m1], 1), torch.cat([h1, h2], 1)]
    assert torch.allclose(head(swapped), head(inputs), atol=1e-6)
    with pytest.raises(ValueError, match="both dates concatenated.*policy='concat'"):
        head([l1, m1, h1])


def test_change_head_is_a_binary_head_in_an_open_cd_style_scd_model():
    """Open-CD's GeneralSCDHead runs ``binary_cd_head(binary_cd_neck(f1, f2))``
    and ``binary_cd_head.loss_by_feat(logits, samples)``; here on a ResNet-18
    pyramid, built from a config with another default scope."""
    cfg = dict(type='mmcd_plugin.LSAFChangeHead', in_channels=[64, 128, 512],
               in_index=[0, 1, 3], channels=32, num_classes=2)
    with DefaultScope.overwrite_default_scope('mmseg'):
        head = ROOT_MODELS.build(cfg)
        consistency = ROOT_MODELS.build(dict(type='mmcd_plugin.SemanticConsistencyLoss'))
    assert isinstance(head.fusion, LGAA) and isinstance(head.loss_decode, ChangeBCELoss)
    feats_1 = pyramid(2, (64, 128, 256, 512), (16, 8, 4, 2))
    feats_2 = pyramid(2, (64, 128, 256, 512), (16, 8, 4, 2))
    logits = head(FeatureFusionNeck(policy='concat')(feats_1, feats_2))
    assert logits.shape == (2, 2, 16, 16)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 2, (1, 32, 32))))
               for _ in range(2)]
    losses = head.loss_by_feat(logits, samples)
    assert set(losses) == {'loss_bcd', 'acc_seg'} and losses['loss_bcd'] > 0
    semantic = torch.randn(2, 7, 16, 16)
    assert consistency(semantic, semantic, torch.zeros(2, 32, 32, dtype=torch.long)) > 0


# ---------------------------------------------------------------- losses

def test_semantic_ce_ignores_no_change_eq_15():
    logits = torch.tensor([[5.0, -1.0, 2.0], [0.0, 0.0, 0.0], [0.0, math.log(2), 0.0]])
    logits = logits.t().reshape(1, 3, 1, 3)  # three pixels, three classes
    label = torch.tensor([[[0, 1, 2]]])     # pixel 1 unchanged: ignored
    loss = SemanticCELoss(loss_weight=0.5)(logits, label, ignore_index=255)
    assert math.isclose(loss.item(), 0.5 * (math.log(3) + math.log(4)) / 2, rel_tol=1e-6)
    label_255 = torch.tensor([[[0, 1, 255]]])
    assert math.isclose(SemanticCELoss()(logits, label_255, ignore_index=255).item(),
                        math.log(3), rel_tol=1e-6)
    assert SemanticCELoss()(logits, torch.zeros(1, 1, 3, dtype=torch.long),
                            ignore_index=255).item() == 0.0  # no changed pixel: 0, not NaN


def test_change_bce_eq_16_for_one_and_two_logits_and_class_balance():
    z = torch.tensor([0.0, math.log(3), -1.0, 2.0]).reshape(1, 1, 1, 4)
    label = torch.tensor([[[0, 1, 255, 1]]])
    # -log(1 - 1/2), -log(3/4), ignored, -log(sigmoid(2))
    terms = [math.log(2), math.log(4 / 3), math.log(1 + math.exp(-2))]
    expected = sum(terms) / 3
    assert math.isclose(ChangeBCELoss()(z, label).item(), expected, rel_tol=1e-6)
    two = torch.cat([torch.full_like(z, 0.7), z + 0.7], dim=1)  # p_c = sigmoid(z1 - z0)
    assert math.isclose(ChangeBCELoss()(two, label).item(), expected, rel_tol=1e-6)
    balanced = ChangeBCELoss(pos_weight=0.25, neg_weight=0.75)(z, label)
    by_hand = 0.25 * (terms[1] + terms[2]) / 2 + 0.75 * terms[0]
    assert math.isclose(balanced.item(), by_hand, rel_tol=1e-6)


def test_semantic_consistency_eq_17_cos_by_hand():
    # channel 0 (no change) is dropped before the softmax
    x_1 = torch.tensor([9.0, 0.0, 0.0]).reshape(1, 3, 1, 1).repeat(1, 1, 1, 3)
    x_2 = torch.tensor([-9.0, math.log(3), 0.0]).reshape(1, 3, 1, 1).repeat(1, 1, 1, 3)
    p_1, p_2 = (0.5, 0.5), (0.75, 0.25)
    cos = (p_1[0] * p_2[0] + p_1[1] * p_2[1]) / math.hypot(*p_1) / math.hypot(*p_2)
    changed, unchanged = torch.tensor([[[1, 1, 1]]]), torch.tensor([[[0, 0, 0]]])
    mixed = torch.tensor([[[1, 0, 255]]])
    # the authors' code: 1 - cos where unchanged, cos where changed
    loss = SemanticConsistencyLoss()
    assert math.isclose(loss(x_1, x_2, unchanged).item(), 1 - cos, rel_tol=1e-6)
    assert math.isclose(loss(x_1, x_2, changed).item(), cos, rel_tol=1e-6)
    assert math.isclose(loss(x_1, x_2, mixed).item(), 0.5, rel_tol=1e-6)
    # Eq. 17 as printed, y_c = 1 read as change: 1 - cos on changed, cos on unchanged
    literal = SemanticConsistencyLoss(similar_where='changed')
    assert math.isclose(literal(x_1, x_2, changed).item(), 1 - cos, rel_tol=1e-6)
    assert math.isclose(literal(x_1, x_2, unchanged).item(), cos, rel_tol=1e-6)
    # = the authors' CosineEmbeddingLoss(margin=0) on softmax(classes 1..K), target
    # +1 unchanged / -1 changed
    a, b = torch.randn(2, 5, 4, 4), torch.randn(2, 5, 4, 4)
    change = torch.randint(0, 2, (2, 4, 4))
    flat = [t[:, 1:].softmax(1).permute(0, 2, 3, 1).reshape(-1, 4) for t in (a, b)]
    reference = torch.nn.CosineEmbeddingLoss(margin=0.0)(*flat, 1 - 2 * change.flatten())
    assert torch.allclose(loss(a, b, change), reference, atol=1e-6)


# ------------------------------------------------------------ the segmentor

def build(path, **overrides):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(dict(model=dict(overrides, backbone=dict(checkpoint=None))))
    with DefaultScope.overwrite_default_scope('mmcd_plugin'):
        return MODELS.build(cfg.model.to_dict())


def scd_samples(batch, size, num_classes):
    samples = []
    for _ in range(batch):
        change = (torch.rand(1, size, size) > 0.6).long()
        sample = SegDataSample(metainfo=dict(ori_shape=(size, size), img_shape=(size, size),
                                             padding_size=[0, 0, 0, 0]))
        sample.gt_sem_seg = PixelData(data=change)
        for date in ('from', 'to'):
            semantic = torch.randint(1, num_classes, (1, size, size)) * change
            sample.set_data({f'gt_sem_seg_{date}': PixelData(data=semantic)})
        samples.append(sample)
    return samples


def test_semantic_branches_are_weight_shared_and_meet_only_in_the_cd_decoder():
    model = build(TINY).eval()
    images_1, images_2 = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model.forward_scd(torch.cat([images_1, images_2], 1))
        swapped = model.forward_scd(torch.cat([images_2, images_1], 1))
        other = model.forward_scd(torch.cat([images_1, torch.rand(2, 3, 32, 32)], 1))
    assert torch.allclose(swapped['seg_logits_from'], out['seg_logits_to'], atol=1e-5)
    assert torch.allclose(swapped['seg_logits_to'], out['seg_logits_from'], atol=1e-5)
    assert torch.allclose(other['seg_logits_from'], out['seg_logits_from'], atol=1e-6)
    assert not torch.allclose(other['seg_logits'], out['seg_logits'])


def test_total_loss_is_eq_18_with_configurable_weights():
    model = build(TINY).train()
    inputs, samples = torch.rand(2, 6, 32, 32), scd_samples(2, 32, 7)
    losses = model.loss(inputs, samples)
    logits = {k: F.interpolate(v, size=(32, 32), mode='bilinear', align_corners=False)
              for k, v in model.forward_scd(inputs).items()}
    change = torch.cat([s.gt_sem_seg.data for s in samples])
    z = logits['seg_logits'][:, 1] - logits['seg_logits'][:, 0]
    assert torch.allclose(losses['bcd.loss_bcd'],
                          F.binary_cross_entropy_with_logits(z, change.float()), atol=1e-5)
    for date in ('from', 'to'):
        label = torch.cat([s.get(f'gt_sem_seg_{date}').data for s in samples])
        plain = F.cross_entropy(logits[f'seg_logits_{date}'], label.masked_fill(label == 0, 255),
                                ignore_index=255)
        assert torch.allclose(losses[f'ss_{date}.loss_ss'], 0.5 * plain, atol=1e-5)
    assert torch.allclose(losses['loss_sc'], SemanticConsistencyLoss()(
        logits['seg_logits_from'], logits['seg_logits_to'], change), atol=1e-5)
    total, _ = model.parse_losses(losses)
    eq_18 = losses['bcd.loss_bcd'] + losses['ss_from.loss_ss'] + losses['ss_to.loss_ss'] + \
        losses['loss_sc']
    assert torch.allclose(total, eq_18)
    reweighted = build(TINY, decode_head=dict(loss_decode=dict(loss_weight=2.0)),
                       semantic_head=dict(loss_decode=dict(loss_weight=0.25)),
                       consistency_loss=dict(loss_weight=3.0))
    reweighted.load_state_dict(model.state_dict())
    again = reweighted.train().loss(inputs, samples)
    for key, factor in (('bcd.loss_bcd', 2.0), ('ss_from.loss_ss', 0.5), ('loss_sc', 3.0)):
        assert torch.allclose(again[key], factor * losses[key], atol=1e-5), key


def test_predictions_are_semantic_argmax_masked_by_change_for_the_metric():
    model = build(TINY).eval()
    change = torch.tensor([[0., 1., 1., 0.]] * 4)
    change_logits = torch.stack([1 - change, change])[None]  # argmax = change
    semantic = torch.zeros(1, 7, 4, 4)
    semantic[:, 0] = 10.0      # the no-change channel never wins
    semantic[:, 5, :, 1] = 3.0
    semantic[:, 2, :, 2] = 3.0
    logits = dict(seg_logits=change_logits, seg_logits_from=semantic,
                  seg_logits_to=semantic.flip(3))
    model.forward_scd = lambda inputs: logits
    sample = SegDataSample(metainfo=dict(ori_shape=(3, 4), img_shape=(4, 4),
                                         padding_size=[0, 0, 0, 1]))  # bottom row padded
    expected_from = torch.tensor([[0, 5, 2, 0]] * 3)
    expected_to = torch.tensor([[0, 2, 5, 0]] * 3)
    sample.gt_sem_seg = PixelData(data=change[None, :3].long())
    sample.gt_sem_seg_from = PixelData(data=expected_from[None])
    sample.gt_sem_seg_to = PixelData(data=expected_to[None])
    result = model.predict(torch.zeros(1, 6, 4, 4), [sample])[0]
    assert torch.equal(result.pred_sem_seg.data[0], change[:3].long())
    assert torch.equal(result.pred_sem_seg_from.data[0], expected_from)
    assert torch.equal(result.pred_sem_seg_to.data[0], expected_to)
    assert result.seg_logits_from.data.shape == (7, 3, 4)
    metric = SemanticChangeMetric()
    metric.dataset_meta = dict(semantic_classes=[str(i) for i in range(7)])
    metric.process({}, [result.to_dict()])
    scores = metric.compute_metrics(metric.results)
    assert scores['mIoU'] == scores['Fscd'] == scores['OA'] == 100.0


# -------------------------------------------------- backbone and checkpoint

def torchvision_resnet34_output_stride_8():
    """torchvision's ResNet-34 with layer3/4 at stride 1, as the authors' code."""
    import torchvision
    net = torchvision.models.resnet34(weights=None)
    for layer in (net.layer3, net.layer4):
        layer[0].conv1.stride = (1, 1)
        layer[0].downsample[0].stride = (1, 1)
    return randomise_norms(net)


def test_torchvision_resnet34_checkpoint_converts_and_gives_the_same_features(tmp_path):
    reference = torchvision_resnet34_output_stride_8()
    path = str(tmp_path / 'resnet34-b627a593.pth')
    torch.save({f'module.{k}': v for k, v in reference.state_dict().items()}, path)
    converted = convert_torchvision_resnet(torch.load(path, weights_only=True))
    assert 'fc.weight' not in converted and 'layer4.2.bn2.running_var' in converted
    backbone = ResNetWithStem(depth=34, strides=(1, 2, 1, 1), checkpoint=path)
    backbone.init_weights()
    backbone.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        stem = reference.relu(reference.bn1(reference.conv1(x)))
        expected = [stem]
        feat = reference.maxpool(stem)
        for layer in (reference.layer1, reference.layer2, reference.layer3, reference.layer4):
            feat = layer(feat)
            expected.append(feat)
        outputs = backbone(x)
    assert [tuple(o.shape[1:]) for o in outputs] == [(64, 32, 32), (64, 16, 16), (128, 8, 8),
                                                     (256, 8, 8), (512, 8, 8)]
    for ours, theirs in zip(outputs, expected):
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_bad_resnet_checkpoints_say_what_is_wrong(tmp_path):
    import torchvision
    with pytest.raises(FileNotFoundError, match='resnet34-b627a593.pth'):
        ResNetWithStem(depth=34, checkpoint=str(tmp_path / 'missing.pth'))
    resnet18 = str(tmp_path / 'resnet18.pth')
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), resnet18)
    backbone = ResNetWithStem(depth=34, checkpoint=resnet18)
    with pytest.raises(RuntimeError,
                       match='looks like ResNet-18: set depth=18(.|\\n)*Missing key'):
        backbone.init_weights()
    with pytest.raises(ValueError, match='not a torchvision ResNet'):
        convert_torchvision_resnet({'stem.0.weight': torch.zeros(1)})


def test_paper_configuration_parameter_count():
    model = build(PAPER)
    count = {name: sum(p.numel() for p in child.parameters())
             for name, child in model.named_children()}
    assert count['backbone'] == 21284672  # torchvision ResNet-34 without its classifier
    assert isinstance(model.neck.fusions[0], LGAA) and isinstance(model.decode_head.fusion, LGAA)
    assert 24.3e6 < sum(count.values()) < 24.6e6  # docs/lsafnet.md: 24.44 M


def test_table_iii_ablation_configs_switch_lgaa_and_lgce():
    expected = {'base': ('ConcatFusion', None), 'base-lgaa': ('LGAA', None),
                'base-lgce': ('ConcatFusion', 'LGCE'), 'full': ('LGAA', 'LGCE')}
    for name, (fusion, enhancement) in expected.items():
        for dataset in ('second', 'landsat-scd'):
            cfg = Config.fromfile(osp.join(REPO, 'configs/lsafnet/ablations',
                                           f'lsafnet_{name}_{dataset}.py'))
            model = cfg.model
            assert model.neck.fusion == dict(type=fusion) == model.decode_head.fusion, name
            ce = model.semantic_head.context_enhancement
            assert (ce and ce['type']) == enhancement, name
    base = build(osp.join(REPO, 'configs/lsafnet/ablations/lsafnet_base_second.py'))
    assert not any(isinstance(m, (LGAA, LGCE)) for m in base.modules())


# ------------------------------------------------------------------ learning

HELD_OUT = ('test_7_0256_0512', 'test_55_0256_0000', 'val_27_0000_0256')
SEMANTIC_CLASSES = ('unchanged', 'not building', 'building')


def write_levir_as_scd(source, out):
    """LEVIR-CD tiles in the SECOND layout with a derived 2-class semantic
    target: LEVIR-CD's changes are (almost all) new buildings, so a changed
    pixel is 'not building' (1) in date 1 and 'building' (2) in date 2; 0 =
    no change. The change map is then exactly LEVIR-CD's label."""
    for name in sorted(n[:-4] for n in os.listdir(osp.join(source, 'A'))):
        split = osp.join(out, 'val' if name in HELD_OUT else 'train')
        for folder in ('im1', 'im2', 'label1_index', 'label2_index'):
            os.makedirs(osp.join(split, folder), exist_ok=True)
        changed = (cv2.imread(osp.join(source, 'label', name + '.png'), 0) > 127)
        os.symlink(osp.join(source, 'A', name + '.png'), osp.join(split, 'im1', name + '.png'))
        os.symlink(osp.join(source, 'B', name + '.png'), osp.join(split, 'im2', name + '.png'))
        cv2.imwrite(osp.join(split, 'label1_index', name + '.png'), changed.astype(np.uint8))
        cv2.imwrite(osp.join(split, 'label2_index', name + '.png'), 2 * changed.astype(np.uint8))


def trivial_scores(split):
    """SCD scores of predicting 'no change' everywhere."""
    metric = SemanticChangeMetric()
    metric.dataset_meta = dict(semantic_classes=SEMANTIC_CLASSES)
    for name in os.listdir(osp.join(split, 'label1_index')):
        sample = {'pred_sem_seg': {'data': torch.zeros(1, 256, 256, dtype=torch.long)}}
        for date, folder in (('from', 'label1_index'), ('to', 'label2_index')):
            label = torch.from_numpy(cv2.imread(osp.join(split, folder, name), 0)).long()
            sample[f'gt_sem_seg_{date}'] = {'data': label[None]}
            sample[f'pred_sem_seg_{date}'] = {'data': torch.zeros_like(label)[None]}
        sample['gt_sem_seg'] = {'data': (sample['gt_sem_seg_from']['data'] != 0).long()}
        metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


def test_tiny_lsafnet_learns_real_levir_cd_as_semantic_change(shared_data, tmp_path,
                                                              bf16_guard):
    from mmengine.runner import Runner
    data = str(tmp_path / 'levir_scd')
    write_levir_as_scd(shared_data('levir_cd_samples'), data)
    iters = 80
    meta = dict(semantic_classes=SEMANTIC_CLASSES,
                semantic_palette=[[255, 255, 255], [0, 128, 0], [128, 0, 0]])
    cfg = Config.fromfile(TINY)
    train_pipeline = cfg.train_pipeline
    train_pipeline[2]['crop_size'] = (96, 96)
    cfg.merge_from_dict(dict(
        work_dir=str(tmp_path / 'work'),
        # 15 % of the pixels changed: the authors' class-balanced BCE (0.25 / 0.75)
        model=dict(semantic_head=dict(num_classes=3),
                   decode_head=dict(loss_decode=dict(pos_weight=0.25, neg_weight=0.75))),
        train_dataloader=dict(dataset=dict(data_root=data + '/train', metainfo=meta,
                                           pipeline=train_pipeline)),
        test_dataloader=dict(dataset=dict(data_root=data + '/train', metainfo=meta)),
        train_cfg=dict(max_iters=iters),
        optim_wrapper=dict(optimizer=dict(lr=0.1)),
        param_scheduler=[dict(type='PolyLR', eta_min=0.0, power=1.5, begin=0, end=iters,
                              by_epoch=False)],
        default_hooks=dict(checkpoint=dict(interval=iters), logger=dict(interval=20),
                           visualization=dict(draw=False))))
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # scored on the train tiles
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than 2 on a shared 2-core machine
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
        loss = runner.message_hub.get_scalar('train/loss').data[0]
        scores = runner.test()
        bf16_guard(runner)  # bf16 inference of the trained model agrees with fp32
    finally:
        torch.set_num_threads(threads)
    assert loss[-10:].mean() < 0.7 * loss[:10].mean(), (loss[:10], loss[-10:])
    trivial = trivial_scores(data + '/train')
    assert trivial['SeK'] == 0 and trivial['Fscd'] == 0
    assert scores['mIoU'] > trivial['mIoU'] + 10, (scores, trivial)
    assert scores['Fscd'] > 40 and scores['SeK'] > 5, (scores, trivial)
    assert scores['OA'] > trivial['OA'], (scores, trivial)


def test_consistency_wrapper_refuses_a_single_output_head():
    # an mmseg head returns one tensor: no semantic logits for Eq. 17
    from mmcd_plugin.registry import MODELS
    wrapped = MODELS.build(dict(type='MultiHeadWithConsistencyLoss', head_type='FCNHead',
                                in_channels=4, channels=4, num_convs=1, num_classes=2))
    sample = SegDataSample(gt_sem_seg=PixelData(data=torch.zeros(1, 8, 8, dtype=torch.long)))
    with pytest.raises(TypeError, match="FCNHead.forward must return a dict with"):
        wrapped.loss([torch.rand(1, 4, 8, 8)], [sample], {})
