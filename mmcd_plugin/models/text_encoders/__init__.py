from .clip_text_encoder import (CLIPSentenceEncoder, convert_clip_text_checkpoint,
                                read_clip_checkpoint)
from .frozen_text_encoder import FrozenTextEncoder
from .minilm_text_encoder import MiniLMSentenceEncoder

__all__ = ['FrozenTextEncoder', 'CLIPSentenceEncoder', 'MiniLMSentenceEncoder',
           'convert_clip_text_checkpoint', 'read_clip_checkpoint']
