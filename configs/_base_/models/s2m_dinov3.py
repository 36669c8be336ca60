# S2M ("Masks Can Talk"), Stage 1: siamese DINOv3 ViT-S+/16 encoder, bi-temporal
# cross-attention + difference fusion + pyramid (in the spirit of MC-DiSNet), feature
# bridge W_b, lightweight all-MLP decoder, loss 0.4 focal + 0.3 Dice + 0.3 Lovasz (Eq. 5).
# Stage 2 (configs/s2m/*stage2*) adds `text_branch` to the decode head: frozen CLIP
# ViT-B/32 text tower, text-guided alignment (Eq. 4), bidirectional InfoNCE (Eq. 6-8).
#
# Why ViT-S+/16 (docs/s2m.md): Table 2's 186.82 M total = 151.28 M (the whole CLIP
# ViT-B/32, image tower included, frozen) + 35.54 M (= its trainable count): everything
# else trains, and a 28.68 M ViT-S+ plus a ~6.9 M decoder fits it (and the LoRA
# variant's ~28.5 M frozen part); a ViT-B/16 fits neither the total nor the 56.83 GFLOPs.
#
# Pretrained weights (local files, nothing is downloaded):
#   DINOv3: the official dinov3_vits16plus_pretrain_lvd1689m-*.pth from Meta
#     (github.com/facebookresearch/dinov3), at the path below or
#     --cfg-options model.backbone.checkpoint=/path/to/file.pth
#   CLIP (Stage 2): OpenAI ViT-B-32.pt or an open_clip ViT-B-32 checkpoint at
#     checkpoints/clip_vit_b32.pt or --cfg-options
#     model.decode_head.text_encoder.checkpoint=/path/to/file
dinov3_checkpoint = 'checkpoints/dinov3_vits16plus_pretrain_lvd1689m.pth'
clip_checkpoint = 'checkpoints/clip_vit_b32.pt'
norm_cfg = dict(type='BN', requires_grad=True)
vit_width = 384  # ViT-S+
channels = 200
levels = [channels] * 4
num_classes = 2
# Eq. 5 with the paper's alpha, beta, gamma = 0.4, 0.3, 0.3 (softmax focal: mmseg's
# sigmoid FocalLoss fails on CPU with index labels; Dice per class, averaged, with mmseg's
# V-Net formula: mmseg's DiceLoss would flatten C x H x W; Lovasz is mmseg's).
seg_losses = [
    dict(type='SoftmaxFocalLoss', gamma=2.0, loss_weight=0.4),
    dict(type='ClassMeanDiceLoss', loss_weight=0.3),
    dict(type='LovaszLoss', loss_type='multi_class', per_image=False, reduction='none',
         loss_weight=0.3),
]
# Stage 2: merged into model.decode_head (text encoder frozen, weights not saved).
text_branch = dict(
    text_dim=512,
    text_encoder=dict(type='CLIPSentenceEncoder', checkpoint=clip_checkpoint),
    num_heads=8,
    loss_contrastive=dict(type='BidirectionalInfoNCELoss', temperature=0.7,
                          loss_weight=0.5))
model = dict(
    type='BiTemporalEncoderDecoder',
    backbone=dict(type='DINOv3ViT', arch='small_plus', checkpoint=dinov3_checkpoint,
                  out_indices=(2, 5, 8, 11), finetune='full', lora_rank=4),
    neck=dict(type='CrossAttentionDifferenceNeck', in_channels=vit_width, num_levels=4,
              out_channels=channels, num_heads=8, policy='concat_abs_diff',
              scales=(4, 2, 1, 0.5), norm_cfg=norm_cfg),
    decode_head=dict(
        type='TextGuidedHead', in_channels=levels, text_dim=None,
        head=dict(type='SegformerHead', in_channels=levels, in_index=[0, 1, 2, 3],
                  channels=channels, dropout_ratio=0.1, num_classes=num_classes,
                  norm_cfg=norm_cfg, align_corners=False, loss_decode=seg_losses)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
