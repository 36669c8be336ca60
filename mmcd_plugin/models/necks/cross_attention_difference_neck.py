"""Bi-temporal cross-attention, difference fusion and a feature pyramid for ViT features.

S2M ("Masks Can Talk", Sec. 3.2.1) builds its Stage-1 detector on MC-DiSNet
(Zheng et al., "Changes in Gaza", 2025), a siamese DINOv3 network whose
"multi-scale cross-attention difference" compares the two dates before a
lightweight decoder; S2M does not describe the module further. This neck is
our reading of it, for the single-resolution maps of a ViT:

1. per level (one intermediate ViT block), each date's tokens attend to the
   other date's tokens (shared weights, pre-norm, residual):
   ``a' = a + MHA(LN(a), LN(b))``, ``b' = b + MHA(LN(b), LN(a))``;
2. the pair is fused with a :data:`~.feature_fusion_neck.POLICIES` rule,
   by default ``[a', b', |a' - b'|]`` (the "difference siamese" part);
3. mmseg's :class:`~mmseg.models.necks.MultiLevelNeck` projects each level
   (1x1 conv) and resamples it by ``scales`` (default 4, 2, 1, 0.5: strides
   4, 8, 16, 32 from stride-16 ViT maps) followed by a 3x3 conv, so any
   multi-scale decode head can follow.

Cross-attention is global over the stride-16 tokens of the other date
((H/16 W/16)^2 attention weights per head, computed by PyTorch's
scaled-dot-product attention).
"""
from typing import List, Sequence, Tuple, Union

from mmseg.models.necks import MultiLevelNeck
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS
from .feature_fusion_neck import POLICIES

#: Output channels of each fusion policy, in multiples of the input width.
POLICY_WIDTH = {'concat': 2, 'sum': 1, 'diff': 1, 'abs_diff': 1, 'concat_abs_diff': 3}


class BiTemporalCrossAttention(nn.Module):
    """``a + MHA(LN(a), LN(b))`` for both orders, on NCHW maps.

    Args:
        channels (int): Feature width.
        num_heads (int): Attention heads.
    """

    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, num_heads, batch_first=True)

    def attend(self, query: Tensor, other: Tensor) -> Tensor:
        q, kv = self.norm(query), self.norm(other)
        return query + self.attn(q, kv, kv, need_weights=False)[0]

    def forward(self, a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
        n, c, h, w = a.shape
        tokens_a, tokens_b = (x.flatten(2).transpose(1, 2) for x in (a, b))
        out_a = self.attend(tokens_a, tokens_b)
        out_b = self.attend(tokens_b, tokens_a)
        return tuple(x.transpose(1, 2).reshape(n, c, h, w) for x in (out_a, out_b))


@MODELS.register_module()
class CrossAttentionDifferenceNeck(nn.Module):
    """Siamese ViT features -> cross-attention -> difference fusion -> pyramid.

    Called as ``neck(feats_from, feats_to)`` (Open-CD's siamese neck interface).

    Args:
        in_channels (int | Sequence[int]): Width of each input level (a ViT
            has one width; an int is used for every level).
        num_levels (int): Input levels when ``in_channels`` is an int.
            Defaults to 4.
        out_channels (int): Width of every output level. Defaults to 256.
        cross_attention (bool): Apply the bi-temporal cross-attention.
            Defaults to True.
        num_heads (int): Heads of the cross-attention. Defaults to 8.
        policy (str): Fusion rule of :data:`.feature_fusion_neck.POLICIES`.
            Defaults to 'concat_abs_diff'.
        scales (Sequence[float]): Resampling factor of each level.
            Defaults to (4, 2, 1, 0.5).
        norm_cfg (dict): Norm of the pyramid convs. Defaults to BN.
        act_cfg (dict): Activation of the pyramid convs. Defaults to ReLU.
    """

    def __init__(self, in_channels: Union[int, Sequence[int]], num_levels: int = 4,
                 out_channels: int = 256, cross_attention: bool = True, num_heads: int = 8,
                 policy: str = 'concat_abs_diff', scales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f'policy must be one of {sorted(POLICIES)}, got {policy!r}')
        widths = [in_channels] * num_levels if isinstance(in_channels, int) \
            else list(in_channels)
        if len(scales) != len(widths):
            raise ValueError(f'{len(widths)} input levels but {len(scales)} scales')
        self.in_channels = widths
        self.policy = policy
        self.cross_attention = nn.ModuleList(
            BiTemporalCrossAttention(c, num_heads) for c in widths) if cross_attention else None
        self.pyramid = MultiLevelNeck([POLICY_WIDTH[policy] * c for c in widths], out_channels,
                                      scales=list(scales), norm_cfg=norm_cfg, act_cfg=act_cfg)

    def init_weights(self) -> None:
        """mmseg's initialisation of the pyramid convs (Xavier)."""
        self.pyramid.init_weights()

    def forward(self, feats_from: Sequence[Tensor], feats_to: Sequence[Tensor]) -> List[Tensor]:
        if not len(feats_from) == len(feats_to) == len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} levels per date, got '
                             f'{len(feats_from)} and {len(feats_to)}')
        fused = []
        for level, (a, b) in enumerate(zip(feats_from, feats_to)):
            if self.cross_attention is not None:
                a, b = self.cross_attention[level](a, b)
            fused.append(POLICIES[self.policy](a, b))
        return list(self.pyramid(fused))

