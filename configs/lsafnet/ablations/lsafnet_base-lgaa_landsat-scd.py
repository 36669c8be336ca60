# Table III "Base + LGAA" on Landsat-SCD (mIoU / SeK 87.45 / 49.57): LGCE replaced by the identity.
_base_ = ['../lsafnet_r34_landsat-scd.py']
model = dict(semantic_head=dict(context_enhancement=None))
