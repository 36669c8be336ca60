# Table III "LSAFNet (Ours)" on SECOND (mIoU / SeK 74.01 / 24.32): the full model, i.e.
# configs/lsafnet/lsafnet_r34_second.py,
# named here so the four rows of the table sit together.
_base_ = ['../lsafnet_r34_second.py']
