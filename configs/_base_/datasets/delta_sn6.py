# Delta-SN6 optical (pre-event) / SAR (post-event), 900^2 GeoTIFF tiles.
# The authors use the first three bands of each image (SAR: HH, HV, VH).
dataset_type = 'DeltaSN6Dataset'
data_root = 'data/Delta-SN6'
crop_size = (512, 512)
load_images = dict(type='LoadBiTemporalImages', bands=[0, 1, 2], channels=(3, 3))
train_pipeline = [
    load_images,
    dict(type='LoadChangeAnnotations'),
    dict(type='PairedRandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion'),
         modalities=('optical', )),
    dict(type='PackChangeInputs'),
]
test_pipeline = [load_images, dict(type='LoadChangeAnnotations'), dict(type='PackChangeInputs')]
# The STSF-Net authors' statistics (optical RGB; SAR HH/HV/VH).
data_preprocessor = dict(
    type='MultiModalDataPreprocessor', in_channels=(3, 3),
    mean=[[98.48, 102.16, 85.95], [19.26, 24.24, 22.72]],
    std=[[73.95, 59.28, 51.72], [15.17, 18.28, 17.31]], size_divisor=32)
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='train_list.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='val_list.txt',
                 pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='test_list.txt',
                 pipeline=test_pipeline))
val_evaluator = dict(type='MultimodalChangeMetric')
test_evaluator = val_evaluator
