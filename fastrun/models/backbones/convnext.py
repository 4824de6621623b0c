"""``ConvNeXt`` and ``LayerNorm2d`` (norm type ``LN2d``) with mmcls 0.x's arguments and keys."""
from collections.abc import Sequence
from itertools import chain

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import MODELS, NORM_LAYERS
from ..base import BaseModule, ModuleList
from ..base import Sequential as _Sequential
from ..layers import DropPath, build_activation_layer, build_norm_layer
from .vision_transformer import _checkpointed

__all__ = ['ConvNeXt', 'ConvNeXtBlock', 'LayerNorm2d']


@NORM_LAYERS.register_module('LN2d')
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W) maps."""

    def __init__(self, num_channels, **kwargs):
        super().__init__(num_channels, **kwargs)
        self.num_channels = self.normalized_shape[0]

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d needs (N, C, H, W) input, got shape {tuple(x.shape)}')
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


class ConvNeXtBlock(BaseModule):
    """7x7 depth-wise conv, norm, pointwise expansion (``mlp_ratio``), activation, projection,
    layer scale ``gamma``, then the residual (with stochastic depth).

    Keys ``depthwise_conv``, ``norm``, ``pointwise_conv1``, ``pointwise_conv2``, ``gamma``.
    ``linear_pw_conv`` does the pointwise layers as Linear on channels-last tensors (mmcls's
    default); otherwise as 1x1 convolutions.
    """

    def __init__(self, in_channels, norm_cfg=dict(type='LN2d', eps=1e-6),
                 act_cfg=dict(type='GELU'), mlp_ratio=4., linear_pw_conv=True, drop_path_rate=0.,
                 layer_scale_init_value=1e-6, with_cp=False):
        super().__init__()
        self.with_cp = with_cp
        self.depthwise_conv = nn.Conv2d(in_channels, in_channels, kernel_size=7, padding=3,
                                        groups=in_channels)
        self.linear_pw_conv = linear_pw_conv
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        mid_channels = int(mlp_ratio * in_channels)
        if linear_pw_conv:
            self.pointwise_conv1 = nn.Linear(in_channels, mid_channels)
            self.pointwise_conv2 = nn.Linear(mid_channels, in_channels)
        else:
            self.pointwise_conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1)
            self.pointwise_conv2 = nn.Conv2d(mid_channels, in_channels, kernel_size=1)
        self.act = build_activation_layer(act_cfg)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(in_channels)) \
            if layer_scale_init_value > 0 else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0. else nn.Identity()

    def _inner_forward(self, x):
        shortcut = x
        x = self.norm(self.depthwise_conv(x))
        if self.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)
        x = self.pointwise_conv2(self.act(self.pointwise_conv1(x)))
        if self.linear_pw_conv:
            x = x.permute(0, 3, 1, 2)
        if self.gamma is not None:
            x = x.mul(self.gamma.view(1, -1, 1, 1))
        return shortcut + self.drop_path(x)

    def forward(self, x):
        return _checkpointed(self._inner_forward, x, self.with_cp)


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt (archs tiny, small, base, large, xlarge, or a dict with depths and channels).

    A ``stem_patch_size`` patchify stem, then four stages each led by a LayerNorm2d + 2x2
    stride-2 conv downsample (``downsample_layers.N``) and made of ConvNeXtBlocks
    (``stages.N.M``). Each ``out_indices`` stage is normalised by ``norm{i}``; with
    ``gap_before_final_norm`` (default) it is globally averaged first, giving (B, C).
    ``frozen_stages`` freezes that many leading stages with their downsample layers.
    """

    arch_settings = {
        'tiny': dict(depths=[3, 3, 9, 3], channels=[96, 192, 384, 768]),
        'small': dict(depths=[3, 3, 27, 3], channels=[96, 192, 384, 768]),
        'base': dict(depths=[3, 3, 27, 3], channels=[128, 256, 512, 1024]),
        'large': dict(depths=[3, 3, 27, 3], channels=[192, 384, 768, 1536]),
        'xlarge': dict(depths=[3, 3, 27, 3], channels=[256, 512, 1024, 2048]),
    }

    def __init__(self, arch='tiny', in_channels=3, stem_patch_size=4,
                 norm_cfg=dict(type='LN2d', eps=1e-6), act_cfg=dict(type='GELU'),
                 linear_pw_conv=True, drop_path_rate=0., layer_scale_init_value=1e-6,
                 out_indices=-1, frozen_stages=0, gap_before_final_norm=True, with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f'ConvNeXt: arch {arch!r} is not one of '
                                 f'{sorted(self.arch_settings)}')
            arch = self.arch_settings[arch]
        elif not (isinstance(arch, dict) and 'depths' in arch and 'channels' in arch):
            raise ValueError(f'ConvNeXt: a custom arch must be a dict with "depths" and '
                             f'"channels", got {arch!r}')
        self.depths = arch['depths']
        self.channels = arch['channels']
        if not (isinstance(self.depths, Sequence) and isinstance(self.channels, Sequence)
                and len(self.depths) == len(self.channels)):
            raise ValueError(f'ConvNeXt: depths {self.depths} and channels {self.channels} must '
                             'be sequences of the same length')
        self.num_stages = len(self.depths)
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence):
            raise TypeError(f'ConvNeXt: out_indices must be an int or a sequence, '
                            f'got {type(out_indices).__name__}')
        indices = []
        for index in out_indices:
            i = 4 + index if index < 0 else index  # mmcls counts from 4 stages, as here
            if i < 0:
                raise ValueError(f'ConvNeXt: invalid out_indices entry {index}')
            indices.append(i)
        self.out_indices = indices
        self.frozen_stages = frozen_stages
        self.gap_before_final_norm = gap_before_final_norm

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(self.depths))]
        block_idx = 0
        self.downsample_layers = ModuleList()
        self.downsample_layers.append(nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], kernel_size=stem_patch_size,
                      stride=stem_patch_size),
            build_norm_layer(norm_cfg, self.channels[0])[1]))
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            depth, channels = self.depths[i], self.channels[i]
            if i >= 1:
                self.downsample_layers.append(nn.Sequential(
                    LayerNorm2d(self.channels[i - 1]),
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2)))
            self.stages.append(_Sequential(*[
                ConvNeXtBlock(in_channels=channels, drop_path_rate=dpr[block_idx + j],
                              norm_cfg=norm_cfg, act_cfg=act_cfg, linear_pw_conv=linear_pw_conv,
                              layer_scale_init_value=layer_scale_init_value, with_cp=with_cp)
                for j in range(depth)]))
            block_idx += depth
            if i in self.out_indices:
                self.add_module(f'norm{i}', build_norm_layer(norm_cfg, channels)[1])
        self._freeze_stages()

    def forward(self, x):
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(self.downsample_layers[i](x))
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean([-2, -1], keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x).contiguous())
        return tuple(outs)

    def _freeze_stages(self):
        for i in range(self.frozen_stages):
            self.downsample_layers[i].eval()
            self.stages[i].eval()
            for param in chain(self.downsample_layers[i].parameters(), self.stages[i].parameters()):
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        return self
