# STSF-Net (Sec. V-B): Adam, initial lr 5e-4, 6e4 iterations, batch 8.
# The paper gives no decay; poly decay (power 0.9, as mmseg schedules) is our choice.
optimizer = dict(type='Adam', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=60000,
                        by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=60000, val_interval=6000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=6000,
                    max_keep_ckpts=3, save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook'))
