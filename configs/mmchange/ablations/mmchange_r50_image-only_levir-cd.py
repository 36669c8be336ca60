# Baseline: encoder, absolute differences and decoder only (no IFR, TDE, ITFF).
_base_ = ['../mmchange_r50_levir-cd.py']
model = dict(text_encoder=None, neck=dict(use_ifr=False, use_tde=False, use_itff=False))
paper_figures = None  # the base config's figures describe the full model
