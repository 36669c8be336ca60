from .dinov3_vit import DINOv3ViT, convert_dinov3_checkpoint
from .hiera_adapter import (BottleneckAdapter, HieraAdapter, adapter_param_count,
                            convert_sam2_checkpoint, load_sam2_trunk)
from .lora import LoRAQKVLinear
from .resnet_with_stem import (ResNetWithStem, convert_torchvision_resnet,
                               load_torchvision_resnet)
from .sdpa_swin import SDPASwinTransformer
from .semantic_prior_generator import SemanticPriorGenerator

__all__ = ['HieraAdapter', 'BottleneckAdapter', 'SemanticPriorGenerator',
           'convert_sam2_checkpoint', 'load_sam2_trunk', 'adapter_param_count',
           'ResNetWithStem', 'convert_torchvision_resnet', 'load_torchvision_resnet',
           'DINOv3ViT', 'convert_dinov3_checkpoint', 'LoRAQKVLinear', 'SDPASwinTransformer']
