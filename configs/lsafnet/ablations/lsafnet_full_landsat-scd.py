# Table III "LSAFNet (Ours)" on Landsat-SCD (mIoU / SeK 87.60 / 49.94): the full model, i.e.
# configs/lsafnet/lsafnet_r34_landsat-scd.py,
# named here so the four rows of the table sit together.
_base_ = ['../lsafnet_r34_landsat-scd.py']
