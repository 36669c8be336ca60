# S2M Stage 1 on WHU-CD (Open-CD layout, 256^2 crops).
_base_ = ['./s2m_dinov3_stage1_levir-cd.py']
dataset_type = 'WHUCDDataset'
data_root = 'data/WHU-CD'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/train'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/val'))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/test'))
