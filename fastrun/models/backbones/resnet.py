"""``ResNet``, ``ResNetV1c``, ``ResNetV1d`` and their blocks, with mmcls 0.x's arguments and keys.

State-dict keys are mmcls's: ``conv1.weight``/``bn1.*`` (or ``stem.0.conv.weight`` with a deep
stem), ``layer1.0.conv1.weight``, ``layer1.0.bn1.running_mean``, ``layer1.0.downsample.0.weight``
(``downsample.1`` with ``avg_down``), ``layer4.2.conv3.weight``, ...
"""
import torch.nn as nn

from ...registry import MODELS
from ..base import BaseModule
from ..layers import (ConvModule, DropPath, build_activation_layer, build_conv_layer,
                      build_norm_layer, constant_init)
from ._conv_base import ConvBackbone, SELayer, check_depth, check_out_indices, checkpointed, freeze

__all__ = ['BasicBlock', 'Bottleneck', 'ResLayer', 'ResNet', 'ResNetV1c', 'ResNetV1d',
           'get_expansion']

_EPS = 1.0e-5  # drop path rates at or below this build no DropPath (mmcls's)


class _Block(BaseModule):
    """The residual block's shared parts: norm properties, the residual sum and checkpointing."""

    def _drop_path(self, rate):
        return DropPath(drop_prob=rate) if rate > _EPS else nn.Identity()

    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    @property
    def norm2(self):
        return getattr(self, self.norm2_name)

    def forward(self, x):
        def inner(x):
            out = self.drop_path(self._residual(x))
            out += x if self.downsample is None else self.downsample(x)  # in place, as mmcls
            return out

        return self.relu(checkpointed(inner, x, self.with_cp))


class BasicBlock(_Block):
    """Two 3x3 convolutions (keys ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``)."""

    expansion = 1

    def __init__(self, in_channels, out_channels, expansion=1, stride=1, dilation=1,
                 downsample=None, style='pytorch', with_cp=False, conv_cfg=None,
                 norm_cfg=dict(type='BN'), drop_path_rate=0.0,
                 act_cfg=dict(type='ReLU', inplace=True), init_cfg=None):
        super().__init__(init_cfg)
        if expansion != 1:
            raise ValueError(f'BasicBlock: expansion must be 1, got {expansion!r}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.expansion = expansion
        self.mid_channels = out_channels // expansion
        self.stride, self.dilation, self.style = stride, dilation, style
        self.with_cp, self.conv_cfg, self.norm_cfg = with_cp, conv_cfg, norm_cfg
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.mid_channels, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, self.mid_channels, 3, stride=stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, self.mid_channels, out_channels, 3, padding=1,
                                      bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = self._drop_path(drop_path_rate)

    def _residual(self, x):
        out = self.relu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(out))


class Bottleneck(_Block):
    """1x1, 3x3, 1x1 convolutions (keys ``conv1..3``, ``bn1..3``, ``downsample``).

    ``style='pytorch'`` strides in the 3x3 convolution, ``'caffe'`` in the first 1x1. fastrun
    folds mmcls's ResNeXt and SE variants in: ``groups`` > 1 widens the middle to
    ``groups * width_per_group * mid_channels // base_channels`` with a grouped 3x3 conv, and
    ``se_ratio`` adds a squeeze-excitation ``se_layer`` after ``bn3``.
    """

    expansion = 4

    def __init__(self, in_channels, out_channels, expansion=4, stride=1, dilation=1,
                 downsample=None, style='pytorch', with_cp=False, conv_cfg=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU', inplace=True),
                 drop_path_rate=0.0, init_cfg=None, groups=1, width_per_group=4,
                 base_channels=64, se_ratio=None):
        super().__init__(init_cfg)
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"Bottleneck: style must be 'pytorch' or 'caffe', got {style!r}")
        if out_channels % expansion:
            raise ValueError(f'Bottleneck: out_channels {out_channels} is not a multiple of '
                             f'expansion {expansion}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.expansion = expansion
        self.mid_channels = out_channels // expansion
        self.groups, self.width_per_group = groups, width_per_group
        if groups != 1:
            if self.mid_channels % base_channels:
                raise ValueError(f'Bottleneck: {self.mid_channels} middle channels are not a '
                                 f'multiple of base_channels {base_channels}')
            self.mid_channels = groups * width_per_group * self.mid_channels // base_channels
        self.stride, self.dilation, self.style = stride, dilation, style
        self.with_cp, self.conv_cfg, self.norm_cfg = with_cp, conv_cfg, norm_cfg
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)
        mid = self.mid_channels
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, mid, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, mid, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, out_channels, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, mid, kernel_size=1,
                                      stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, mid, mid, kernel_size=3, stride=self.conv2_stride,
                                      padding=dilation, dilation=dilation, groups=groups,
                                      bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, mid, out_channels, kernel_size=1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = self._drop_path(drop_path_rate)
        self.se_layer = SELayer(out_channels, ratio=se_ratio) if se_ratio is not None else None

    @property
    def norm3(self):
        return getattr(self, self.norm3_name)

    def _residual(self, x):
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return out if self.se_layer is None else self.se_layer(out)


