from .bidirectional_infonce_loss import BidirectionalInfoNCELoss
from .binary_dice_loss import BinaryDiceLoss
from .change_bce_loss import ChangeBCELoss
from .class_mean_dice_loss import ClassMeanDiceLoss
from .semantic_ce_loss import SemanticCELoss
from .semantic_consistency_loss import SemanticConsistencyLoss
from .softmax_focal_loss import SoftmaxFocalLoss

__all__ = ['ChangeBCELoss', 'SemanticCELoss', 'SemanticConsistencyLoss',
           'BidirectionalInfoNCELoss', 'SoftmaxFocalLoss', 'BinaryDiceLoss',
           'ClassMeanDiceLoss']
