# Wuhan-Het: Sentinel-2 optical (first 3 bands) / SAR (1 band), 256^2, 0/255 masks.
_base_ = './delta_sn6.py'
dataset_type = 'WuhanHetDataset'
data_root = 'data/Wuhan-Het'
load_images = dict(type='LoadBiTemporalImages', bands=([0, 1, 2], None), channels=(3, 1))
train_pipeline = [
    load_images,
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PackChangeInputs'),
]
test_pipeline = [load_images, dict(type='LoadChangeAnnotations', binary=True),
                 dict(type='PackChangeInputs')]
# No published statistics: ImageNet for optical, 8-bit SAR mapped to [-1, 1].
data_preprocessor = dict(in_channels=(3, 1), mean=[[123.675, 116.28, 103.53], [127.5]],
                         std=[[58.395, 57.12, 57.375], [127.5]])
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                     ann_file='train_set.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                   ann_file='val_set.txt', pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root,
                                    ann_file='test_set.txt', pipeline=test_pipeline))
