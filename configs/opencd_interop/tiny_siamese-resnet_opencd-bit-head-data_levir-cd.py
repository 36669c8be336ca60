# Our siamese segmentor with Open-CD's BIT head, fed by Open-CD's LEVIR-CD
# dataset, MultiImg* transforms and DualInputSegDataPreProcessor.
_base_ = ['../tiny/tiny_siamese-resnet_levir-cd.py']
custom_imports = dict(imports=['opencd', 'mmcd_plugin'], allow_failed_imports=False)
data_root = 'data/LEVIR-CD'
model = dict(
    data_preprocessor=dict(
        _delete_=True, type='opencd.DualInputSegDataPreProcessor',
        mean=[123.675, 116.28, 103.53] * 2, std=[58.395, 57.12, 57.375] * 2,
        bgr_to_rgb=True, size_divisor=32, pad_val=0, seg_pad_val=255,
        test_cfg=dict(size_divisor=32)),
    neck=dict(policy='concat', out_indices=(2, )),
    decode_head=dict(
        _delete_=True, type='opencd.BITHead', in_channels=64, channels=32, embed_dims=64,
        enc_depth=1, enc_with_pos=True, dec_depth=2, num_heads=4, use_tokenizer=True,
        token_len=4, upsample_size=4, num_classes=2, norm_cfg=dict(type='LN'),
        align_corners=False,
        loss_decode=dict(type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
train_pipeline = [
    dict(type='opencd.MultiImgLoadImageFromFile'),
    dict(type='opencd.MultiImgLoadAnnotations'),
    dict(type='opencd.MultiImgRandomCrop', crop_size=(64, 64)),
    dict(type='opencd.MultiImgRandomFlip', prob=0.5),
    dict(type='opencd.MultiImgPackSegInputs'),
]
test_pipeline = [
    dict(type='opencd.MultiImgLoadImageFromFile'),
    dict(type='opencd.MultiImgLoadAnnotations'),
    dict(type='opencd.MultiImgPackSegInputs'),
]


def levir(split, pipeline):
    return dict(_delete_=True, type='opencd.LEVIR_CD_Dataset', data_root=data_root,
                data_prefix=dict(img_path_from=f'{split}/A', img_path_to=f'{split}/B',
                                 seg_map_path=f'{split}/label'),
                pipeline=pipeline)


train_dataloader = dict(dataset=levir('train', train_pipeline))
val_dataloader = dict(dataset=levir('val', test_pipeline))
test_dataloader = dict(dataset=levir('test', test_pipeline))
