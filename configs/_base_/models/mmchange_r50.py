# MMChange (Zhou et al.): siamese dilated ResNet-50 (output stride 8, as the authors'
# code), IFR + TDE + ITFF neck at strides 4/8/16/32 with 64 channels, frozen CLIP
# ViT-B/32 text encoder for the VLM descriptions of both dates, A2Net-style decoder
# with deep supervision, BCE + Dice on every output.
#
# Pretrained weights (local files, nothing is downloaded):
# - ImageNet ResNet-50, torchvision format: resnet50-19c8e357.pth (the file the
#   authors load; https://download.pytorch.org/models/resnet50-19c8e357.pth) at
#   checkpoints/resnet50-19c8e357.pth, or --cfg-options model.backbone.checkpoint=...
# - CLIP ViT-B/32: OpenAI's ViT-B-32.pt (or an open_clip ViT-B-32 checkpoint) at
#   checkpoints/ViT-B-32.pt, or --cfg-options model.text_encoder.checkpoint=...
resnet_checkpoint = 'checkpoints/resnet50-19c8e357.pth'
clip_checkpoint = 'checkpoints/ViT-B-32.pt'
norm_cfg = dict(type='BN', requires_grad=True)
channels = 64
model = dict(
    type='TextGuidedEncoderDecoder',
    # torchvision ResNet-50 with replace_stride_with_dilation=[False, True, True]:
    # stages at strides 4, 8, 8, 8 (outputs 1..4; output 0 is the stem, unused)
    backbone=dict(type='ResNetWithStem', depth=50, strides=(1, 2, 1, 1),
                  dilations=(1, 1, 2, 4), contract_dilation=True, norm_cfg=norm_cfg,
                  checkpoint=resnet_checkpoint),
    text_encoder=dict(type='CLIPSentenceEncoder', checkpoint=clip_checkpoint),
    neck=dict(type='MMChangeNeck', in_channels=[256, 512, 1024, 2048], in_index=[1, 2, 3, 4],
              in_strides=[4, 8, 8, 8], out_strides=[4, 8, 16, 32], channels=channels,
              norm_cfg=norm_cfg, ifr=dict(groups=4),
              tde=dict(num_tokens=8, num_heads=8, layout='stretch')),
    # one sigmoid change channel (mmseg: out_channels = num_classes = 1), threshold 0.5
    decode_head=dict(
        type='SupervisedAttentionHead', in_channels=[channels] * 4, in_index=[0, 1, 2, 3],
        channels=channels, num_classes=1, out_channels=1, threshold=0.5, dropout_ratio=0.0,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=[dict(type='CrossEntropyLoss', use_sigmoid=True, avg_non_ignore=True,
                          loss_weight=1.0, loss_name='loss_bce'),
                     dict(type='BinaryDiceLoss', loss_weight=1.0)]),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
