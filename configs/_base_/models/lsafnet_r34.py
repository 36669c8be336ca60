# LSAFNet (Zhou et al., "A Late-Stage Bitemporal Feature Fusion Network for Semantic Change
# Detection"): ResNet-34 (output stride 8) -> SFM (Eq. 1-5) -> weight-shared SS decoder with
# LGCE (Eq. 6-8) -> CD decoder (Eq. 9-14) on both dates' decoded features; loss Eq. 18.
#
# Pretrained weights: torchvision's ImageNet ResNet-34, as the authors' code loads it, from
# https://download.pytorch.org/models/resnet34-b627a593.pth saved at
# checkpoints/resnet34-b627a593.pth (or --cfg-options model.backbone.checkpoint=/path).
# Set model.backbone.checkpoint=None to train from the paper's Kaiming initialisation only.
resnet34_checkpoint = 'checkpoints/resnet34-b627a593.pth'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='SemanticChangeEncoderDecoder',
    # F_L (stem), F_M, F_1, F_2, F_3: 64, 64, 128, 256, 512 channels, strides 2, 4, 8, 8, 8.
    # The authors set layer3/4 to stride 1 without dilation; dilations=(1, 1, 2, 4) is the
    # dilated-ResNet alternative with the same weights.
    backbone=dict(type='ResNetWithStem', depth=34, strides=(1, 2, 1, 1),
                  dilations=(1, 1, 1, 1), out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg,
                  checkpoint=resnet34_checkpoint),
    neck=dict(type='SemanticFusionModule', in_channels=[64, 64, 128, 256, 512], num_fused=3,
              fusion=dict(type='LGAA'), norm_cfg=norm_cfg),
    semantic_head=dict(
        type='LSAFSemanticHead', in_channels=[64, 64, 128], in_index=[0, 1, 2], channels=128,
        num_classes=7, context_enhancement=dict(type='LGCE'), classifier_channels=64,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='SemanticCELoss', no_change_index=0, loss_weight=0.5)),
    decode_head=dict(
        type='LSAFChangeHead', in_channels=[128, 128, 128], in_index=[0, 1, 2], channels=128,
        num_classes=2, fusion=dict(type='LGAA'), classifier_channels=64, norm_cfg=norm_cfg,
        align_corners=False, loss_decode=dict(type='ChangeBCELoss', loss_weight=1.0)),
    consistency_loss=dict(type='SemanticConsistencyLoss', loss_weight=1.0),
    # "We ... initialize our network with Kaiming Initialization" (Sec. III-B); the authors'
    # code: kaiming_normal_ (fan_in) on every conv outside the pretrained backbone.
    init_cfg=dict(type='Kaiming', layer='Conv2d', mode='fan_in', distribution='normal'),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
