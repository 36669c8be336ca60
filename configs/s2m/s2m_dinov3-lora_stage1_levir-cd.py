# S2M (DINOv3+LoRA) Stage 1 on LEVIR-CD: frozen DINOv3, LoRA rank 4 on q and v.
_base_ = ['./s2m_dinov3_stage1_levir-cd.py']
model = dict(backbone=dict(finetune='lora', lora_rank=4))
