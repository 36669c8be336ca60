default_scope = 'mmcd_plugin'
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # tools/ switch to gloo on machines without GPUs
    # How loader workers pass tensors (applied by tools/ before the Runner is built):
    # 'file_system' maps shared memory by name instead of sending a file descriptor
    # per tensor, which cut the demo's data time from 11 to ~3 ms per batch.
    sharing_strategy='file_system',
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ChangeLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
# Long runs: stop at the first NaN/Inf loss, lr or weight before it reaches a
# checkpoint; resumed runs draw the random numbers of uninterrupted ones.
custom_hooks = [dict(type='NonFiniteCheckHook'), dict(type='RandomStateHook')]
load_from = None
resume = False
