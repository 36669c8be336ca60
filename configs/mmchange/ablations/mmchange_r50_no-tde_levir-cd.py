# Ablation "without TDE": no text stream and no text encoder; ITFF runs its image path.
_base_ = ['../mmchange_r50_levir-cd.py']
model = dict(text_encoder=None, neck=dict(use_tde=False))
paper_figures = None  # the base config's figures describe the full model
