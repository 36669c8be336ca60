# Table V "STSF-Net-V1": baseline + FIM.
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(common_neck=dict(use_gsfm=False), prior_generator=None,
             fusion_neck=dict(use_prior=False))
