# S2M Stage 2 on Gaza-Change-v2 style multi-class CD (Table 2, "S2M (DINOv3)": SeK 17.80,
# Fscd 66.14, mIoU 66.39, Pre 88.62, Rec 71.31, mF1 78.10): starts from the Stage-1
# weights, adds the mask-derived sentences (GenerateChangeText, Sec. 3.1), the frozen CLIP
# text tower, the text-guided alignment (Eq. 4) and the InfoNCE loss (Eq. 6-8).
# Inference needs no text: tools/test.py CKPT with --cfg-options
#   model.decode_head.text_encoder=None model.backbone.checkpoint=None
# runs without the CLIP and DINOv3 files (the checkpoint holds the trained encoder and
# never the frozen text weights).
_base_ = ['./s2m_dinov3_stage1_gaza-change-v2.py']
load_from = 'work_dirs/s2m_dinov3_stage1_gaza-change-v2/epoch_150.pth'
model = dict(decode_head={{_base_.text_branch}})
# Table 2 (3 x 512 x 512), for tools/analysis_tools/get_flops.py.
paper_figures = dict(params_m=186.82, trainable_m=35.54, gflops=56.83)
# The text is made after every geometric augmentation (it must describe the label the model
# sees) and before packing.
text_cfg = dict(type='GenerateChangeText', class_table='gaza_change_example',
                attributes=('quantity', 'type', 'category', 'location'))
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations'),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='PairedRandomRotate90', prob=0.5),
    dict(type='PerImageTransform', transform=dict(type='PhotoMetricDistortion')),
    text_cfg,
    dict(type='PackChangeInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
