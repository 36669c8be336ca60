# CPU-sized S2M Stage 1 (tests, demos): every part of the paper's detector (DINOv3 ViT with
# multi-block outputs, cross-attention difference neck, bridge W_b, all-MLP decoder, Eq. 5
# loss) at reduced width and depth, random init (no DINOv3 file), 128^2 crops, a short
# iteration schedule. Stage 2: s2m_tiny_stage2_levir-cd.py.
_base_ = ['./s2m_dinov3_stage1_levir-cd.py']
channels = 32
levels = [channels] * 4
model = dict(
    backbone=dict(arch='small', checkpoint=None, out_indices=(0, 1, 2, 3),
                  arch_overrides=dict(embed_dim=48, depth=4, num_heads=3)),
    neck=dict(in_channels=48, out_channels=channels, num_heads=4),
    decode_head=dict(in_channels=levels, num_heads=4,
                     head=dict(in_channels=levels, channels=channels)))
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
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
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_iters = 200
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(_delete_=True, type='PrefetchingIterBasedTrainLoop', max_iters=max_iters,
                 val_interval=100)
log_processor = dict(by_epoch=False)
default_hooks = dict(logger=dict(interval=10, log_metric_by_epoch=False),
                     checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=1,
                                     save_best=None))
randomness = dict(seed=0)
