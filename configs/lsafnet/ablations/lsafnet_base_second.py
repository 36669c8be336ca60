# Table III "Base" on SECOND (mIoU / SeK 73.59 / 23.37): LGAA replaced by concatenation + MLP
# (in SFM and in the CD decoder), LGCE by the identity.
_base_ = ['../lsafnet_r34_second.py']
concat_fusion = dict(_delete_=True, type='ConcatFusion')
model = dict(neck=dict(fusion=concat_fusion),
             semantic_head=dict(context_enhancement=None),
             decode_head=dict(fusion=concat_fusion))
