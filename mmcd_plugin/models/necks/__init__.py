from .concat_fusion import ConcatFusion
from .cross_attention_difference_neck import CrossAttentionDifferenceNeck
from .feature_fusion_neck import FeatureFusionNeck
from .lgaa import LGAA
from .lgce import LGCE
from .pgffm import PriorGuidedFusion
from .sfm import SemanticFusionModule
from .stcfm import SpatioTemporalCommonFeatureModeling

__all__ = ['FeatureFusionNeck', 'PriorGuidedFusion', 'SpatioTemporalCommonFeatureModeling',
           'LGAA', 'LGCE', 'ConcatFusion', 'SemanticFusionModule',
           'CrossAttentionDifferenceNeck']
