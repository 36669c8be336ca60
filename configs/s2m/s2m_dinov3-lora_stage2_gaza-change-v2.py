# S2M (DINOv3+LoRA) Stage 2 on Gaza-Change-v2 style data (Table 2: SeK 16.04, Fscd 63.90,
# mIoU 66.91, Pre 87.80, Rec 73.85, mF1 78.51).
_base_ = ['./s2m_dinov3_stage2_gaza-change-v2.py']
load_from = 'work_dirs/s2m_dinov3-lora_stage1_gaza-change-v2/epoch_150.pth'
model = dict(backbone=dict(finetune='lora', lora_rank=4))
paper_figures = dict(params_m=187.47, trainable_m=7.71, gflops=57.30)
