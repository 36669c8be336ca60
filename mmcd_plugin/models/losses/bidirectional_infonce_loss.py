"""Bidirectional vision-text contrastive (InfoNCE) loss of S2M (Eq. 6-8).

S2M ("Masks Can Talk", Sec. 3.3): with R_I^i the global visual feature of
sample i and R_T^j the text embedding of sample j, the similarity matrix is
``S_ij = R_I^i . R_T^j / tau`` (Eq. 6) and

    L_V->T = -1/B sum_i log( exp(S_ii) / sum_j exp(S_ij) )
    L_T->V = -1/B sum_i log( exp(S_ii) / sum_j exp(S_ji) )              (Eq. 6)
    L_cot  = (L_V->T + L_T->V) / 2                                       (Eq. 7)

added to the segmentation loss with weight lambda (Eq. 8). The paper's
values: tau = 0.7, lambda = 0.5. Like CLIP, whose temperature the paper
cites, both features are L2-normalised first, so ``S_ij`` is a cosine
similarity over tau (``normalize=False`` uses the raw dot product of Eq. 6).
The other samples of the batch are the negatives; a batch whose texts repeat
(e.g. several tiles without change) keeps the repeats as negatives, as the
equation does.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class BidirectionalInfoNCELoss(nn.Module):
    """``lambda * (L_V->T + L_T->V) / 2`` over a batch of paired features.

    Args:
        temperature (float): tau. Defaults to 0.7 (S2M Sec. 4).
        loss_weight (float): lambda of Eq. 8. Defaults to 0.5 (S2M Sec. 4).
        normalize (bool): L2-normalise both features. Defaults to True.
        loss_name (str): Name in the loss dict. Defaults to 'loss_cot'.
    """

    def __init__(self, temperature: float = 0.7, loss_weight: float = 0.5,
                 normalize: bool = True, loss_name: str = 'loss_cot'):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.normalize = normalize
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def similarity(self, visual: Tensor, text: Tensor) -> Tensor:
        """``S`` of Eq. 6: (B, B), rows = visual features, columns = texts."""
        if self.normalize:
            visual, text = F.normalize(visual, dim=-1), F.normalize(text, dim=-1)
        return visual @ text.t() / self.temperature

    def forward(self, visual: Tensor, text: Tensor) -> Tensor:
        """Args:
            visual (Tensor): (B, D) global visual features R_I.
            text (Tensor): (B, D) text embeddings R_T of the same samples.

        Returns:
            Tensor: ``loss_weight * L_cot`` (scalar).
        """
        if visual.shape != text.shape or visual.dim() != 2:
            raise ValueError(f'visual and text features must both be (B, D), got '
                             f'{tuple(visual.shape)} and {tuple(text.shape)}')
        sim = self.similarity(visual, text)
        targets = torch.arange(sim.shape[0], device=sim.device)
        vision_to_text = F.cross_entropy(sim, targets)
        text_to_vision = F.cross_entropy(sim.t(), targets)
        return self.loss_weight * (vision_to_text + text_to_vision) / 2
