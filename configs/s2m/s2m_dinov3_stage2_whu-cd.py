# S2M Stage 2 on WHU-CD (Table 3, "S2M (DINOv3)": F1 91.57, IoU 84.46).
_base_ = ['./s2m_dinov3_stage2_levir-cd.py']
load_from = 'work_dirs/s2m_dinov3_stage1_whu-cd/epoch_150.pth'
dataset_type = 'WHUCDDataset'
data_root = 'data/WHU-CD'
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size=(256, 256)),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='TemporalExchange', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion')),
    dict(type='GenerateChangeText', class_table='whu_cd'),
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/val'))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root + '/test'))
