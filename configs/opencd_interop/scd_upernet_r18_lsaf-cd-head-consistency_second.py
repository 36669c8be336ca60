# Open-CD's SCD model (unmodified config) with LSAFNet's CD decoder on the two
# dates' concatenated features, LSAFNet's semantic-consistency loss (Eq. 17)
# and our SCD metric (which also reports Open-CD's SCDMetric keys).
_base_ = ['{{$OPENCD_ROOT:../../../open-cd}}/configs/general_scd/'
          'scd_upernet_r18_256x512_10k_second.py']
custom_imports = dict(imports=['mmcd_plugin'], allow_failed_imports=False)
model = dict(decode_head=dict(
    type='mmcd_plugin.MultiHeadWithConsistencyLoss', head_type='opencd.GeneralSCDHead',
    binary_cd_neck=dict(policy='concat'),
    binary_cd_head=dict(_delete_=True, type='mmcd_plugin.LSAFChangeHead',
                        in_channels=[64, 128, 256], in_index=[0, 1, 2], channels=64),
    consistency_loss=dict(type='mmcd_plugin.SemanticConsistencyLoss', no_change_index=None)))
val_evaluator = dict(_delete_=True, type='mmcd_plugin.SemanticChangeMetric')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='binary/mIoU', rule='greater'))
