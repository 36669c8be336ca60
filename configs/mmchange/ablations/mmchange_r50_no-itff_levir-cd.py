# Ablation "without ITFF": image and text features are fused by addition, F_k + T_k.
_base_ = ['../mmchange_r50_levir-cd.py']
model = dict(neck=dict(use_itff=False))
paper_figures = None  # the base config's figures describe the full model
