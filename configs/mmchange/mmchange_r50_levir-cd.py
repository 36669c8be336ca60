# MMChange on LEVIR-CD (Sec. IV-B): batch 32, 256^2 crops, random flip, crop and temporal
# exchange (the descriptions are exchanged with the images), 40k iterations of Adam.
#
# Descriptions: one caption file per split, data/LEVIR-CD/{train,val,test}/captions.json,
# keyed by the image path relative to the split folder ("A/xxx.png"). Write them with a
# local TinyLLaVA (Hugging Face format) and the paper's prompt:
#   python tools/caption_images.py --config configs/mmchange/mmchange_r50_levir-cd.py \
#       --model checkpoints/TinyLLaVA-hf
_base_ = ['../_base_/models/mmchange_r50.py', '../_base_/datasets/levir_cd.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k_adam.py']
crop_size = (256, 256)
caption_file = 'captions.json'
train_pipeline = [
    dict(type='LoadBiTemporalImages', channels=(3, 3)),
    dict(type='LoadChangeAnnotations', binary=True),
    dict(type='PairedRandomCrop', crop_size=crop_size),
    dict(type='PairedRandomFlip', prob=0.5),
    dict(type='TemporalExchange', prob=0.5),
    dict(type='PackChangeInputs'),
]
model = dict(data_preprocessor={{_base_.data_preprocessor}})
train_dataloader = dict(batch_size=32,
                        dataset=dict(pipeline=train_pipeline, caption_file=caption_file))
val_dataloader = dict(dataset=dict(caption_file=caption_file))
test_dataloader = dict(dataset=dict(caption_file=caption_file))
# The paper gives no parameter count or FLOPs here; these are the authors' released network
# (github yikuizhai/MMchange, model/model.py BaseNet without its unused second ResNet-50:
# 45.06 M parameters, 56.58 GFLOPs) plus the frozen CLIP ViT-B/32 text tower (63.43 M,
# 2.95 GFLOPs per sentence; a bare-tensor forward encodes one), counted with this
# repository's FlopAnalyzer at one 2 x 256 x 256 pair (their TDE only runs at 256^2):
#   python tools/analysis_tools/get_flops.py CONFIG --shape 256 256
paper_figures = dict(params_m=108.49, trainable_m=45.06, gflops=59.53)
