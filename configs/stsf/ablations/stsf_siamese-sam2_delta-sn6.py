# Table VI "Siamese SAM2": one adapter-tuned Hiera-S shared by both modalities
# (the SAR input uses its first three bands, as the authors do).
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(sar_encoder=None)
