# Table VI "Siamese SwinTransformer": Swin-T for both modalities (separate weights,
# both trained from scratch), replacing the adapter-tuned SAM2 optical encoder. The
# prior generator then needs its own frozen SAM2 trunk.
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(
    optical_encoder=dict(
        _delete_=True, type='SDPASwinTransformer', in_channels=3, embed_dims=96,
        depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7, mlp_ratio=4,
        qkv_bias=True, drop_path_rate=0.2, patch_norm=True, out_indices=(0, 1, 2, 3),
        init_cfg=None),
    prior_generator=dict(encoder=dict(
        _delete_=True, type='HieraAdapter', arch='small', use_adapters=False,
        checkpoint={{_base_.sam2_checkpoint}})))
