"""SAM2 Hiera trunk with bottleneck adapters: the optical encoder of STSF-Net.

Paper: STSF-Net, "Prior-guided Fusion of Multimodal Features for Change
Detection from Optical-SAR Images", section IV-B "Modal-specific feature
extraction" (optical branch of the MSFE, Fig. 3). Each of the four stages is a
stack of "Adapter + Hiera block" units; the Adapter is a bottleneck
feed-forward network of two linear layers with a GELU, only the adapters are
trained and the Hiera trunk stays frozen. With ``use_adapters=False`` the same
class is the plain frozen SAM2 image trunk used by the semantic prior
generator (section IV-D-1, see :class:`SemanticPriorGenerator`).

The trunk is timm's maintained SAM2 Hiera (``timm.create_model(
'sam2_hiera_<arch>', pretrained=False)``); nothing is ever downloaded. Weights
come only from a local official SAM2 / SAM2.1 checkpoint
(``sam2.1_hiera_<arch>.pt``), converted by :func:`convert_sam2_checkpoint` and
loaded strictly.

Decisions where the paper is silent (all are options):

* **Adapter size.** Default ``adapter_hidden=64`` for every block, whatever
  its width. An adapter on a block of input width C then has
  ``2 * 64 * C + 64 + C`` parameters; summed over the 16 blocks of Hiera-S
  (input widths 96 x2, 192 x2, 384 x11, 768 x1, sum 5568) this is
  ``129 * 5568 + 64 * 16 = 719,296`` = 0.72 M, the trainable count of the
  "Siamese SAM2" row of the paper's Table VI. ``adapter_ratio`` instead sizes
  each adapter's hidden layer as ``round(C * adapter_ratio)`` (ratio 0.155
  gives about the same total on Hiera-S).
* **Adapter placement.** Before every Hiera block, on the block's *input*
  width, as a residual ``x + adapter(x)`` (the block then changes the width at
  stage transitions). The second linear layer is zero-initialised so that at
  init the backbone computes exactly the plain trunk.
* **Which norms train.** ``trainable_norms='none'`` (default): only the
  adapters train. ``'all'`` also trains every LayerNorm of the trunk, a
  sequence of stage indices trains the LayerNorms of those stages' blocks.
* **Activation after the second linear.** The paper's "two linear layers with
  GELU activations" is ambiguous; ``adapter_final_act=False`` (default) is
  Linear-GELU-Linear, ``True`` appends a GELU (GELU(0) = 0, so the zero-init
  identity still holds).
"""
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS

#: Hiera variants of SAM2 / SAM2.1: timm model name, embed dim, blocks per stage.
HIERA_ARCHS: Dict[str, dict] = {
    'tiny': dict(timm_name='sam2_hiera_tiny', embed_dim=96, stages=(1, 2, 7, 2)),
    'small': dict(timm_name='sam2_hiera_small', embed_dim=96, stages=(1, 2, 11, 2)),
    'base_plus': dict(timm_name='sam2_hiera_base_plus', embed_dim=112,
                      stages=(2, 3, 16, 3)),
    'large': dict(timm_name='sam2_hiera_large', embed_dim=144, stages=(2, 6, 36, 4)),
}

#: Key prefix of the image trunk in the official SAM2 / SAM2.1 checkpoints.
SAM2_TRUNK_PREFIX = 'image_encoder.trunk.'

SAM2_DOWNLOAD_HINT = (
    "Download sam2.1_hiera_{arch}.pt (or sam2_hiera_{arch}.pt) from the SAM2 "
    "release (https://github.com/facebookresearch/sam2, 'Download Checkpoints') "
    "and set the HieraAdapter's checkpoint to its local path (e.g. "
    "--cfg-options model.backbone.checkpoint=..., or model.optical_encoder."
    "checkpoint / model.prior_generator.encoder.checkpoint in STSF-Net configs).")


