# MMChange on WHU-CD; captions at data/WHU-CD/{train,val,test}/captions.json.
_base_ = ['./mmchange_r50_levir-cd.py']
dataset_type = 'WHUCDDataset'
data_root = 'data/WHU-CD'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/train'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/val'))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/test'))
