# CPU-sized S2M Stage 2: the tiny Stage-1 model + mask-derived sentences embedded by the
# packaged pretrained MiniLM sentence encoder (384-d; CLIP weights cannot be installed from a
# package index), Eq. 4 alignment and Eq. 6-8 InfoNCE. tests/test_s2m_model.py trains it on
# real LEVIR-CD tiles.
_base_ = ['./s2m_tiny_stage1_levir-cd.py']
load_from = 'work_dirs/s2m_tiny_stage1_levir-cd/iter_200.pth'
model = dict(decode_head=dict(
    text_dim=384, text_encoder=dict(type='MiniLMSentenceEncoder'),
    loss_contrastive=dict(type='BidirectionalInfoNCELoss', temperature=0.7, loss_weight=0.5)))
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='GenerateChangeText', class_table='levir_cd', reference_area=512 * 512),
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