def convert_sam2_checkpoint(state_dict: dict) -> Dict[str, Tensor]:
    """Convert an official SAM2 / SAM2.1 checkpoint to timm Hiera trunk keys.

    The official files hold ``{'model': state_dict}`` with the image trunk
    under ``image_encoder.trunk.`` next to the FPN neck, memory modules, prompt
    encoder and mask decoder. Conversion keeps only the trunk keys, strips the
    prefix and renames the block MLP (``mlp.layers.0/1`` -> ``mlp.fc1/fc2``);
    both steps are timm's own ``hieradet_sam2.checkpoint_filter_fn``. Nothing
    else differs: the converted dict loads strictly into
    ``timm.create_model('sam2_hiera_<arch>')`` without its classifier head.

    Args:
        state_dict (dict): The loaded file (``torch.load(path,
            weights_only=True)``), either the whole file (with a ``'model'``
            entry) or its ``'model'`` state dict.

    Returns:
        dict[str, Tensor]: The trunk state dict in timm's key layout. Empty
        when the input has no ``image_encoder.trunk.`` keys.
    """
    from timm.models.hieradet_sam2 import checkpoint_filter_fn
    if isinstance(state_dict, dict) and isinstance(state_dict.get('model'), dict):
        state_dict = state_dict['model']
    return checkpoint_filter_fn(state_dict, prefix=SAM2_TRUNK_PREFIX)


def _guess_arch(trunk_sd: Dict[str, Tensor]) -> Optional[str]:
    """The Hiera arch whose embed dim and depth match a converted trunk dict."""
    proj = trunk_sd.get('patch_embed.proj.weight')
    block_ids = {int(k.split('.')[1]) for k in trunk_sd if k.startswith('blocks.')}
    if proj is None or not block_ids:
        return None
    for name, spec in HIERA_ARCHS.items():
        if proj.shape[0] == spec['embed_dim'] and \
                max(block_ids) + 1 == sum(spec['stages']):
            return name
    return None


def _list_keys(keys: Sequence[str], limit: int = 8) -> str:
    # natural order: blocks.2 before blocks.10
    keys = sorted(keys, key=lambda k: [int(t) if t.isdigit() else t
                                       for t in re.split(r'(\d+)', k)])
    shown = ', '.join(keys[:limit])
    more = f', ... ({len(keys) - limit} more)' if len(keys) > limit else ''
    return f'{len(keys)}: [{shown}{more}]'


def load_sam2_trunk(trunk: nn.Module, path: str, arch: str) -> None:
    """Load an official SAM2 / SAM2.1 checkpoint into a timm Hiera trunk, strictly.

    Args:
        trunk (nn.Module): timm ``HieraDet`` without its classifier head.
        path (str): Local checkpoint file.
        arch (str): The arch the trunk was built with (for the messages).

    Raises:
        FileNotFoundError: ``path`` does not exist (says where to get it).
        RuntimeError: The file's trunk does not match the model: lists the
            missing, unexpected and shape-mismatched keys and suggests the
            ``arch`` the file looks like.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'SAM2 checkpoint not found: {path!r}. '
            + SAM2_DOWNLOAD_HINT.format(arch=arch))
    raw = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(raw, dict):
        raise RuntimeError(f'{path!r} is not a SAM2 checkpoint (a {type(raw).__name__}, '
                           f"expected a dict with a 'model' state dict)")
    trunk_sd = convert_sam2_checkpoint(raw)
    if not trunk_sd:
        sd = raw['model'] if isinstance(raw.get('model'), dict) else raw
        sample = _list_keys([k for k in sd if isinstance(k, str)], limit=5)
        raise RuntimeError(
            f'{path!r} has no SAM2 image trunk: no key starts with '
            f"'{SAM2_TRUNK_PREFIX}' (keys {sample}). Expected an official "
            f'SAM2 / SAM2.1 checkpoint ({{"model": {{...}}}}). '
            + SAM2_DOWNLOAD_HINT.format(arch=arch))

    own = trunk.state_dict()
    missing = [k for k in own if k not in trunk_sd]
    unexpected = [k for k in trunk_sd if k not in own]
    mismatched = [f'{k} {tuple(trunk_sd[k].shape)} vs {tuple(own[k].shape)}'
                  for k in own if k in trunk_sd and trunk_sd[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        guess = _guess_arch(trunk_sd)
        if guess is not None and guess != arch:
            hint = f"The file looks like Hiera '{guess}': set arch='{guess}'."
        elif guess is None:
            hint = ('The file matches none of the Hiera archs '
                    f'{sorted(HIERA_ARCHS)}: it may be truncated or not a SAM2 file.')
        else:
            hint = f"The file has the dimensions of '{arch}' but its keys differ."
        parts = [f"Checkpoint {path!r} does not match the SAM2 Hiera '{arch}' trunk."]
        if missing:
            parts.append(f'Missing keys {_list_keys(missing)}.')
        if unexpected:
            parts.append(f'Unexpected keys {_list_keys(unexpected)}.')
        if mismatched:
            parts.append(f'Shape mismatches (file vs model) {_list_keys(mismatched, 4)}.')
        parts.append(hint)
        raise RuntimeError(' '.join(parts))
    trunk.load_state_dict(trunk_sd, strict=True)


class BottleneckAdapter(nn.Module):
    """Residual bottleneck adapter ``x + fc2(act(fc1(x)))`` on channel-last tokens.

    Args:
        dim (int): Token width C.
        hidden (int): Bottleneck width.
        final_act (bool): Apply a GELU after ``fc2`` too. Defaults to False.
    """

    def __init__(self, dim: int, hidden: int, final_act: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.final_act = nn.GELU() if final_act else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``fc1``: PyTorch's default Linear init; ``fc2``: zeros (identity at init)."""
        self.fc1.reset_parameters()
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.final_act(self.fc2(self.act(self.fc1(x))))


