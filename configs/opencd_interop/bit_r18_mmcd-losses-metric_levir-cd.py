# Open-CD's BIT (unmodified config) with our losses and our change metric.
# OPENCD_ROOT: your Open-CD clone (default: a sibling of this repository).
# Run with Open-CD's tools/train.py or ours; the checkpoint hook keeps
# Open-CD's save_best='mIoU' (BinaryChangeMetric also reports mmseg's keys).
_base_ = ['{{$OPENCD_ROOT:../../../open-cd}}/configs/bit/bit_r18_256x256_40k_levircd.py']
custom_imports = dict(imports=['mmcd_plugin'], allow_failed_imports=False)
model = dict(decode_head=dict(loss_decode=[
    dict(type='mmcd_plugin.SoftmaxFocalLoss', loss_weight=1.0),
    dict(type='mmseg.DiceLoss', loss_weight=1.0),
    dict(type='mmseg.LovaszLoss', reduction='none', loss_weight=1.0)]))
val_evaluator = dict(_delete_=True, type='mmcd_plugin.BinaryChangeMetric')
test_evaluator = val_evaluator
