# S2M Table 5, row 1 (no attribute): Stage 2 without any text, i.e. the Stage-1 detector
# trained for another 150 epochs from its Stage-1 weights (the same schedule as the text
# runs, so that only the text differs).
_base_ = ['../s2m_dinov3_stage1_gaza-change-v2.py']
load_from = 'work_dirs/s2m_dinov3_stage1_gaza-change-v2/epoch_150.pth'
