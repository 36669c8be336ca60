# LEVIR-CD, 256^2 crops of the 1024^2 tiles; data_root holds train/ val/ test/.
dataset_type = 'LEVIRCDDataset'
data_root = 'data/LEVIR-CD'
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size=crop_size),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='TemporalExchange', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion')),
    dict(type='PackChangeInputs'),
]
test_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PackChangeInputs'),
]
# ImageNet statistics, RGB order (our loader reads RGB).
data_preprocessor = dict(
    type='MultiModalDataPreprocessor', in_channels=(3, 3),
    mean=[[123.675, 116.28, 103.53]] * 2, std=[[58.395, 57.12, 57.375]] * 2,
    size_divisor=32, seg_pad_val=255)
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root + '/train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root + '/val', pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root + '/test', pipeline=test_pipeline))
val_evaluator = dict(type='BinaryChangeMetric')
test_evaluator = val_evaluator
