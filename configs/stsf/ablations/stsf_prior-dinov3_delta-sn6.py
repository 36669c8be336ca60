# Table VII "PGFFM with DINOv3": a frozen DINOv3 ViT-S/16 (timm) as the prior source;
# four intermediate blocks at stride 16 (PGFFM resizes the change prior to each scale).
# Weights: a local DINOv3 ViT-S/16 file, e.g. checkpoints/dinov3_vits16.pth.
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(prior_generator=dict(encoder=dict(
    _delete_=True, type='TIMMBackbone', model_name='vit_small_patch16_dinov3',
    features_only=True, pretrained=False, out_indices=(2, 5, 8, 11),
    checkpoint_path='checkpoints/dinov3_vits16.pth')))
