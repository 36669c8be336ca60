_base_ = ['../_base_/models/stsf_sam2_swin.py', '../_base_/datasets/delta_sn6.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_60k_adam.py']
model = dict(data_preprocessor={{_base_.data_preprocessor}})
# STSF-Net Table IX (3 x 512 x 512) and Table VI (trainable, SAM2 + Swin).
paper_figures = dict(params_m=63.37, trainable_m=29.01, gflops=191.42)
