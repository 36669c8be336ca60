# MMChange on SYSU-CD (256^2 tiles); captions at data/SYSU-CD/{train,val,test}/captions.json.
_base_ = ['./mmchange_r50_levir-cd.py']
dataset_type = 'SYSUCDDataset'
data_root = 'data/SYSU-CD'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/train'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/val'))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/test'))
