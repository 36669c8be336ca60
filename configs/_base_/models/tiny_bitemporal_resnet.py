# A small siamese ResNet-18 (16 base channels) + |difference| fusion + UPerNet head:
# the CPU-sized model of the demo and the tests. Set data_preprocessor and, for
# two modalities, backbone_to in the method config.
norm_cfg = dict(type='BN', requires_grad=True)
backbone = dict(type='ResNetV1c', depth=18, in_channels=3, stem_channels=16,
                base_channels=16, out_indices=(0, 1, 2, 3), dilations=(1, 1, 1, 1),
                strides=(1, 2, 2, 2), norm_cfg=norm_cfg, contract_dilation=True)
model = dict(
    type='BiTemporalEncoderDecoder',
    backbone=backbone,
    neck=dict(type='FeatureFusionNeck', policy='abs_diff'),
    decode_head=dict(
        type='UPerHead', in_channels=[16, 32, 64, 128], in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6), channels=32, dropout_ratio=0.1, num_classes=2,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
