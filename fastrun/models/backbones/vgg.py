"""``VGG`` 11/13/16/19, with or without batch norm (mmcls 0.x's arguments and keys)."""
import warnings

import torch.nn as nn

from ...registry import MODELS
from ..layers import ConvModule
from ._conv_base import ConvBackbone, check_depth, freeze

__all__ = ['VGG']


@MODELS.register_module()
class VGG(ConvBackbone):
    """VGG: stages of 3x3 ConvModules (conv with bias, optional norm, activation), each ended by
    a 2x2 max pool, all in one ``features`` Sequential (keys ``features.0.conv.weight``,
    ``features.1.bn.running_mean`` with BN, ...); with ``num_classes > 0`` the three Linear
    layers of ``classifier`` (for 224x224 input) follow and their scores are the last output.

    mmcls's arguments: ``depth``, ``num_classes=-1``, ``num_stages=5``, ``dilations``,
    ``out_indices`` (default ``(5,)`` with a classifier, else ``(4,)``), ``frozen_stages``,
    ``conv_cfg``, ``norm_cfg=None`` (``dict(type='BN')`` for the ``_bn`` models), ``act_cfg``,
    ``norm_eval``, ``ceil_mode``, ``with_last_pool``, ``init_cfg``. ``channels_last`` is
    fastrun's.
    """

    arch_settings = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3),
                     19: (2, 2, 4, 4, 4)}

    def __init__(self, depth, num_classes=-1, num_stages=5, dilations=(1, 1, 1, 1, 1),
                 out_indices=None, frozen_stages=-1, conv_cfg=None, norm_cfg=None,
                 act_cfg=dict(type='ReLU'), norm_eval=False, ceil_mode=False,
                 with_last_pool=True,
                 init_cfg=[dict(type='Kaiming', layer=['Conv2d']),
                           dict(type='Constant', val=1., layer=['_BatchNorm']),
                           dict(type='Normal', std=0.01, layer=['Linear'])],
                 channels_last=False):
        super().__init__(init_cfg)
        check_depth('VGG', depth, self.arch_settings)
        if not 1 <= num_stages <= 5:
            raise ValueError(f'VGG: num_stages must be in 1..5, got {num_stages!r}')
        if len(dilations) != num_stages:
            raise ValueError(f'VGG: dilations {tuple(dilations)} need one item per stage '
                             f'({num_stages})')
        self.stage_blocks = self.arch_settings[depth][:num_stages]
        self.num_classes, self.frozen_stages, self.norm_eval = num_classes, frozen_stages, norm_eval
        if out_indices is None:
            out_indices = (5,) if num_classes > 0 else (4,)
        if max(out_indices) > num_stages:
            raise ValueError(f'VGG: out_indices {tuple(out_indices)} go past the {num_stages} '
                             f'stages (argument "out_indices")')
        self.out_indices = out_indices
        layers, self.range_sub_modules = [], []
        in_channels = 3
        for i, num_blocks in enumerate(self.stage_blocks):
            out_channels = 64 * 2 ** i if i < 4 else 512
            start = len(layers)
            with warnings.catch_warnings():  # the conv bias before BN is VGG's own
                warnings.filterwarnings('ignore', 'Unnecessary conv bias')
                for _ in range(num_blocks):
                    layers.append(ConvModule(in_channels, out_channels, 3,
                                             dilation=dilations[i], padding=dilations[i],
                                             bias=True, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                             act_cfg=act_cfg))
                    in_channels = out_channels
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
            self.range_sub_modules.append([start, len(layers)])
        if not with_last_pool:
            layers.pop()
            self.range_sub_modules[-1][1] -= 1
        self.module_name = 'features'
        self.features = nn.Sequential(*layers)
        if num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, num_classes))
        self._set_channels_last(channels_last)

    def forward(self, x):
        x = self._prepare_input(x)
        outs = []
        for i, (start, end) in enumerate(self.range_sub_modules):
            for j in range(start, end):
                x = self.features[j](x)
            if i in self.out_indices:
                outs.append(x)
        if self.num_classes > 0:
            outs.append(self.classifier(x.reshape(x.size(0), -1)))
        return tuple(outs)

    def _freeze_stages(self):
        for i in range(self.frozen_stages):
            for j in range(*self.range_sub_modules[i]):
                freeze(self.features[j])
