from .change_bce_loss import ChangeBCELoss
from .semantic_ce_loss import SemanticCELoss
from .semantic_consistency_loss import SemanticConsistencyLoss

__all__ = ['ChangeBCELoss', 'SemanticCELoss', 'SemanticConsistencyLoss']
