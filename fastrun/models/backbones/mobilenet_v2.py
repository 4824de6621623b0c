"""``MobileNetV2`` and its ``InvertedResidual`` block (mmcls 0.x's arguments and keys)."""
import torch.nn as nn

from ...registry import MODELS
from ..base import BaseModule
from ..layers import ConvModule
from ._conv_base import ConvBackbone, checkpointed, freeze, make_divisible

__all__ = ['InvertedResidual', 'MobileNetV2']


class InvertedResidual(BaseModule):
    """1x1 expansion (skipped when ``expand_ratio`` is 1), 3x3 depth-wise conv, linear 1x1
    projection, all in ``conv`` (keys ``conv.0.conv.weight``, ``conv.0.bn.weight``, ...); the
    input is added back when the stride is 1 and the channels match."""

    def __init__(self, in_channels, out_channels, stride, expand_ratio, conv_cfg=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU6'), with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'InvertedResidual: stride must be 1 or 2, got {stride!r}')
        self.stride, self.with_cp = stride, with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        layers = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden, 1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg))
        layers += [ConvModule(hidden, hidden, 3, stride=stride, padding=1, groups=hidden,
                              conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg),
                   ConvModule(hidden, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                              act_cfg=None)]
        self.conv = nn.Sequential(*layers)

    def _inner(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x):
        return checkpointed(self._inner, x, self.with_cp)


@MODELS.register_module()
class MobileNetV2(ConvBackbone):
    """MobileNetV2: ``conv1`` (3x3 stride 2), ``layer1..layer7`` of inverted residuals, ``conv2``
    (1x1 to 1280 channels, more when ``widen_factor`` > 1). Outputs are numbered 0..7
    (``layer1`` .. ``conv2``); ``out_indices=(7,)`` by default.

    mmcls's arguments: ``widen_factor=1.``, ``out_indices``, ``frozen_stages=-1`` (n freezes
    ``conv1`` and ``layer1..n``), ``conv_cfg``, ``norm_cfg=dict(type='BN')``,
    ``act_cfg=dict(type='ReLU6')``, ``norm_eval``, ``with_cp``, ``init_cfg``. ``channels_last``
    is fastrun's. (A frozen ``conv1`` is also kept in eval mode, so its batch-norm statistics
    stay as loaded; mmcls only stops its gradients.)
    """

    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                     [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(self, widen_factor=1., out_indices=(7,), frozen_stages=-1, conv_cfg=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU6'), norm_eval=False,
                 with_cp=False,
                 init_cfg=[dict(type='Kaiming', layer=['Conv2d']),
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])],
                 channels_last=False):
        super().__init__(init_cfg)
        for index in out_indices:
            if index not in range(0, 8):
                raise ValueError(f'MobileNetV2: out_indices items must be in 0..7, got {index!r} '
                                 f'(argument "out_indices")')
        if frozen_stages not in range(-1, 8):
            raise ValueError(f'MobileNetV2: frozen_stages must be in -1..7, got '
                             f'{frozen_stages!r} (argument "frozen_stages")')
        self.widen_factor, self.out_indices = widen_factor, out_indices
        self.frozen_stages, self.conv_cfg, self.norm_cfg = frozen_stages, conv_cfg, norm_cfg
        self.act_cfg, self.norm_eval, self.with_cp = act_cfg, norm_eval, with_cp
        self.in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers = []
        for i, (expand_ratio, channel, num_blocks, stride) in enumerate(self.arch_settings):
            out_channels = make_divisible(channel * widen_factor, 8)
            self.add_module(f'layer{i + 1}', self.make_layer(out_channels, num_blocks, stride,
                                                             expand_ratio))
            self.layers.append(f'layer{i + 1}')
        self.out_channel = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.conv2 = ConvModule(self.in_channels, self.out_channel, 1, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers.append('conv2')
        self._set_channels_last(channels_last)

    def make_layer(self, out_channels, num_blocks, stride, expand_ratio):
        blocks = []
        for i in range(num_blocks):
            blocks.append(InvertedResidual(
                self.in_channels, out_channels, stride if i == 0 else 1, expand_ratio,
                conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.conv1(self._prepare_input(x))
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            freeze(self.conv1)
        for i in range(1, self.frozen_stages + 1):
            freeze(getattr(self, f'layer{i}'))
