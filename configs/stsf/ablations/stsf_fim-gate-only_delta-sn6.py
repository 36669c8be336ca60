# FIM without its cross-attention (Eq. 1-2 alone: the aligned features of both modalities
# go straight to the Conv3x3-BN-sigmoid gate), the rest of STSF-Net unchanged.
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(common_neck=dict(cross_attention=False))
