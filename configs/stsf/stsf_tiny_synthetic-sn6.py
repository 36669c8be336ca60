# A CPU-sized STSF-Net with every part of the paper's model (adapter-tuned frozen Hiera,
# Swin from scratch, STCFM, frozen SAM2-trunk prior generator, PGFFM, decoder) at reduced
# width and depth, on the project's synthetic optical / quad-pol SAR data. No SAM2 weights
# are needed: the frozen Hiera trunk keeps its random init here (with SAM2 weights, set
# model.optical_encoder.checkpoint and drop arch_overrides).
_base_ = ['../_base_/models/stsf_sam2_swin.py', '../_base_/datasets/synthetic_sn6.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_60k_adam.py']
channels = [16, 32, 64, 128]
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    optical_encoder=dict(
        checkpoint=None, adapter_hidden=8,
        arch_overrides=dict(embed_dim=16, num_heads=1, stages=(1, 1, 2, 1),
                            global_att_blocks=(3, ), window_spec=(8, 4, 4, 2),
                            global_pos_size=(4, 4))),
    sar_encoder=dict(in_channels=4, embed_dims=16, depths=[1, 1, 2, 1],
                     num_heads=[1, 2, 4, 8], window_size=4, drop_path_rate=0.0),
    common_neck=dict(in_channels=channels),
    fusion_neck=dict(in_channels=channels),
    decode_head=dict(in_channels=channels, channels=32))
train_dataloader = dict(batch_size=8)
max_iters = 1500
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-5, begin=0, end=max_iters,
                        by_epoch=False)]
optim_wrapper = dict(optimizer=dict(lr=2e-3))
train_cfg = dict(max_iters=max_iters, val_interval=500)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=500, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
