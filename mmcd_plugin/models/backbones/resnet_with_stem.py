"""mmseg's ResNet that also returns its stem feature, with torchvision weights.

LSAFNet (Zhou et al., "A Late-Stage Bitemporal Feature Fusion Network for
Semantic Change Detection", Sec. II-A) takes five features from a ResNet-34:
F_L, F_M, F_1, F_2, F_3 with 64, 64, 128, 256 and 512 channels. The authors'
code (github STORMTROOPERRR/RSISCD, ``models/SCD.py``) reads them from
torchvision's ResNet-34: F_L is the stem output (conv1-bn-relu, stride 2,
before max-pooling), F_M .. F_3 are layer1 .. layer4, with the stride of
layer3 and layer4 set to 1 (output stride 8, no dilation). mmseg's ``ResNet``
builds the same network (``strides=(1, 2, 1, 1)``) but returns only the
residual stages; :class:`ResNetWithStem` adds the stem feature in front.

mmseg's ResNet (``deep_stem=False``) has exactly torchvision's parameter names
(``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``, ...), so a
torchvision ImageNet checkpoint (e.g. ``resnet34-b627a593.pth``) converts by
dropping the classifier (:func:`convert_torchvision_resnet`) and loads
strictly (:func:`load_torchvision_resnet`). Nothing is downloaded.
"""
import os.path as osp
from typing import Dict, Optional, Tuple

import torch
from mmseg.models.backbones import ResNet
from torch import Tensor, nn

from mmcd_plugin.registry import MODELS
from .hiera_adapter import _list_keys

TORCHVISION_HINT = (
    'Expected a torchvision ImageNet ResNet checkpoint, e.g. resnet34-b627a593.pth '
    'from https://download.pytorch.org/models/resnet34-b627a593.pth (the file '
    'torchvision.models.resnet34(weights="IMAGENET1K_V1") downloads), saved locally; '
    'set the backbone checkpoint to its path (--cfg-options model.backbone.checkpoint=...).')

#: Residual blocks per stage of torchvision's ResNets, for error messages.
RESNET_BLOCKS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34}
CLASSIFIER_KEYS = ('fc.weight', 'fc.bias')


def convert_torchvision_resnet(state_dict: dict) -> Dict[str, Tensor]:
    """Convert a torchvision ResNet state dict to mmseg ``ResNet`` keys.

    torchvision's names are mmseg's (``conv1.weight``, ``bn1.running_mean``,
    ``layer3.5.downsample.1.weight``, ...); the conversion unwraps a
    ``{'state_dict': ...}`` / ``{'model': ...}`` container, strips a
    DataParallel ``module.`` prefix and drops the ImageNet classifier
    ``fc.*``, which the backbone has no use for.

    Args:
        state_dict (dict): The loaded file (``torch.load(path,
            weights_only=True)``).

    Returns:
        dict[str, Tensor]: The backbone state dict.

    Raises:
        ValueError: The dict has no torchvision ResNet keys (e.g. an mmseg
            ``ResNetV1c`` file, whose deep stem is ``stem.*``).
    """
    for container in ('state_dict', 'model'):
        if isinstance(state_dict.get(container), dict):
            state_dict = state_dict[container]
    converted = {}
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if key not in CLASSIFIER_KEYS:
            converted[key] = value
    if 'conv1.weight' not in converted or 'layer1.0.conv1.weight' not in converted:
        raise ValueError(
            'not a torchvision ResNet state dict: it lacks conv1.weight / '
            f'layer1.0.conv1.weight (keys {_list_keys(list(converted), limit=5)}). '
            + TORCHVISION_HINT)
    return converted


def _depth_of(state_dict: Dict[str, Tensor]) -> Optional[int]:
    """ResNet depth whose block layout matches a converted BasicBlock dict."""
    if any('.conv3.' in key for key in state_dict):
        return None  # bottleneck ResNet-50/101/152
    blocks = tuple(len({key.split('.')[1] for key in state_dict
                        if key.startswith(f'layer{stage}.')}) for stage in (1, 2, 3, 4))
    return RESNET_BLOCKS.get(blocks)


def load_torchvision_resnet(backbone: nn.Module, path: str) -> None:
    """Load a local torchvision ResNet checkpoint into an mmseg ResNet, strictly.

    Args:
        backbone (nn.Module): mmseg ``ResNet`` (``deep_stem=False``).
        path (str): Local checkpoint file.

    Raises:
        FileNotFoundError: ``path`` does not exist (says where to get it).
        RuntimeError: The keys or shapes differ from the backbone's: names
            the depth the file looks like, then torch's list of them.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'ResNet checkpoint not found: {path!r}. ' + TORCHVISION_HINT)
    raw = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(raw, dict):
        raise RuntimeError(f'{path!r} holds a {type(raw).__name__}, not a state dict. '
                           + TORCHVISION_HINT)
    try:
        state_dict = convert_torchvision_resnet(raw)
    except ValueError as error:
        raise RuntimeError(f'{path!r}: {error}') from error
    try:
        backbone.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        depth = _depth_of(state_dict)
        hint = '' if depth in (None, getattr(backbone, 'depth', depth)) else \
            f' The file looks like ResNet-{depth}: set depth={depth}.'
        raise RuntimeError(f'Checkpoint {path!r} does not match the backbone.{hint} '
                           f'{TORCHVISION_HINT}\n{error}') from error


@MODELS.register_module()
class ResNetWithStem(ResNet):
    """mmseg ``ResNet`` returning the stem feature before the stage outputs.

    For LSAFNet's ResNet-34 (``depth=34, strides=(1, 2, 1, 1)``) the outputs
    are F_L (stem, 64 ch, stride 2), F_M (layer1, 64, stride 4), F_1
    (layer2, 128, stride 8), F_2 (layer3, 256, stride 8), F_3 (layer4, 512,
    stride 8). The authors remove the stride of layer3/4 without dilating
    them; ``dilations=(1, 1, 2, 4)`` gives the dilated-ResNet reading of
    output stride 8 with the same weights.

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 34.
        checkpoint (str, optional): Local torchvision ImageNet checkpoint
            (``resnet34-b627a593.pth``), loaded strictly by
            :meth:`init_weights` after mmseg's initialisation. Must exist
            when given. Defaults to None (mmseg's Kaiming initialisation).
        **kwargs: mmseg ``ResNet`` arguments (``strides``, ``dilations``,
            ``out_indices``, ``norm_cfg``, ``stem_channels``,
            ``base_channels``, ...). ``deep_stem`` must stay False (the
            torchvision stem).
    """

    def __init__(self, depth: int = 34, checkpoint: Optional[str] = None, **kwargs):
        if kwargs.get('deep_stem'):
            raise ValueError('ResNetWithStem has the torchvision stem (deep_stem=False)')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'ResNet checkpoint not found: {checkpoint!r}. '
                                    + TORCHVISION_HINT)
        super().__init__(depth, **kwargs)
        self.checkpoint = checkpoint

    def init_weights(self) -> None:
        super().init_weights()
        if self.checkpoint is not None:
            load_torchvision_resnet(self, self.checkpoint)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        stem = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(stem)
        outs = [stem]
        for index, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)
