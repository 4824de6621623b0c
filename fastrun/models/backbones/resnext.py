"""``ResNeXt``: ResNet with grouped 3x3 convolutions in its bottlenecks (mmcls 0.x's, same keys)."""
from ...registry import MODELS
from .resnet import Bottleneck, ResLayer, ResNet

__all__ = ['ResNeXt']


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNeXt, depth 50, 101 or 152: ``groups`` (32) groups of ``width_per_group`` (4)
    channels in each bottleneck's 3x3 conv, scaled per stage by ``base_channels``. The other
    arguments are :class:`ResNet`'s."""

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth, groups=32, width_per_group=4, **kwargs):
        self.groups, self.width_per_group = groups, width_per_group
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs):
        return ResLayer(groups=self.groups, width_per_group=self.width_per_group,
                        base_channels=self.base_channels, **kwargs)
