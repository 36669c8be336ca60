# The other reading of STSF-Net's prior generator: a separate frozen SAM2 Hiera-B+ (the
# "(2, 3, 16, 3) Hiera blocks" of Sec. IV-D-1) instead of the optical encoder's Hiera-S
# trunk. Weights: sam2.1_hiera_base_plus.pt from the SAM2 release.
_base_ = ['../stsf_sam2_swin_delta-sn6.py']
model = dict(prior_generator=dict(encoder=dict(
    _delete_=True, type='HieraAdapter', arch='base_plus', use_adapters=False,
    checkpoint='checkpoints/sam2.1_hiera_base_plus.pt')))