@MODELS.register_module()
class HieraAdapter(BaseModule):
    """Frozen SAM2 Hiera trunk (timm) with a trainable adapter before each block.

    Returns a tuple of NCHW maps at strides 4/8/16/32 with C, 2C, 4C, 8C
    channels (C = 96 tiny/small, 112 base_plus, 144 large), selected by
    ``out_indices``. Inputs must have H and W divisible by 32 (Hiera's
    windowed position embedding tiles an 8x8 window over the stride-4 grid;
    the global position embedding is interpolated to any such size, e.g. 64,
    512 or 1024).

    Checkpoint loading happens in ``__init__`` (strict, see
    :func:`load_sam2_trunk`); :meth:`init_weights` loads the file again and
    re-zeroes the adapters, so an ``init_cfg`` of an enclosing model applied by
    mmengine's ``init_weights`` cannot overwrite the pretrained trunk.

    Args:
        arch (str): 'tiny', 'small', 'base_plus' or 'large'. Defaults to 'small'.
        arch_overrides (dict, optional): Extra arguments of timm's Hiera
            (e.g. ``embed_dim``, ``num_heads``, ``stages``, ``global_att_blocks``,
            ``window_spec``) applied on top of ``arch``, for reduced models in
            CPU tests and demos; SAM2 checkpoints fit only the plain archs.
            Defaults to None.
        checkpoint (str, optional): Local official SAM2 / SAM2.1 checkpoint
            (``sam2.1_hiera_<arch>.pt``). None keeps timm's random init.
            Defaults to None.
        out_indices (Sequence[int]): Stages (0-3) whose outputs are returned.
            Blocks after the last returned stage are not run and get no
            adapters. Defaults to (0, 1, 2, 3).
        use_adapters (bool): Insert adapters. False gives the plain trunk (the
            prior generator's encoder). Defaults to True.
        adapter_hidden (int): Bottleneck width of every adapter. Defaults to 64
            (0.72 M adapter parameters on Hiera-S, see the module docstring).
        adapter_ratio (float, optional): If given, overrides ``adapter_hidden``:
            each adapter's width is ``max(1, round(C * adapter_ratio))`` for a
            block of input width C. Defaults to None.
        adapter_final_act (bool): GELU after the adapter's second linear.
            Defaults to False.
        freeze_trunk (bool): Freeze the trunk (requires_grad False, eval mode
            whatever ``train()`` is called with). False fine-tunes everything
            (an ablation; the paper freezes). Defaults to True.
        trainable_norms (str | Sequence[int]): With a frozen trunk, which
            LayerNorms still train: 'none', 'all', or the stage indices whose
            blocks' norms train. Defaults to 'none'.
        with_cp (bool): Gradient checkpointing of each adapter + block unit
            while training (saves memory at 512-1024 inputs). Defaults to False.
        init_cfg (dict, optional): mmengine init config, applied by
            :meth:`init_weights` after the checkpoint; not needed for SAM2
            weights (use ``checkpoint``). Defaults to None.
    """

    def __init__(self,
                 arch: str = 'small',
                 checkpoint: Optional[str] = None,
                 arch_overrides: Optional[dict] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 use_adapters: bool = True,
                 adapter_hidden: int = 64,
                 adapter_ratio: Optional[float] = None,
                 adapter_final_act: bool = False,
                 freeze_trunk: bool = True,
                 trainable_norms: Union[str, Sequence[int]] = 'none',
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if arch not in HIERA_ARCHS:
            raise ValueError(f'arch must be one of {sorted(HIERA_ARCHS)}, got {arch!r}')
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ValueError(f'out_indices must be stage indices in 0-3, got {out_indices}')
        if isinstance(trainable_norms, str):
            if trainable_norms not in ('none', 'all'):
                raise ValueError("trainable_norms must be 'none', 'all' or stage "
                                 f'indices, got {trainable_norms!r}')
        elif any(int(i) not in range(4) for i in trainable_norms):
            raise ValueError(f'trainable_norms stage indices must be in 0-3, got '
                             f'{tuple(trainable_norms)}')
        if use_adapters and adapter_ratio is None and adapter_hidden < 1:
            raise ValueError(f'adapter_hidden must be >= 1, got {adapter_hidden}')

        import timm
        self.arch = arch
        self.checkpoint = checkpoint
        self.out_indices = out_indices
        self.use_adapters = use_adapters
        self.freeze_trunk = freeze_trunk
        self.trainable_norms = trainable_norms
        self.with_cp = with_cp

        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'SAM2 checkpoint not found: {checkpoint!r}. '
                + SAM2_DOWNLOAD_HINT.format(arch=arch))
        # pretrained=False always: weights come only from a local file. With a
        # checkpoint, timm's random init of the layers is skipped (the strict
        # load overwrites every trunk tensor anyway).
        self.trunk = timm.create_model(
            HIERA_ARCHS[arch]['timm_name'], pretrained=False, num_classes=0,
            weight_init='skip' if checkpoint is not None else '', **(arch_overrides or {}))
        # SAM2 has no classifier head / final norm: drop timm's so that the
        # trunk's state dict is exactly the checkpoint's trunk.
        self.trunk.head = nn.Identity()
        self.stage_ends: List[int] = list(self.trunk.stage_ends)
        self.num_blocks = self.stage_ends[max(out_indices)] + 1
        self.out_channels = [self.trunk.blocks[e].dim_out for e in self.stage_ends]

        if use_adapters:
            self.adapters = nn.ModuleList()
            for blk in self.trunk.blocks[:self.num_blocks]:
                hidden = (max(1, int(round(blk.dim * adapter_ratio)))
                          if adapter_ratio is not None else adapter_hidden)
                self.adapters.append(
                    BottleneckAdapter(blk.dim, hidden, final_act=adapter_final_act))
        else:
            self.adapters = None

        if checkpoint is not None:
            load_sam2_trunk(self.trunk, checkpoint, arch)
        self._set_trainable()

    # ------------------------------------------------------------------ setup
    def _stage_of_block(self, index: int) -> int:
        return next(s for s, end in enumerate(self.stage_ends) if index <= end)

    def _set_trainable(self) -> None:
        if not self.freeze_trunk:
            return
        self.trunk.requires_grad_(False)
        norms = self.trainable_norms
        if norms == 'none':
            return
        stages = range(4) if norms == 'all' else {int(i) for i in norms}
        for i, blk in enumerate(self.trunk.blocks[:self.num_blocks]):
            if self._stage_of_block(i) in stages:
                blk.norm1.requires_grad_(True)
                blk.norm2.requires_grad_(True)

    def init_weights(self) -> None:
        """Reload the checkpoint (if any) and zero the adapters' output layers.

        Guards against an enclosing model's ``init_cfg`` having re-initialised
        our layers before mmengine reaches this module. This module's own
        ``init_cfg`` (if any) is applied afterwards, as mmengine does.
        """
        if self._is_init:
            return super().init_weights()  # mmengine's "called twice" warning
        if self.checkpoint is not None:
            load_sam2_trunk(self.trunk, self.checkpoint, self.arch)
        if self.adapters is not None:
            for adapter in self.adapters:
                adapter.reset_parameters()
        super().init_weights()

    def train(self, mode: bool = True) -> 'HieraAdapter':
        """Set train mode, keeping a frozen trunk in eval mode."""
        super().train(mode)
        if self.freeze_trunk:
            self.trunk.eval()
        return self

    # ---------------------------------------------------------------- forward
    def _unit(self, index: int, x: Tensor, adapted: int) -> Tensor:
        if adapted and self.adapters is not None:
            adapter = self.adapters[index]
            x = adapter(x) if adapted == x.shape[0] else \
                torch.cat([adapter(x[:adapted]), x[adapted:]])
        return self.trunk.blocks[index](x)

    def forward(self, x: Tensor, use_adapters: bool = True,
                adapted_samples: Optional[int] = None) -> Tuple[Tensor, ...]:
        """Args:
            x (Tensor): (N, 3, H, W) images, H and W divisible by 32.
            use_adapters (bool): False runs the plain trunk (the frozen SAM2
                encoder), e.g. as STSF-Net's prior generator. Defaults to True.
            adapted_samples (int, optional): With adapters, apply them to the
                first ``adapted_samples`` images only; the others take the
                plain trunk. One call then gives both (the trunk's blocks see
                one bigger batch, which runs faster than two calls). None
                adapts all N. Defaults to None.

        Returns:
            tuple[Tensor]: One (N, C_i, H / 2^(i+2), W / 2^(i+2)) map per
            ``out_indices`` entry.
        """
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f'HieraAdapter needs H and W divisible by 32, got '
                             f'{h}x{w}: pad or resize the input (e.g. '
                             f'{-(-h // 32) * 32}x{-(-w // 32) * 32}).')
        x = self.trunk.patch_embed(x)  # N, H/4, W/4, C
        x = self.trunk._pos_embed(x)
        adapted = 0 if not use_adapters else x.shape[0] if adapted_samples is None else \
            adapted_samples
        wanted = {self.stage_ends[i]: i for i in self.out_indices}
        outs = {}
        for i in range(self.num_blocks):
            if self.with_cp and self.training and torch.is_grad_enabled():
                x = cp.checkpoint(self._unit, i, x, adapted, use_reentrant=False)
            else:
                x = self._unit(i, x, adapted)
            if i in wanted:
                outs[wanted[i]] = x.permute(0, 3, 1, 2).contiguous()
        return tuple(outs[i] for i in self.out_indices)


