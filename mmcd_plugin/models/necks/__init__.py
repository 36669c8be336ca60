from .concat_fusion import ConcatFusion
from .cross_attention_difference_neck import CrossAttentionDifferenceNeck
from .feature_fusion_neck import FeatureFusionNeck
from .image_feature_refinement import ImageFeatureRefinement
from .image_text_feature_fusion import ImageTextFeatureFusion
from .lgaa import LGAA
from .lgce import LGCE
from .mmchange_neck import MMChangeNeck
from .pgffm import PriorGuidedFusion
from .sfm import SemanticFusionModule
from .stcfm import SpatioTemporalCommonFeatureModeling
from .textual_difference_enhancement import TextualDifferenceEnhancement

__all__ = ['FeatureFusionNeck', 'PriorGuidedFusion', 'SpatioTemporalCommonFeatureModeling',
           'LGAA', 'LGCE', 'ConcatFusion', 'SemanticFusionModule',
           'CrossAttentionDifferenceNeck', 'ImageFeatureRefinement',
           'TextualDifferenceEnhancement', 'ImageTextFeatureFusion', 'MMChangeNeck']
