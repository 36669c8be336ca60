# Table V "STSF-Net-V2" = Table VII "w/o PGFFM": FIM + GSFM, fusion without priors.
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(prior_generator=None, fusion_neck=dict(use_prior=False))
