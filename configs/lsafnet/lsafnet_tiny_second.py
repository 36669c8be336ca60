# CPU-sized LSAFNet: every part of the paper's model (ResNet with stem feature, SFM with LGAA,
# weight-shared SS decoder with LGCE, CD decoder, Eq. 18 losses) at reduced width (ResNet-18
# with 16 base channels, 32-channel decoders), no pretrained weights, 128^2 crops, a short
# iteration schedule. SECOND layout; tests/test_lsafnet.py trains it on real LEVIR-CD tiles
# with a derived 2-class semantic target (docs/lsafnet.md).
_base_ = ['./lsafnet_r34_second.py']
model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16, checkpoint=None),
    neck=dict(in_channels=[16, 16, 32, 64, 128]),
    semantic_head=dict(in_channels=[16, 16, 32], channels=32, classifier_channels=16),
    decode_head=dict(in_channels=[32, 32, 32], channels=32, classifier_channels=16))
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', derive_change=True),
    dict(type='PairedRandomCrop', crop_size=crop_size),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
max_iters = 200
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=1.5, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(_delete_=True, type='PrefetchingIterBasedTrainLoop', max_iters=max_iters,
                 val_interval=100)
log_processor = dict(by_epoch=False)
default_hooks = dict(logger=dict(interval=10, log_metric_by_epoch=False),
                     checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=1,
                                     save_best=None))
randomness = dict(seed=0)
