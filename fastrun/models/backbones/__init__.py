"""Backbones with mmclassification 0.x names, arguments and state_dict keys (and fastrun's small ones)."""
from ..necks import GlobalAveragePooling  # importable from here as before
from .small import MLP, SmallCNN
from .convnext import ConvNeXt  # noqa: I001 (the transformer families, one module each)
from .deit import DistilledVisionTransformer
from .swin_transformer import SwinTransformer
from .swin_transformer_v2 import SwinTransformerV2
from .vision_transformer import VisionTransformer

__all__ = ['GlobalAveragePooling', 'MLP', 'SmallCNN']
__all__ += ['ConvNeXt', 'DistilledVisionTransformer', 'SwinTransformer', 'SwinTransformerV2',
            'VisionTransformer']
