# README demo: a small pseudo-siamese ResNet-18 (optical encoder + quad-pol SAR
# encoder, |difference| fusion, UPerNet head) trained on CPU in a few minutes on
# the synthetic Delta-SN6-layout data, evaluated with the MMCD metrics.
_base_ = ['../_base_/models/tiny_bitemporal_resnet.py', '../_base_/datasets/synthetic_sn6.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py']
model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone_to=dict(in_channels=4),  # same architecture, own weights
    decode_head=dict(num_classes=7))
max_iters = 1500
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-5, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=500)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=500, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
