"""DINOv3 ViT encoder with selectable fine-tuning: the visual backbone of S2M.

S2M ("Masks Can Talk", Sec. 3.2.1, Table 2) builds its Stage-1 change detector
on MC-DiSNet, whose encoder is a DINOv3 ViT (Simeoni et al., 2025) shared by
both dates, and reports two variants: "S2M (DINOv3)" (the encoder trained)
and "S2M (DINOv3+LoRA)" (the encoder frozen, LoRA on q and v with rank 4).
A plain ViT has one resolution; the multi-scale features come from
intermediate blocks (by default the last block of each quarter of the depth,
e.g. blocks 2, 5, 8, 11 of a 12-block ViT), each optionally passed through
the final LayerNorm as DINOv3's ``get_intermediate_layers(norm=True)`` does,
and returned as stride-16 NCHW maps; a neck turns them into a pyramid.

The network is timm's maintained DINOv3 (``vit_<arch>_patch16_dinov3``,
``pretrained=False``; nothing is downloaded). Weights come only from a local
official DINOv3 checkpoint (``dinov3_vit<arch>16_pretrain_lvd1689m-*.pth``),
converted by :func:`convert_dinov3_checkpoint` and loaded strictly.

Fine-tuning modes (``finetune``):

* ``'full'``: every parameter trains (Table 2 "S2M (DINOv3)").
* ``'last_blocks'``: only the last ``trainable_blocks`` blocks (and the
  final norm) train.
* ``'lora'``: the encoder is frozen; LoRA (:mod:`.lora`) of rank
  ``lora_rank`` on the q and v slices of every block's fused qkv layer trains
  (Table 2 "S2M (DINOv3+LoRA)").
* ``'frozen'``: nothing trains.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS
from .lora import add_lora_to_attention

#: DINOv3 ViT/16 variants of timm: arch -> timm model name.
DINOV3_ARCHS: Dict[str, str] = {
    'small': 'vit_small_patch16_dinov3',
    'small_plus': 'vit_small_plus_patch16_dinov3',
    'base': 'vit_base_patch16_dinov3',
    'large': 'vit_large_patch16_dinov3',
    'huge_plus': 'vit_huge_plus_patch16_dinov3',
}
FINETUNE_MODES = ('full', 'last_blocks', 'lora', 'frozen')

DINOV3_DOWNLOAD_HINT = (
    'Request the DINOv3 weights from Meta (https://github.com/facebookresearch/dinov3, '
    "'Pretrained models'), e.g. dinov3_vits16plus_pretrain_lvd1689m-*.pth for "
    "arch='small_plus' or dinov3_vitb16_pretrain_lvd1689m-*.pth for arch='base', "
    "and set the backbone's checkpoint to the local file "
    '(--cfg-options model.backbone.checkpoint=/path/to/file.pth).')


def _unwrap(state_dict: dict) -> dict:
    for key in ('model', 'teacher', 'state_dict'):
        if isinstance(state_dict.get(key), dict):
            state_dict = state_dict[key]
    return {k[len('backbone.'):] if k.startswith('backbone.') else k: v
            for k, v in state_dict.items()}


def convert_dinov3_checkpoint(state_dict: dict, model: nn.Module) -> Dict[str, Tensor]:
    """Convert an official DINOv3 checkpoint to timm's DINOv3 (EVA) keys.

    The released files are plain state dicts of DINOv3's
    ``DinoVisionTransformer``: ``cls_token``, ``storage_tokens``,
    ``mask_token``, ``patch_embed.proj``, ``rope_embed.periods``,
    ``blocks.{i}.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.*, ls2.gamma}``
    (``attn.qkv.bias`` with its ``bias_mask`` buffer) and ``norm``. A
    training checkpoint (``{'teacher': {'backbone.*': ...}}``) is unwrapped
    first. The renaming is timm's own ``eva.checkpoint_filter_fn``:
    ``storage_tokens`` -> ``reg_token``, ``ls{1,2}.gamma`` -> ``gamma_{1,2}``,
    ``qkv.bias`` -> ``q_bias`` / ``v_bias`` (the k part is fixed at 0), and
    the pretraining-only ``mask_token``, ``bias_mask`` and the RoPE periods
    (recomputed by timm) are dropped.

    timm's B/L/H+ models have no qkv bias: the released distilled weights
    hold all-zero biases there. For a model without ``q_bias`` the qkv biases
    are dropped after checking that they are zero, so no weight is lost
    silently.

    Args:
        state_dict (dict): The loaded file.
        model (nn.Module): The timm DINOv3 model the weights are for.

    Returns:
        dict[str, Tensor]: State dict in the model's key layout.

    Raises:
        ValueError: Non-zero qkv biases for a model built without them.
    """
    from timm.models.eva import checkpoint_filter_fn
    state_dict = _unwrap(state_dict)
    model_has_qkv_bias = any(name.endswith('attn.q_bias') for name, _ in model.named_parameters())
    if not model_has_qkv_bias:
        nonzero = [k for k, v in state_dict.items()
                   if k.endswith('attn.qkv.bias') and torch.count_nonzero(v)]
        if nonzero:
            raise ValueError(f'the checkpoint has non-zero qkv biases ({nonzero[:3]}...) but '
                             'the model has none: build the backbone with qkv_bias=True.')
        state_dict = {k: v for k, v in state_dict.items() if not k.endswith('attn.qkv.bias')}
    return checkpoint_filter_fn(state_dict, model)


def load_dinov3_checkpoint(model: nn.Module, path: str) -> None:
    """Load a local official DINOv3 checkpoint into a timm DINOv3 model, strictly.

    Raises:
        FileNotFoundError: ``path`` does not exist (says where to get it).
        RuntimeError: The converted weights do not fit the model (lists the
            missing, unexpected and mis-shaped keys).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'DINOv3 checkpoint not found: {path!r}. '
                                + DINOV3_DOWNLOAD_HINT)
    raw = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(raw, dict):
        raise RuntimeError(f'{path!r} holds a {type(raw).__name__}, not a DINOv3 state dict.')
    weights = convert_dinov3_checkpoint(raw, model)
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    mismatched = [f'{k}: file {tuple(weights[k].shape)} vs model {tuple(v.shape)}'
                  for k, v in own.items() if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or mismatched:
        raise RuntimeError(
            f'{path!r} does not fit this DINOv3 model ({len(model.blocks)} blocks, width '
            f'{model.embed_dim}): {len(missing)} missing keys {missing[:5]}, '
            f'{len(unexpected)} unexpected keys {unexpected[:5]}, shape mismatches '
            f'{mismatched[:3]}. Pick the arch of the file (small, small_plus, base, large, '
            'huge_plus) and qkv_bias to match it.')
    model.load_state_dict(weights, strict=True)


@MODELS.register_module()
class DINOv3ViT(BaseModule):
    """DINOv3 ViT/16 returning intermediate-block feature maps (timm).

    Args:
        arch (str): 'small', 'small_plus', 'base', 'large' or 'huge_plus'.
            Defaults to 'small_plus'.
        checkpoint (str, optional): Local official DINOv3 checkpoint. None
            keeps timm's random init (tests, parameter counts).
            Defaults to None.
        qkv_bias (bool): Build timm's ``_qkvb`` variant with q/v biases
            (for checkpoints whose qkv biases are not zero). Defaults to False.
        arch_overrides (dict, optional): Extra timm arguments on top of
            ``arch`` (``embed_dim``, ``depth``, ``num_heads``...) for reduced
            CPU models; checkpoints fit only the plain archs. Defaults to None.
        out_indices (Sequence[int], optional): Blocks whose outputs are
            returned. None takes the last block of each quarter of the depth.
            Blocks after the last one are removed. Defaults to None.
        norm_intermediates (bool): Apply the final LayerNorm to every output
            (DINOv3's ``get_intermediate_layers(norm=True)``). Defaults to True.
        finetune (str): 'full', 'last_blocks', 'lora' or 'frozen' (module
            docstring). Defaults to 'full'.
        trainable_blocks (int): Blocks trained with 'last_blocks'.
            Defaults to 4.
        lora_rank (int): LoRA rank with 'lora'. Defaults to 4.
        lora_alpha (float, optional): LoRA scale numerator (update scaled by
            ``lora_alpha / lora_rank``). Defaults to None (scale 1).
        drop_path_rate (float): Stochastic depth. Defaults to 0.0.
        with_cp (bool): Gradient checkpointing of the blocks. Defaults to False.
        init_cfg (dict, optional): mmengine init config; :meth:`init_weights`
            loads the checkpoint again afterwards. Defaults to None.
    """

    def __init__(self,
                 arch: str = 'small_plus',
                 checkpoint: Optional[str] = None,
                 qkv_bias: bool = False,
                 arch_overrides: Optional[dict] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 norm_intermediates: bool = True,
                 finetune: str = 'full',
                 trainable_blocks: int = 4,
                 lora_rank: int = 4,
                 lora_alpha: Optional[float] = None,
                 drop_path_rate: float = 0.0,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if arch not in DINOV3_ARCHS:
            raise ValueError(f'arch must be one of {sorted(DINOV3_ARCHS)}, got {arch!r}')
        if finetune not in FINETUNE_MODES:
            raise ValueError(f'finetune must be one of {FINETUNE_MODES}, got {finetune!r}')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'DINOv3 checkpoint not found: {checkpoint!r}. '
                                    + DINOV3_DOWNLOAD_HINT)
        import timm
        self.checkpoint = checkpoint
        self.finetune = finetune
        self.norm_intermediates = norm_intermediates
        name = DINOV3_ARCHS[arch] + ('_qkvb' if qkv_bias else '')
        self.vit = timm.create_model(name, pretrained=False, num_classes=0,
                                     drop_path_rate=drop_path_rate, **(arch_overrides or {}))
        depth = len(self.vit.blocks)
        if out_indices is None:
            out_indices = [depth * (q + 1) // 4 - 1 for q in range(4)]
        self.out_indices = tuple(int(i) for i in out_indices)
        if not self.out_indices or any(i not in range(depth) for i in self.out_indices):
            raise ValueError(f'out_indices must be block indices in 0..{depth - 1}, '
                             f'got {self.out_indices}')
        if finetune == 'last_blocks' and not 0 < trainable_blocks <= depth:
            raise ValueError(f'trainable_blocks must be in 1..{depth}, got {trainable_blocks}')
        self.trainable_blocks = trainable_blocks
        self.embed_dim = self.vit.embed_dim
        self.patch_size = self.vit.patch_embed.patch_size[0]
        if checkpoint is not None:
            load_dinov3_checkpoint(self.vit, checkpoint)
        self.vit.prune_intermediate_layers(list(self.out_indices),
                                           prune_norm=not norm_intermediates)
        self.vit.set_grad_checkpointing(with_cp)
        if finetune == 'lora':
            for block in self.vit.blocks:
                add_lora_to_attention(block.attn, lora_rank, lora_alpha)
        self._set_trainable()

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return (self.embed_dim, ) * len(self.out_indices)

    def _set_trainable(self) -> None:
        if self.finetune == 'full':
            return
        self.vit.requires_grad_(False)
        if self.finetune == 'last_blocks':
            first = len(self.vit.blocks) - self.trainable_blocks
            for block in self.vit.blocks[first:]:
                block.requires_grad_(True)
            self.vit.norm.requires_grad_(True)
        elif self.finetune == 'lora':
            for name, param in self.vit.named_parameters():
                param.requires_grad = '.lora_' in name

    def init_weights(self) -> None:
        """mmengine's initialisation, then the DINOv3 weights again and LoRA reset.

        mmengine's ``init_weights`` calls timm's ``Eva.init_weights``, which
        re-draws every weight at random (as would an enclosing model's
        ``init_cfg``); the checkpoint is therefore loaded again afterwards and
        the LoRA ``B`` matrices are zeroed, so the initialised model is the
        pretrained DINOv3.
        """
        if self._is_init:
            return super().init_weights()  # mmengine's "called twice" warning
        super().init_weights()
        if self.checkpoint is not None:
            raw = torch.load(self.checkpoint, map_location='cpu', weights_only=True)
            # blocks after the last output were pruned; LoRA adds keys: not strict
            self.vit.load_state_dict(convert_dinov3_checkpoint(raw, self.vit), strict=False)
        for module in self.vit.modules():
            if hasattr(module, 'reset_lora_parameters'):
                module.reset_lora_parameters()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Args:
            x (Tensor): (N, 3, H, W), H and W multiples of the patch size (16).

        Returns:
            tuple[Tensor]: One (N, D, H/16, W/16) map per ``out_indices`` entry.
        """
        h, w = x.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            p = self.patch_size
            raise ValueError(f'DINOv3ViT needs H and W divisible by {p}, got {h}x{w}: pad or '
                             f'resize (e.g. size_divisor={p} in the data preprocessor).')
        return tuple(self.vit.forward_intermediates(
            x, indices=list(self.out_indices), norm=self.norm_intermediates,
            stop_early=True, intermediates_only=True))
