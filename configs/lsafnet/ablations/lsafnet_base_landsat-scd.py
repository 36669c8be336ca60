# Table III "Base" on Landsat-SCD (mIoU / SeK 86.09 / 48.67): LGAA replaced by concatenation + MLP
# (in SFM and in the CD decoder), LGCE by the identity.
_base_ = ['../lsafnet_r34_landsat-scd.py']
concat_fusion = dict(_delete_=True, type='ConcatFusion')
model = dict(neck=dict(fusion=concat_fusion),
             semantic_head=dict(context_enhancement=None),
             decode_head=dict(fusion=concat_fusion))
