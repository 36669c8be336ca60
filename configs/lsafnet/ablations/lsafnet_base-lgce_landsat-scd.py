# Table III "Base + LGCE" on Landsat-SCD (mIoU / SeK 87.44 / 49.29): LGAA replaced by
# concatenation + MLP in SFM and in the CD decoder.
_base_ = ['../lsafnet_r34_landsat-scd.py']
concat_fusion = dict(_delete_=True, type='ConcatFusion')
model = dict(neck=dict(fusion=concat_fusion), decode_head=dict(fusion=concat_fusion))
