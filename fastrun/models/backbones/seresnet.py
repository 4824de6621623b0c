"""``SEResNet`` and ``SEResNeXt``: bottlenecks with squeeze-excitation (mmcls 0.x's, same keys).

Each bottleneck has an ``se_layer`` (``se_layer.conv1.conv.weight``, ...) applied to the
residual branch after ``bn3``.
"""
from ...registry import MODELS
from .resnet import Bottleneck, ResLayer, ResNet

__all__ = ['SEResNeXt', 'SEResNet']

_SE_ARCH = {
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


@MODELS.register_module()
class SEResNet(ResNet):
    """SE-ResNet, depth 50, 101 or 152; ``se_ratio`` (16) is the squeeze ratio. The other
    arguments are :class:`ResNet`'s."""

    arch_settings = _SE_ARCH

    def __init__(self, depth, se_ratio=16, **kwargs):
        self.se_ratio = se_ratio
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs):
        return ResLayer(se_ratio=self.se_ratio, **kwargs)


@MODELS.register_module()
class SEResNeXt(SEResNet):
    """SE-ResNeXt: :class:`SEResNet` with ``groups`` (32) x ``width_per_group`` (4) grouped
    3x3 convolutions."""

    def __init__(self, depth, groups=32, width_per_group=4, **kwargs):
        self.groups, self.width_per_group = groups, width_per_group
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs):
        return ResLayer(se_ratio=self.se_ratio, groups=self.groups,
                        width_per_group=self.width_per_group, base_channels=self.base_channels,
                        **kwargs)
