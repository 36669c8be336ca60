from .conv_block import ConvBlock
from .lsaf_change_head import LSAFChangeHead
from .lsaf_semantic_head import LSAFSemanticHead
from .multi_head_with_consistency_loss import MultiHeadWithConsistencyLoss
from .supervised_attention_head import SupervisedAttentionHead
from .text_guided_alignment import TextGuidedAlignment
from .text_guided_head import TextGuidedHead

__all__ = ['ConvBlock', 'LSAFChangeHead', 'LSAFSemanticHead', 'MultiHeadWithConsistencyLoss',
           'SupervisedAttentionHead',
           'TextGuidedAlignment', 'TextGuidedHead']
