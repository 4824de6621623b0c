"""What the convolutional backbones share: argument checks, stage freezing, ``norm_eval``,
``channels_last``, gradient checkpointing, ``make_divisible`` and the squeeze-excitation layer."""
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from ..base import BaseModule
from ..layers import ConvModule

__all__ = ['ConvBackbone', 'SELayer', 'checkpointed', 'make_divisible']


def checkpointed(fn, x, with_cp):
    """``fn(x)``, recomputed in backward instead of stored when ``with_cp`` and grads flow."""
    if with_cp and x.requires_grad:
        return cp.checkpoint(fn, x, use_reentrant=False)
    return fn(x)


def make_divisible(value, divisor, min_value=None, min_ratio=0.9):
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, default
    ``divisor``), rounded up instead when that would lose more than ``1 - min_ratio``."""
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value


def check_depth(cls_name, depth, arch_settings):
    """A ``KeyError`` naming the argument when ``depth`` is not one of ``arch_settings``."""
    if depth not in arch_settings:
        raise KeyError(f'{cls_name}: invalid depth {depth!r} (argument "depth"); choose one of '
                       f'{sorted(arch_settings)}')


def check_out_indices(cls_name, out_indices, num_outs):
    """``out_indices`` as a tuple of non-negative ints below ``num_outs`` (negative ones count
    from the end); a ``ValueError`` naming the argument otherwise."""
    if isinstance(out_indices, int):
        out_indices = (out_indices,)
    if not isinstance(out_indices, Sequence) or not all(isinstance(i, int) for i in out_indices):
        raise TypeError(f'{cls_name}: out_indices must be an int or a sequence of ints, '
                        f'got {out_indices!r}')
    result = []
    for i in out_indices:
        j = i + num_outs if i < 0 else i
        if not 0 <= j < num_outs:
            raise ValueError(f'{cls_name}: out_indices item {i} is out of range for {num_outs} '
                             f'outputs (argument "out_indices")')
        result.append(j)
    return tuple(result)


class ConvBackbone(BaseModule):
    """Base of the convolutional backbones.

    ``train(mode)`` re-freezes the frozen stages (``_freeze_stages``, kept in eval mode with
    ``requires_grad=False``) and, with ``norm_eval``, puts every batch norm in eval mode.
    ``channels_last=True`` (fastrun's own option, off by default) stores the weights in the
    channels-last memory format and converts the input to it in :meth:`forward`; the outputs
    are the same numbers, and where the convolution kernels prefer that layout (CUDA with AMP,
    oneDNN on CPU) it is faster.
    """

    norm_eval = False
    channels_last = False

    def _freeze_stages(self):
        pass

    def _set_channels_last(self, channels_last):
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def _prepare_input(self, x):
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def freeze(module):
    """``module`` in eval mode with every parameter's ``requires_grad`` off."""
    module.eval()
    for p in module.parameters():
        p.requires_grad = False


class SELayer(BaseModule):
    """Squeeze and excitation: ``x * act2(conv2(act1(conv1(avgpool(x)))))``.

    mmcls's ``SELayer``: two 1x1 ``ConvModule`` s ``conv1`` and ``conv2`` (keys
    ``conv1.conv.weight``, ``conv1.conv.bias``, ...); ``squeeze_channels`` defaults to
    ``make_divisible(channels // ratio, divisor)``; ``return_weight`` returns the gate alone.
    """

    def __init__(self, channels, squeeze_channels=None, ratio=16, divisor=8, bias='auto',
                 conv_cfg=None, act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')),
                 return_weight=False, init_cfg=None):
        super().__init__(init_cfg)
        if isinstance(act_cfg, dict):
            act_cfg = (act_cfg, act_cfg)
        if len(act_cfg) != 2 or not all(isinstance(c, dict) for c in act_cfg):
            raise TypeError(f'SELayer: act_cfg must be a dict or two dicts, got {act_cfg!r}')
        if squeeze_channels is None:
            squeeze_channels = make_divisible(channels // ratio, divisor)
        if not isinstance(squeeze_channels, int) or squeeze_channels <= 0:
            raise ValueError(f'SELayer: squeeze_channels must be a positive int, '
                             f'got {squeeze_channels!r}')
        self.return_weight = return_weight
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, squeeze_channels, 1, bias=bias, conv_cfg=conv_cfg,
                                act_cfg=act_cfg[0])
        self.conv2 = ConvModule(squeeze_channels, channels, 1, bias=bias, conv_cfg=conv_cfg,
                                act_cfg=act_cfg[1])

    def forward(self, x):
        weight = self.conv2(self.conv1(self.global_avgpool(x)))
        return weight if self.return_weight else x * weight
