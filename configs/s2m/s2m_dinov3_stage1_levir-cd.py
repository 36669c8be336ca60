# S2M Stage 1 on LEVIR-CD (256^2 crops): the visual change detector of
# s2m_dinov3_stage1_gaza-change-v2.py with 2 classes. Stage 2 loads its last checkpoint.
_base_ = ['../_base_/models/s2m_dinov3.py', '../_base_/datasets/levir_cd.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_150e_adamw.py']
model = dict(data_preprocessor={{_base_.data_preprocessor}})
train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True))
log_processor = dict(by_epoch=True)
default_hooks = dict(checkpoint=dict(save_best='F1', rule='greater'))
