from .conv_block import ConvBlock
from .lsaf_change_head import LSAFChangeHead
from .lsaf_semantic_head import LSAFSemanticHead

__all__ = ['ConvBlock', 'LSAFChangeHead', 'LSAFSemanticHead']
