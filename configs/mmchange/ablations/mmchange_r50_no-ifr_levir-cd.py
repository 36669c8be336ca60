# Ablation "without IFR": the fused image features are the plain absolute differences.
_base_ = ['../mmchange_r50_levir-cd.py']
model = dict(neck=dict(use_ifr=False))
paper_figures = None  # the base config's figures describe the full model
