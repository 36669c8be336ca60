# Open-CD's BIT (unmodified config) fed by our LEVIR-CD dataset and transforms.
# Our loaders read RGB; Open-CD's preprocessor must then not swap channels.
_base_ = ['{{$OPENCD_ROOT:../../../open-cd}}/configs/bit/bit_r18_256x256_40k_levircd.py']
custom_imports = dict(imports=['mmcd_plugin'], allow_failed_imports=False)
data_root = 'data/LEVIR-CD'
crop_size = (256, 256)
train_pipeline = [
    dict(type='mmcd_plugin.LoadBiTemporalImages', channels=(3, 3)),
    dict(type='mmcd_plugin.LoadChangeAnnotations', binary=True),
    dict(type='mmcd_plugin.PairedRandomCrop', crop_size=crop_size),
    dict(type='mmcd_plugin.PairedRandomFlip', prob=0.5),
    dict(type='mmcd_plugin.PackChangeInputs'),
]
test_pipeline = [
    dict(type='mmcd_plugin.LoadBiTemporalImages', channels=(3, 3)),
    dict(type='mmcd_plugin.LoadChangeAnnotations', binary=True),
    dict(type='mmcd_plugin.PackChangeInputs'),
]
model = dict(data_preprocessor=dict(bgr_to_rgb=False))


def levir(split, pipeline):
    return dict(_delete_=True, type='mmcd_plugin.LEVIRCDDataset',
                data_root=f'{data_root}/{split}', pipeline=pipeline)


train_dataloader = dict(dataset=levir('train', train_pipeline))
val_dataloader = dict(dataset=levir('val', test_pipeline))
test_dataloader = dict(dataset=levir('test', test_pipeline))
