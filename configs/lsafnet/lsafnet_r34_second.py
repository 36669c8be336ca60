# LSAFNet on SECOND (Table I: mIoU 74.01, SeK 24.32, Fscd 63.20, "Avg" 87.66).
# Random flip + rotation, the authors' per-date normalisation (RESEARCH.md §5): see the
# dataset base.
_base_ = ['../_base_/models/lsafnet_r34.py', '../_base_/datasets/second.py',
          '../_base_/default_runtime.py', '../_base_/schedules/schedule_50e_sgd_poly.py']
train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True))
log_processor = dict(by_epoch=True)
model = dict(data_preprocessor={{_base_.data_preprocessor}},
             semantic_head=dict(num_classes=7))
