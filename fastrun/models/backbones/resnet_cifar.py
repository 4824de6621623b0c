"""``ResNet_CIFAR``: ResNet with a 3x3 stride-1 stem and no max pool (mmcls 0.x's, same keys)."""
import torch.nn as nn

from ...registry import MODELS
from ..layers import build_conv_layer, build_norm_layer
from .resnet import ResNet

__all__ = ['ResNet_CIFAR']


@MODELS.register_module()
class ResNet_CIFAR(ResNet):  # noqa: N801 (mmcls's name)
    """ResNet for 32x32 images: the stem is one 3x3 stride-1 conv (``conv1``, ``bn1``) and
    there is no max pool, so ``layer1`` sees the full resolution. ``deep_stem`` is refused;
    the other arguments are :class:`ResNet`'s."""

    def __init__(self, depth, deep_stem=False, **kwargs):
        if deep_stem:
            raise ValueError('ResNet_CIFAR: deep_stem is not supported (argument "deep_stem")')
        super().__init__(depth, deep_stem=False, **kwargs)

    def _make_stem_layer(self, in_channels, base_channels):
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, base_channels, kernel_size=3,
                                      stride=1, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, base_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def _stem_forward(self, x):
        return self.relu(self.norm1(self.conv1(x)))
