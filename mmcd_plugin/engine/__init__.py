from .atomic_checkpoint_hook import AtomicCheckpointHook
from .atomic_file_backend import AtomicLocalBackend, atomic_write
from .checkpoint import CheckpointError, allow_mmengine_checkpoints, load_local_checkpoint
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper
from .inference_optimization_hook import InferenceOptimizationHook
from .non_finite_check_hook import NonFiniteCheckHook
from .prefetching_loop import (BackgroundBatchIterator, PrefetchingEpochBasedTrainLoop,
                               PrefetchingIterBasedTrainLoop, cached_train_mode)
from .random_state_hook import RandomStateHook
from .visualization_hook import ChangeVisualizationHook

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'BackgroundBatchIterator',
           'CPUAmpOptimWrapper', 'ChangeVisualizationHook', 'CheckpointError',
           'InferenceOptimizationHook', 'NonFiniteCheckHook', 'PrefetchingEpochBasedTrainLoop',
           'PrefetchingIterBasedTrainLoop', 'RandomStateHook', 'allow_mmengine_checkpoints',
           'atomic_write', 'cached_train_mode', 'load_local_checkpoint']
