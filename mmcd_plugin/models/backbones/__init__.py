from .hiera_adapter import (BottleneckAdapter, HieraAdapter, adapter_param_count,
                            convert_sam2_checkpoint, load_sam2_trunk)
from .semantic_prior_generator import SemanticPriorGenerator

__all__ = ['HieraAdapter', 'BottleneckAdapter', 'SemanticPriorGenerator',
           'convert_sam2_checkpoint', 'load_sam2_trunk', 'adapter_param_count']
