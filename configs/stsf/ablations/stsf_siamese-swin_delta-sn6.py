# Table VI "Siamese SwinTransformer": Swin-T for both modalities (separate weights).
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
swin = {{_base_.model.sar_encoder}}
model = dict(optical_encoder=swin)
