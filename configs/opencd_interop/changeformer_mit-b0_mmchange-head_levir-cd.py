# Open-CD's ChangeFormer (unmodified config) with MMChange's decoder
# (supervised attention, deep supervision, one sigmoid logit, BCE + Dice).
_base_ = ['{{$OPENCD_ROOT:../../../open-cd}}/configs/changeformer/'
          'changeformer_mit-b0_256x256_40k_levircd.py']
custom_imports = dict(imports=['mmcd_plugin'], allow_failed_imports=False)
model = dict(decode_head=dict(
    _delete_=True, type='mmcd_plugin.SupervisedAttentionHead',
    in_channels=[64, 128, 320, 512], in_index=[0, 1, 2, 3], channels=64,
    num_classes=2, out_channels=1, threshold=0.5, norm_cfg=dict(type='BN'),
    loss_decode=[dict(type='mmseg.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 dict(type='mmcd_plugin.BinaryDiceLoss', loss_weight=1.0)]))
val_evaluator = dict(_delete_=True, type='mmcd_plugin.BinaryChangeMetric')
test_evaluator = val_evaluator
