_base_ = ['../_base_/models/stsf_sam2_swin.py', '../_base_/datasets/bright.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_60k_adam.py']
# BRIGHT: single-band SAR; 4 classes (background, intact, damaged, destroyed).
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             sar_encoder=dict(in_channels=1), decode_head=dict(num_classes=4))