def get_expansion(block, expansion=None):
    """``expansion`` if given, else the block class's (1 for BasicBlock, 4 for Bottleneck)."""
    if isinstance(expansion, bool) or not (expansion is None or isinstance(expansion, int)):
        raise TypeError(f'expansion must be an int or None, got {expansion!r}')
    if expansion is not None:
        if expansion <= 0:
            raise ValueError(f'expansion must be positive, got {expansion}')
        return expansion
    if hasattr(block, 'expansion'):
        return block.expansion
    raise TypeError(f'expansion is not specified for {block.__name__}')


class ResLayer(nn.Sequential):
    """One stage: ``num_blocks`` blocks, the first with ``stride`` and the shortcut projection.

    The projection (``downsample``) is a 1x1 conv and a norm; with ``avg_down`` and a stride
    it is an average pool then a stride-1 conv (keys ``downsample.1``, ``downsample.2``).
    """

    def __init__(self, block, num_blocks, in_channels, out_channels, expansion=None, stride=1,
                 avg_down=False, conv_cfg=None, norm_cfg=dict(type='BN'), **kwargs):
        self.block = block
        self.expansion = get_expansion(block, expansion)
        downsample = None
        if stride != 1 or in_channels != out_channels:
            layers, conv_stride = [], stride
            if avg_down and stride != 1:
                conv_stride = 1
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers += [build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size=1,
                                        stride=conv_stride, bias=False),
                       build_norm_layer(norm_cfg, out_channels)[1]]
            downsample = nn.Sequential(*layers)
        blocks = [block(in_channels=in_channels, out_channels=out_channels,
                        expansion=self.expansion, stride=stride, downsample=downsample,
                        conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)]
        blocks += [block(in_channels=out_channels, out_channels=out_channels,
                         expansion=self.expansion, stride=1, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, **kwargs) for _ in range(1, num_blocks)]
        super().__init__(*blocks)


