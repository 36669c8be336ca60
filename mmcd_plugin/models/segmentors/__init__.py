from .bi_temporal_encoder_decoder import BiTemporalEncoderDecoder
from .multimodal_encoder_decoder import MultimodalEncoderDecoder
from .semantic_change_encoder_decoder import SemanticChangeEncoderDecoder
from .text_guided_encoder_decoder import TextGuidedEncoderDecoder

__all__ = ['BiTemporalEncoderDecoder', 'MultimodalEncoderDecoder',
           'SemanticChangeEncoderDecoder', 'TextGuidedEncoderDecoder']
