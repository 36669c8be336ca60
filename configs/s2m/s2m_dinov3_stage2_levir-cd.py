# S2M Stage 2 on LEVIR-CD (Table 3, "S2M (DINOv3)": F1 90.98, IoU 83.46): Stage-1 weights +
# mask-derived sentences, frozen CLIP text tower, Eq. 4 alignment, Eq. 6-8 InfoNCE.
# Inference needs no text: see s2m_dinov3_stage2_gaza-change-v2.py.
_base_ = ['./s2m_dinov3_stage1_levir-cd.py']
load_from = 'work_dirs/s2m_dinov3_stage1_levir-cd/epoch_150.pth'
model = dict(decode_head={{_base_.text_branch}})
# After the crop, flip, rotation and date swap: the text describes the label the model sees
# (a swapped pair turns 'newly built' into 'demolished').
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size=(256, 256)),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='TemporalExchange', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion')),
    dict(type='GenerateChangeText', class_table='levir_cd'),
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
