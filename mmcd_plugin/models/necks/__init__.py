from .feature_fusion_neck import FeatureFusionNeck

__all__ = ['FeatureFusionNeck']