@MODELS.register_module()
class ResNet(ConvBackbone):
    """ResNet (mmcls's ``ResNet``), depth 18, 34, 50, 101 or 152.

    Arguments and defaults are mmcls 0.x's: ``in_channels=3``, ``stem_channels=64``,
    ``base_channels=64``, ``expansion=None`` (the block's), ``num_stages=4``,
    ``strides=(1, 2, 2, 2)``, ``dilations=(1, 1, 1, 1)``, ``out_indices=(3,)`` (negative ones
    count from the last stage), ``style='pytorch'``, ``deep_stem=False`` (three 3x3 ConvModules
    as ``stem``), ``avg_down=False``, ``frozen_stages=-1`` (0 freezes the stem, n also
    ``layer1..n``), ``conv_cfg=None``, ``norm_cfg=dict(type='BN', requires_grad=True)``,
    ``norm_eval=False``, ``with_cp=False``, ``zero_init_residual=True`` (the last norm of each
    block starts at 0, unless ``init_cfg`` is a ``Pretrained``), ``drop_path_rate=0.0`` (the
    same rate in every block, as mmcls), and Kaiming/Constant ``init_cfg``. ``forward``
    returns a tuple of the ``out_indices`` stages' maps. ``channels_last`` is fastrun's
    (see :class:`ConvBackbone`).
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth, in_channels=3, stem_channels=64, base_channels=64, expansion=None,
                 num_stages=4, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1), out_indices=(3,),
                 style='pytorch', deep_stem=False, avg_down=False, frozen_stages=-1,
                 conv_cfg=None, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                 with_cp=False, zero_init_residual=True,
                 init_cfg=[dict(type='Kaiming', layer=['Conv2d']),
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])],
                 drop_path_rate=0.0, channels_last=False):
        super().__init__(init_cfg)
        name = type(self).__name__
        check_depth(name, depth, self.arch_settings)
        if not 1 <= num_stages <= 4:
            raise ValueError(f'{name}: num_stages must be in 1..4, got {num_stages!r}')
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'{name}: strides {tuple(strides)} and dilations '
                             f'{tuple(dilations)} need one item per stage ({num_stages})')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"{name}: style must be 'pytorch' or 'caffe', got {style!r}")
        self.depth, self.stem_channels, self.base_channels = depth, stem_channels, base_channels
        self.num_stages, self.strides, self.dilations = num_stages, strides, dilations
        self.out_indices = check_out_indices(name, out_indices, num_stages)
        self.style, self.deep_stem, self.avg_down = style, deep_stem, avg_down
        self.frozen_stages, self.conv_cfg, self.norm_cfg = frozen_stages, conv_cfg, norm_cfg
        self.with_cp, self.norm_eval = with_cp, norm_eval
        self.zero_init_residual = zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.expansion = get_expansion(self.block, expansion)

        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers = []
        in_ch, out_ch = stem_channels, base_channels * self.expansion
        for i, num_blocks in enumerate(self.stage_blocks):
            res_layer = self.make_res_layer(
                block=self.block, num_blocks=num_blocks, in_channels=in_ch, out_channels=out_ch,
                expansion=self.expansion, stride=strides[i], dilation=dilations[i], style=style,
                avg_down=avg_down, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                drop_path_rate=drop_path_rate)
            in_ch, out_ch = out_ch, out_ch * 2
            self.add_module(f'layer{i + 1}', res_layer)
            self.res_layers.append(f'layer{i + 1}')
        self._freeze_stages()
        self.feat_dim = res_layer[-1].out_channels
        self._set_channels_last(channels_last)

    def make_res_layer(self, **kwargs):
        return ResLayer(**kwargs)

    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels, stem_channels):
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(*[
                ConvModule(cin, cout, kernel_size=3, stride=stride, padding=1,
                           conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, inplace=True)
                for cin, cout, stride in ((in_channels, half, 2), (half, half, 1),
                                          (half, stem_channels, 1))])
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels,
                                          kernel_size=7, stride=2, padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _stem_forward(self, x):
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            if self.deep_stem:
                freeze(self.stem)
            else:
                freeze(self.conv1)
                freeze(self.norm1)
        for i in range(1, self.frozen_stages + 1):
            freeze(getattr(self, f'layer{i}'))

    def init_weights(self):
        was_init = self.is_init
        super().init_weights()
        if was_init:
            return
        if isinstance(self.init_cfg, dict) and self.init_cfg['type'] == 'Pretrained':
            return  # the loaded weights stay as they are
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    constant_init(m.norm3, 0)
                elif isinstance(m, BasicBlock):
                    constant_init(m.norm2, 0)

    def forward(self, x):
        x = self._stem_forward(self._prepare_input(x))
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNet with the deep stem (three 3x3 convs, keys ``stem.*``): mmcls's ``ResNetV1c``."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet with the deep stem and average-pool downsampling: mmcls's ``ResNetV1d``."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
