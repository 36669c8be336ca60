# STSF-Net (Sec. V-B): Adam, initial lr 5e-4, 6e4 iterations, batch 8.
# The paper gives no decay; poly decay (power 0.9, as mmseg schedules) is our choice.
_base_ = ['./schedule_40k.py']
optimizer = dict(_delete_=True, type='Adam', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=60000,
                        by_epoch=False)]
train_cfg = dict(max_iters=60000, val_interval=6000)
default_hooks = dict(checkpoint=dict(interval=6000, save_best='mIoU', rule='greater'))
