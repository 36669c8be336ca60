# CPU-sized siamese model on LEVIR-CD-layout data (tests, quick checks).
_base_ = ['../_base_/models/tiny_bitemporal_resnet.py', '../_base_/datasets/levir_cd.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py']
crop_size = (64, 64)
model = dict(data_preprocessor={{_base_.data_preprocessor}})
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size=crop_size),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=2, persistent_workers=True,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='PolyLR', power=0.9, begin=0, end=20, by_epoch=False)]
train_cfg = dict(max_iters=20, val_interval=10)
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(interval=10, max_keep_ckpts=2, save_best=None))
