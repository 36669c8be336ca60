# The project's own synthetic optical / quad-pol SAR dataset in the Delta-SN6 layout:
#   python tools/dataset_converters/make_synthetic_sn6.py data/synthetic-sn6
# 128^2 tiles; optical uint8 RGB (date 1), SAR float32 HH/HV/VH/VV in dB + 30 (date 2).
_base_ = './delta_sn6.py'
data_root = 'data/synthetic-sn6'
load_images = dict(type='LoadBiTemporalImages', channels=(3, 4))
train_pipeline = [
    load_images,
    dict(type='LoadChangeAnnotations'),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PackChangeInputs'),
]
test_pipeline = [load_images, dict(type='LoadChangeAnnotations'), dict(type='PackChangeInputs')]
# Statistics of the generated training split (seed 0), RGB and HH/HV/VH/VV.
data_preprocessor = dict(
    in_channels=(3, 4),
    mean=[[104.35, 105.67, 83.08], [15.37, 7.99, 7.94, 15.83]],
    std=[[45.92, 31.09, 33.22], [8.29, 6.28, 6.31, 8.01]])
train_dataloader = dict(batch_size=8, num_workers=2,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
# Test-time augmentation (--tta): average of the identity and both flips.
tta_model = dict(type='SegTTAModel')
tta_pipeline = [
    load_images,
    dict(type='TestTimeAug', transforms=[
        [dict(type='PairedRandomFlip', prob=0.0),
         dict(type='PairedRandomFlip', prob=1.0, directions=('horizontal', )),
         dict(type='PairedRandomFlip', prob=1.0, directions=('vertical', ))],
        [dict(type='LoadChangeAnnotations')],
        [dict(type='PackChangeInputs')]]),
]
