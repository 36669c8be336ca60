# Gaza-Change-v2 style multi-class change detection (S2M, Table 2): A/ B/ label/ with class
# indices (0 = no change), 512^2 tiles; data_root holds train/ val/ test/. The data set is
# not public: the classes below follow the categories and change types named in S2M
# Sec. 3.1.1 and match GenerateChangeText's 'gaza_change_example' class table. Replace both
# (classes here, class_table in the S2M configs) with the real label table.
dataset_type = 'MultiClassCDDataset'
data_root = 'data/Gaza-Change-v2'
metainfo = dict(
    classes=('no change', 'destroyed buildings', 'damaged buildings', 'new refugee camps',
             'destroyed agricultural land', 'destroyed greenhouses', 'new greenhouses'),
    palette=[[0, 0, 0], [255, 0, 0], [255, 165, 0], [0, 0, 255], [139, 69, 19],
             [128, 0, 128], [0, 255, 0]])
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations'),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion')),
    dict(type='PackChangeInputs'),
]
test_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations'),
    dict(type='PackChangeInputs'),
]
# ImageNet statistics (DINOv3's), RGB order (our loader reads RGB).
data_preprocessor = dict(
    type='MultiModalDataPreprocessor', in_channels=(3, 3),
    mean=[[123.675, 116.28, 103.53]] * 2, std=[[58.395, 57.12, 57.375]] * 2,
    size_divisor=32, seg_pad_val=255)
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root + '/train', metainfo=metainfo,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root + '/val', metainfo=metainfo,
                 pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root + '/test', metainfo=metainfo,
                 pipeline=test_pipeline))
val_evaluator = dict(type='MultiClassChangeMetric')
test_evaluator = val_evaluator
