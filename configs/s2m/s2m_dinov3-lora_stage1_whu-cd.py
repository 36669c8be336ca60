# S2M (DINOv3+LoRA) Stage 1 on WHU-CD: frozen DINOv3, LoRA rank 4 on q and v.
_base_ = ['./s2m_dinov3_stage1_whu-cd.py']
model = dict(backbone=dict(finetune='lora', lora_rank=4))
