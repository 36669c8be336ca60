# LSAFNet (Sec. III-B) and the authors' code: SGD (momentum 0.9, weight decay 5e-4,
# Nesterov as in their train.py), initial lr 0.07, 50 epochs of batch 8, lr decayed every
# iteration by (1 - iter / total) ** 1.5 (their "poly" with lr_decay_power 1.5).
# Method configs also set the train sampler to DefaultSampler (the dataset bases' Infinite-
# Sampler never ends an epoch) and log_processor=dict(by_epoch=True) (the runtime's is False).
_base_ = ['./schedule_40k.py']
optimizer = dict(_delete_=True, type='SGD', lr=0.07, momentum=0.9, weight_decay=5e-4,
                 nesterov=True)
optim_wrapper = dict(optimizer=optimizer)
max_epochs = 50
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=1.5, begin=0, end=max_epochs,
                        by_epoch=True, convert_to_iter_based=True)]
train_cfg = dict(_delete_=True, type='PrefetchingEpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
default_hooks = dict(
    logger=dict(log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=3, save_best='SeK',
                    rule='greater'))
