"""Change-detection metrics (BCD, SCD, multimodal and multi-class CD)."""
from .base_metric import ConfusionMatrixMetric
from .binary_change_metric import BinaryChangeMetric
from .multi_class_change_metric import MultiClassChangeMetric
from .multimodal_change_metric import MultimodalChangeMetric
from .semantic_change_metric import SemanticChangeMetric

__all__ = [
    'ConfusionMatrixMetric', 'BinaryChangeMetric', 'SemanticChangeMetric',
    'MultimodalChangeMetric', 'MultiClassChangeMetric'
]
