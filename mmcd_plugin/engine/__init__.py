from .checkpoint import CheckpointError, allow_mmengine_checkpoints, load_local_checkpoint
from .visualization_hook import ChangeVisualizationHook

__all__ = ['ChangeVisualizationHook', 'CheckpointError', 'allow_mmengine_checkpoints',
           'load_local_checkpoint']
