# S2M (Sec. 4): AdamW, initial lr 1e-4, weight decay 0.05, 150 epochs, validation at the end
# of every epoch. The paper gives no decay; poly decay (power 0.9) per iteration is our choice.
# Method configs also set the train sampler to DefaultSampler (the dataset bases' Infinite-
# Sampler never ends an epoch) and log_processor=dict(by_epoch=True) (the runtime's is False).
_base_ = ['./schedule_40k.py']
optimizer = dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
optim_wrapper = dict(optimizer=optimizer)
max_epochs = 150
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_epochs,
                        by_epoch=True, convert_to_iter_based=True)]
train_cfg = dict(_delete_=True, type='PrefetchingEpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
# The last epoch's checkpoint (epoch_150.pth) is what Stage 2 loads (load_from).
default_hooks = dict(
    logger=dict(log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=1, save_best='auto'))
