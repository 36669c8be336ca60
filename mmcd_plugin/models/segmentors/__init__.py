from .bi_temporal_encoder_decoder import BiTemporalEncoderDecoder

__all__ = ['BiTemporalEncoderDecoder']
