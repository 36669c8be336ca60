# STSF-Net (Sun, Sun & Wang): SAM2 Hiera-S + adapters (optical, trunk frozen), Swin-T from
# scratch (SAR; mmseg's Swin with fused window attention, same weights), STCFM (FIM + GSFM),
# frozen SAM2 semantic prior generator, PGFFM, decoder.
#
# Pretrained weights: the official SAM2.1 checkpoint sam2.1_hiera_small.pt (from the SAM2
# release, facebookresearch/sam2) at checkpoints/sam2.1_hiera_small.pt, or set
# --cfg-options model.optical_encoder.checkpoint=/path/to/sam2.1_hiera_small.pt
sam2_checkpoint = 'checkpoints/sam2.1_hiera_small.pt'
channels = [96, 192, 384, 768]  # Hiera-S and Swin-T share them
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='MultimodalEncoderDecoder',
    modality_order=('optical', 'sar'),
    optical_encoder=dict(type='HieraAdapter', arch='small', checkpoint=sam2_checkpoint),
    sar_encoder=dict(
        type='SDPASwinTransformer', in_channels=3, embed_dims=96, depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24], window_size=7, mlp_ratio=4, qkv_bias=True,
        drop_path_rate=0.2, patch_norm=True, out_indices=(0, 1, 2, 3), init_cfg=None),
    common_neck=dict(type='SpatioTemporalCommonFeatureModeling', in_channels=channels),
    # The SPG is the optical encoder's frozen SAM2 trunk run without adapters (one copy
    # of the SAM2 weights: Table IX's 63.37 M total counts Hiera-S once). The paper's
    # text mentions the (2, 3, 16, 3) Hiera-B+ layout; for a separate B+ prior use
    # encoder=dict(type='HieraAdapter', arch='base_plus', use_adapters=False, checkpoint=...).
    prior_generator=dict(type='SemanticPriorGenerator', encoder='optical_encoder'),
    fusion_neck=dict(type='PriorGuidedFusion', in_channels=channels),
    # The paper does not describe its decoder: mmseg's all-MLP SegFormer decoder with
    # 64 channels keeps the decoder inside the paper's parameter budget (Table IX).
    decode_head=dict(
        type='SegformerHead', in_channels=channels, in_index=[0, 1, 2, 3], channels=64,
        dropout_ratio=0.1, num_classes=7, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
