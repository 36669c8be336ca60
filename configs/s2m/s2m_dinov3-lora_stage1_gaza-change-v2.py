# S2M (DINOv3+LoRA) Stage 1 on Gaza-Change-v2 style data: the DINOv3 encoder frozen, LoRA
# (rank 4) on the q and v projections of every block trains, with the neck and decoder.
_base_ = ['./s2m_dinov3_stage1_gaza-change-v2.py']
model = dict(backbone=dict(finetune='lora', lora_rank=4))
