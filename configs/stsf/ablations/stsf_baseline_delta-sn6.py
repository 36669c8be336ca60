# Table V "Baseline": no FIM, no GSFM, no PGFFM (common features = specific features,
# fusion without priors).
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(common_neck=dict(use_fim=False, use_gsfm=False), prior_generator=None,
             fusion_neck=dict(use_prior=False))
