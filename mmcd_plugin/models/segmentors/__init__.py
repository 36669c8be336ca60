from .bi_temporal_encoder_decoder import BiTemporalEncoderDecoder
from .multimodal_encoder_decoder import MultimodalEncoderDecoder

__all__ = ['BiTemporalEncoderDecoder', 'MultimodalEncoderDecoder']
