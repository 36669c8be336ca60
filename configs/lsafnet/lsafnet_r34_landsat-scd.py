# LSAFNet on Landsat-SCD (Table II: mIoU 87.60, SeK 49.94, Fscd 81.66, "Avg" 94.46).
# The authors' Landsat config (configs/SCD_Landsat.yaml) raises the initial lr to 0.1; the
# paper's text gives 0.07 for both datasets.
_base_ = ['../_base_/models/lsafnet_r34.py', '../_base_/datasets/landsat_scd.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_50e_sgd_poly.py']
train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True))
log_processor = dict(by_epoch=True)
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             semantic_head=dict(num_classes=5))
optim_wrapper = dict(optimizer=dict(lr=0.1))
