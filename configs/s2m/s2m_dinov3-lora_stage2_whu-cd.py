# S2M (DINOv3+LoRA) Stage 2 on WHU-CD (Table 3: F1 93.49, IoU 87.78).
_base_ = ['./s2m_dinov3_stage2_whu-cd.py']
load_from = 'work_dirs/s2m_dinov3-lora_stage1_whu-cd/epoch_150.pth'
model = dict(backbone=dict(finetune='lora', lora_rank=4))
