"""Backbones with mmclassification 0.x names, arguments and state_dict keys (and fastrun's small ones)."""
from ..necks import GlobalAveragePooling  # importable from here as before
from .small import MLP, SmallCNN
from .convnext import ConvNeXt  # noqa: I001 (the transformer families, one module each)
from .deit import DistilledVisionTransformer
from .swin_transformer import SwinTransformer
from .swin_transformer_v2 import SwinTransformerV2
from .vision_transformer import VisionTransformer
from .lenet import LeNet5  # noqa: I001 (the convolutional families, one module each)
from .mobilenet_v2 import MobileNetV2
from .resnet import ResNet, ResNetV1c, ResNetV1d
from .resnet_cifar import ResNet_CIFAR
from .resnext import ResNeXt
from .seresnet import SEResNeXt, SEResNet
from .vgg import VGG

__all__ = ['GlobalAveragePooling', 'MLP', 'SmallCNN']
__all__ += ['ConvNeXt', 'DistilledVisionTransformer', 'SwinTransformer', 'SwinTransformerV2',
            'VisionTransformer']
__all__ += ['LeNet5', 'MobileNetV2', 'ResNeXt', 'ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNet_CIFAR',
            'SEResNeXt', 'SEResNet', 'VGG']
