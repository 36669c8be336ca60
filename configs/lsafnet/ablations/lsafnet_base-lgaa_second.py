# Table III "Base + LGAA" on SECOND (mIoU / SeK 73.82 / 23.90): LGCE replaced by the identity.
_base_ = ['../lsafnet_r34_second.py']
model = dict(semantic_head=dict(context_enhancement=None))
