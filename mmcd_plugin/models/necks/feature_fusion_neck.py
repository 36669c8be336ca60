"""Parameter-free fusion of the two dates' feature pyramids."""
from typing import List, Sequence

import torch
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS

POLICIES = {
    'concat': lambda a, b: torch.cat([a, b], dim=1),
    'sum': lambda a, b: a + b,
    'diff': lambda a, b: b - a,
    'abs_diff': lambda a, b: (a - b).abs(),
    'concat_abs_diff': lambda a, b: torch.cat([a, b, (a - b).abs()], dim=1),
}


@MODELS.register_module()
class FeatureFusionNeck(nn.Module):
    """Fuse date-1 and date-2 features level by level (Open-CD's siamese neck
    interface: ``neck(feats_from, feats_to)``).

    Output channels per level: C for 'sum', 'diff' (date 2 - date 1) and
    'abs_diff'; 2C for 'concat'; 3C for 'concat_abs_diff'.

    Args:
        policy (str): One of 'concat', 'sum', 'diff', 'abs_diff',
            'concat_abs_diff'. Defaults to 'concat'.
        out_indices (Sequence[int], optional): Levels to return; None returns
            all. Defaults to None.
    """

    def __init__(self, policy: str = 'concat', out_indices: Sequence[int] = None):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f'policy must be one of {sorted(POLICIES)}, got {policy!r}')
        self.policy = policy
        self.out_indices = out_indices

    def forward(self, feats_from: Sequence[Tensor], feats_to: Sequence[Tensor]) -> List[Tensor]:
        if len(feats_from) != len(feats_to):
            raise ValueError(f'date 1 has {len(feats_from)} feature levels, date 2 '
                             f'{len(feats_to)}')
        fuse = POLICIES[self.policy]
        fused = [fuse(a, b) for a, b in zip(feats_from, feats_to)]
        if self.out_indices is None:
            return fused
        return [fused[i] for i in self.out_indices]
