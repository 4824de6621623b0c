"""Activation layers by config (mmcv.cnn ``build_activation_layer``)."""
import torch
import torch.nn as nn

from ...registry import ACTIVATION_LAYERS, build_from_cfg

__all__ = ['Clamp', 'HSigmoid', 'Swish', 'build_activation_layer']

for _cls in (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6, nn.ELU, nn.Sigmoid, nn.Tanh,
             nn.GELU, nn.SiLU):
    ACTIVATION_LAYERS.register_module(module=_cls)
ACTIVATION_LAYERS.register_module('HSwish', module=nn.Hardswish)


@ACTIVATION_LAYERS.register_module()
class HSigmoid(nn.Module):
    """``clamp((x + bias) / divisor, min_value, max_value)``; the defaults are torch's hardsigmoid."""

    def __init__(self, bias=3.0, divisor=6.0, min_value=0.0, max_value=1.0):
        super().__init__()
        if divisor == 0:
            raise ValueError('HSigmoid divisor must not be 0')
        self.bias, self.divisor = bias, divisor
        self.min_value, self.max_value = min_value, max_value

    def forward(self, x):
        return ((x + self.bias) / self.divisor).clamp_(self.min_value, self.max_value)


@ACTIVATION_LAYERS.register_module()
class Swish(nn.Module):
    """``x * sigmoid(x)`` (the same function as SiLU; kept under mmcv's name)."""

    def forward(self, x):
        return x * torch.sigmoid(x)


@ACTIVATION_LAYERS.register_module(['Clamp', 'Clip'])
class Clamp(nn.Module):
    """Clamp values into ``[min, max]``."""

    def __init__(self, min=-1.0, max=1.0):  # noqa: A002 (mmcv's argument names)
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x):
        return torch.clamp(x, min=self.min, max=self.max)


def build_activation_layer(cfg):
    """An activation module from ``dict(type='ReLU', inplace=True)`` and the like."""
    return build_from_cfg(cfg, ACTIVATION_LAYERS)
