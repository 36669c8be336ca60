# SECOND (512^2); convert labels first: python tools/dataset_converters/second.py data/SECOND
dataset_type = 'SECONDDataset'
data_root = 'data/SECOND'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', derive_change=True),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PackChangeInputs'),
]
test_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', derive_change=True),
    dict(type='PackChangeInputs'),
]
# The LSAFNet authors' per-date statistics (RGB).
data_preprocessor = dict(
    type='MultiModalDataPreprocessor', in_channels=(3, 3),
    mean=[[113.40, 114.08, 116.45], [111.07, 114.04, 118.18]],
    std=[[48.30, 46.27, 48.14], [49.41, 47.01, 47.94]], size_divisor=32)
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root + '/train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root + '/val', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SemanticChangeMetric')
test_evaluator = val_evaluator
