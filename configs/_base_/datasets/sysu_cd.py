_base_ = './levir_cd.py'
dataset_type = 'SYSUCDDataset'
data_root = 'data/SYSU-CD'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/train'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/val'))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/test'))
