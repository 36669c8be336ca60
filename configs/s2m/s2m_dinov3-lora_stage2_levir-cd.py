# S2M (DINOv3+LoRA) Stage 2 on LEVIR-CD (Table 3: F1 90.79, IoU 83.46).
_base_ = ['./s2m_dinov3_stage2_levir-cd.py']
load_from = 'work_dirs/s2m_dinov3-lora_stage1_levir-cd/epoch_150.pth'
model = dict(backbone=dict(finetune='lora', lora_rank=4))
