# Table III "Base + LGCE" on SECOND (mIoU / SeK 73.69 / 23.69): LGAA replaced by concatenation +
# MLP in SFM and in the CD decoder.
_base_ = ['../lsafnet_r34_second.py']
concat_fusion = dict(_delete_=True, type='ConcatFusion')
model = dict(neck=dict(fusion=concat_fusion), decode_head=dict(fusion=concat_fusion))
