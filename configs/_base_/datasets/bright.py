# BRIGHT: optical pre-event (3 bands) / single-band SAR post-event, 1024^2 GeoTIFF.
_base_ = './delta_sn6.py'
dataset_type = 'BRIGHTDataset'
data_root = 'data/BRIGHT'
load_images = dict(type='LoadBiTemporalImages', bands=None, channels=(3, 1))
train_pipeline = [
    load_images,
    dict(type='LoadChangeAnnotations'),
    dict(type='PairedRandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion')),
    dict(type='PackChangeInputs'),
]
test_pipeline = [load_images, dict(type='LoadChangeAnnotations'), dict(type='PackChangeInputs')]
# No published statistics: ImageNet for optical, 8-bit SAR mapped to [-1, 1].
data_preprocessor = dict(in_channels=(3, 1), mean=[[123.675, 116.28, 103.53], [127.5]],
                         std=[[58.395, 57.12, 57.375], [127.5]])
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                    pipeline=test_pipeline))
