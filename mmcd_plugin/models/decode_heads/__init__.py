from .conv_block import ConvBlock
from .lsaf_change_head import LSAFChangeHead
from .lsaf_semantic_head import LSAFSemanticHead
from .text_guided_alignment import TextGuidedAlignment
from .text_guided_head import TextGuidedHead

__all__ = ['ConvBlock', 'LSAFChangeHead', 'LSAFSemanticHead', 'TextGuidedAlignment',
           'TextGuidedHead']
