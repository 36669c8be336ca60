# S2M Stage 1 on Gaza-Change-v2 style multi-class CD (Table 2): the visual change detector
# (DINOv3 ViT-S+/16 fully fine-tuned, cross-attention difference neck, bridge W_b, all-MLP
# decoder), Eq. 5 loss. Stage 2: s2m_dinov3_stage2_gaza-change-v2.py loads its last checkpoint.
_base_ = ['../_base_/models/s2m_dinov3.py', '../_base_/datasets/gaza_change_v2.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_150e_adamw.py']
num_classes = 7
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             decode_head=dict(head=dict(num_classes=num_classes)))
train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True))
log_processor = dict(by_epoch=True)
default_hooks = dict(checkpoint=dict(save_best='SeK', rule='greater'))
