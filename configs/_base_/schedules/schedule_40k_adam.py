# MMChange (Sec. IV-B): Adam, lr 5e-4, betas (0.9, 0.99), weight decay 1e-4, poly decay
# (power 0.9) over 40k iterations.
_base_ = ['./schedule_40k.py']
optimizer = dict(_delete_=True, type='Adam', lr=5e-4, betas=(0.9, 0.99), weight_decay=1e-4)
optim_wrapper = dict(optimizer=optimizer)
default_hooks = dict(checkpoint=dict(save_best='IoU', rule='greater'))
