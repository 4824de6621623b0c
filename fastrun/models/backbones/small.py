"""Small backbones: ``MLP`` and ``SmallCNN`` (fastrun's own, not mmcls's)."""
import numbers

import torch.nn as nn

from ...registry import MODELS
from ..base import BaseModule

__all__ = ['MLP', 'SmallCNN']


def _positive_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return int(value)


def _positive_ints(name, values):
    values = (values,) if isinstance(values, int) else tuple(values)
    if any(not isinstance(v, numbers.Integral) or v < 1 for v in values):
        raise ValueError(f'{name} must be positive ints, got {values!r}')
    return values


@MODELS.register_module()
class MLP(BaseModule):
    """Linear-ReLU(-Dropout) blocks; input flattened to (N, in_channels) when ``flatten``.

    ``in_channels`` is the flattened input size (64 for 1x8x8 digits). ``out_channels`` is the
    last hidden width (``in_channels`` with no hidden layer).
    """

    def __init__(self, in_channels, hidden_channels=(128,), flatten=True, dropout=0.0,
                 init_cfg=None):
        super().__init__(init_cfg)
        in_channels = _positive_int('in_channels', in_channels)
        hidden_channels = _positive_ints('hidden_channels', hidden_channels)
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must be in [0, 1), got {dropout!r}')
        self.in_channels = in_channels
        self.flatten = bool(flatten)
        layers = []
        c = in_channels
        for h in hidden_channels:
            layers += [nn.Linear(c, h), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            c = h
        self.layers = nn.Sequential(*layers)
        self.out_channels = c

    def forward(self, x):
        """(N, ...) -> (N, out_channels)."""
        if self.flatten:
            x = x.flatten(1)
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            # Shapes are host metadata: checking them costs no device sync.
            raise ValueError(f'MLP expects (N, {self.in_channels}) features'
                             f'{" after flattening" if self.flatten else ""}, got {tuple(x.shape)}')
        return self.layers(x)


@MODELS.register_module()
class SmallCNN(BaseModule):
    """conv3x3-BN-ReLU blocks, 2x2 max-pooling between them, then global average pooling.

    Returns a flat (N, ``out_channels``) feature. ``num_classes_hint`` is recorded only (for
    configs that pass it); the head decides the number of classes.
    """

    def __init__(self, in_channels=1, channels=(32, 64), num_classes_hint=None,
                 init_cfg=(dict(type='Kaiming', layer='Conv2d'),
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']))):
        super().__init__(list(init_cfg) if isinstance(init_cfg, tuple) else init_cfg)
        in_channels = _positive_int('in_channels', in_channels)
        channels = _positive_ints('channels', channels)
        if not channels:
            raise ValueError('channels must name at least one block')
        if num_classes_hint is not None:
            _positive_int('num_classes_hint', num_classes_hint)
        self.in_channels = in_channels
        self.num_classes_hint = num_classes_hint
        layers = []
        c = in_channels
        for i, out in enumerate(channels):
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            if i < len(channels) - 1:
                # ceil_mode keeps a 1x1 map 1x1 instead of failing on tiny inputs.
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c = out
        self.layers = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.out_channels = c

    def forward(self, x):
        """(N, in_channels, H, W) -> (N, out_channels)."""
        return self.gap(self.layers(x)).flatten(1)
