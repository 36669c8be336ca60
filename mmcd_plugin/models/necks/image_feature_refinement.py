"""Image Feature Refinement (IFR) of MMChange.

Zhou et al., "Multimodal Feature Fusion Network with Text Difference
Enhancement for Remote Sensing Change Detection" (MMChange), Sec. III-C,
Eq. 7-11: the difference of the bitemporal features of one scale is refined
to highlight the changed regions and suppress noise and illumination
effects, before it meets the text features.

For features ``F_a, F_b`` of one scale (``C`` channels) the module computes
(the numbers of the single steps are our reading of the equation range):

* ``D = |F_a - F_b|`` (Eq. 7; absolute difference, so the dates are
  interchangeable);
* static context ``K = ReLU(BN(GConv3x3(D)))``, a grouped 3x3 convolution
  with ``n`` groups (Eq. 8);
* attention logits ``A = Conv1x1(ReLU(BN(Conv1x1([K, D]))))`` and values
  ``V = BN(Conv1x1(D))`` (Eq. 9);
* softmax normalisation and residual learning (Eq. 10):
  ``R = K + softmax(A) * V``, the softmax taken over the spatial positions of
  each channel (a per-channel distribution of where the change is, as the
  authors' code does);
* group-based sigmoid gating (Eq. 11): ``R`` is split into ``n`` channel
  groups; in each group the similarity of every position to the group's
  average-pooled descriptor, ``s = sum_c R_g * GAP(R_g)``, is standardised
  over the positions and gates the group: ``out_g = R_g * sigmoid(w_g * s_hat
  + b_g)`` (spatial group-wise enhancement).

``n = 4`` is the paper's number of groups. The authors' code additionally runs
a cascade of dilated 3x3 convolutions between the attention and the gate and
gates with 8 groups; neither is in the paper's description, so they are left
out here.
"""
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS


@MODELS.register_module()
class ImageFeatureRefinement(BaseModule):
    """IFR: grouped context attention and group gating of a feature difference.

    Args:
        channels (int): Channels ``C`` of both input features and the output.
        groups (int): Number of groups ``n`` of the grouped context convolution
            and of the gate. Must divide ``channels``. Defaults to 4 (paper).
        reduction (int): Channel reduction of the attention MLP. Defaults to 4.
        eps (float): Added to the standard deviation of the gate
            standardisation. Defaults to 1e-5.
        norm_cfg (dict): Normalisation layers. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, channels: int, groups: int = 4, reduction: int = 4,
                 eps: float = 1e-5, norm_cfg: dict = dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg)
        if channels % groups:
            raise ValueError(f'IFR: groups ({groups}) must divide channels ({channels})')
        self.groups = groups
        self.eps = eps
        self.context = ConvModule(channels, channels, 3, padding=1, groups=groups,
                                  bias=False, norm_cfg=norm_cfg)
        self.attention_logits = nn.Sequential(
            ConvModule(2 * channels, 2 * channels // reduction, 1, bias=False,
                       norm_cfg=norm_cfg),
            nn.Conv2d(2 * channels // reduction, channels, 1))
        self.value = ConvModule(channels, channels, 1, bias=False, norm_cfg=norm_cfg,
                                act_cfg=None)
        # gate scale and shift per group, zero at start: every gate is 0.5
        self.gate_weight = nn.Parameter(torch.zeros(1, groups, 1, 1))
        self.gate_bias = nn.Parameter(torch.zeros(1, groups, 1, 1))

    def spatial_attention(self, context: Tensor, difference: Tensor) -> Tensor:
        """Eq. 9-10: softmax over the positions of each channel, ``(B, C, H, W)``."""
        logits = self.attention_logits(torch.cat([context, difference], dim=1))
        return F.softmax(logits.flatten(2), dim=-1).view_as(logits)

    def group_gate(self, x: Tensor) -> Tensor:
        """Eq. 11: the sigmoid gate of each group and position, ``(B, n, H, W)``."""
        batch, channels, height, width = x.shape
        grouped = x.view(batch, self.groups, channels // self.groups, height, width)
        similarity = (grouped * grouped.mean(dim=(3, 4), keepdim=True)).sum(dim=2)
        flat = similarity.flatten(2)
        std = flat.std(-1, correction=0, keepdim=True)  # population std: defined for 1x1 maps
        flat = (flat - flat.mean(-1, keepdim=True)) / (std + self.eps)
        return torch.sigmoid(flat.view_as(similarity) * self.gate_weight + self.gate_bias)

    def forward(self, feat_from: Tensor, feat_to: Tensor) -> Tensor:
        difference = torch.abs(feat_from - feat_to)
        context = self.context(difference)
        refined = context + self.spatial_attention(context, difference) * self.value(difference)
        gate = self.group_gate(refined)
        batch, channels, height, width = refined.shape
        gated = refined.view(batch, self.groups, -1, height, width) * gate.unsqueeze(2)
        return gated.view_as(refined)