class HieraTrunkView(nn.Module):
    """The frozen SAM2 trunk of a :class:`HieraAdapter`, run without adapters.

    It shares the encoder's weights without registering them a second time
    (no parameters, nothing in the state dict), so a prior generator built on
    it costs no memory and the model holds one copy of the SAM2 trunk, as the
    parameter count of STSF-Net's Table IX implies.

    Args:
        encoder (HieraAdapter): Encoder with a frozen trunk.
    """

    def __init__(self, encoder: 'HieraAdapter'):
        super().__init__()
        if not encoder.freeze_trunk:
            raise ValueError('HieraTrunkView needs a frozen trunk (freeze_trunk=True): '
                             'priors must come from the fixed pretrained weights')
        self._encoder = (encoder, )  # a tuple: not registered as a submodule

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        return self._encoder[0](x, use_adapters=False)


def adapter_param_count(arch: str, adapter_hidden: int = 64,
                        adapter_ratio: Optional[float] = None) -> int:
    """Adapter parameters of a full (4-stage) :class:`HieraAdapter`, by formula.

    Sum over blocks of ``2 * C * h + h + C`` with C the block's input width
    and h its bottleneck width. Hiera-S with h = 64: 719,296.
    """
    spec = HIERA_ARCHS[arch]
    # block input widths: the first block of stage s > 0 still gets the
    # previous stage's width (it projects to the new one)
    dims, dim = [], spec['embed_dim']
    for s, n in enumerate(spec['stages']):
        for b in range(n):
            dims.append(dim // 2 if (s > 0 and b == 0) else dim)
        dim *= 2
    total = 0
    for c in dims:
        h = max(1, int(round(c * adapter_ratio))) if adapter_ratio is not None \
            else adapter_hidden
        total += 2 * c * h + h + c
    return total
