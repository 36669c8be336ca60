from .feature_fusion_neck import FeatureFusionNeck
from .pgffm import PriorGuidedFusion
from .stcfm import SpatioTemporalCommonFeatureModeling

__all__ = ['FeatureFusionNeck', 'PriorGuidedFusion', 'SpatioTemporalCommonFeatureModeling']
