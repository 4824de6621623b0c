"""Convolution and padding layers by config, and ``ConvModule`` (conv / norm / activation)."""
import inspect
import warnings

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...registry import CONV_LAYERS, PADDING_LAYERS
from .activation import build_activation_layer
from .norm import build_norm_layer
from .weight_init import constant_init, kaiming_init

__all__ = ['ConvModule', 'build_conv_layer', 'build_padding_layer']

CONV_LAYERS.register_module('Conv1d', module=nn.Conv1d)
CONV_LAYERS.register_module(['Conv2d', 'Conv'], module=nn.Conv2d)
CONV_LAYERS.register_module('Conv3d', module=nn.Conv3d)
PADDING_LAYERS.register_module('zero', module=nn.ZeroPad2d)
PADDING_LAYERS.register_module('reflect', module=nn.ReflectionPad2d)
PADDING_LAYERS.register_module('replicate', module=nn.ReplicationPad2d)


def _layer_class(cfg, registry, what, default=None):
    if cfg is None:
        if default is None:
            raise TypeError(f'{what} cfg must be a dict, got None')
        cfg = dict(type=default)
    if not isinstance(cfg, dict):
        raise TypeError(f'{what} cfg must be a dict, got {type(cfg).__name__}')
    if 'type' not in cfg:
        raise KeyError(f'{what} cfg must contain the key "type", got {cfg}')
    args = dict(cfg)
    kind = args.pop('type')
    cls = kind if inspect.isclass(kind) else registry.get(kind)
    if cls is None:
        close = registry.closest(kind)
        hint = f'; did you mean {", ".join(map(repr, close))}?' if close else ''
        raise KeyError(f'Unrecognized {what} type {kind!r}{hint}')
    return cls, args


def build_conv_layer(cfg, *args, **kwargs):
    """A convolution from ``cfg`` (None means ``Conv2d``) and the layer's own arguments."""
    cls, cfg_args = _layer_class(cfg, CONV_LAYERS, 'conv', default='Conv2d')
    return cls(*args, **kwargs, **cfg_args)


def build_padding_layer(cfg, *args, **kwargs):
    """A padding layer (``zero``, ``reflect``, ``replicate``) with the padding as arguments."""
    cls, cfg_args = _layer_class(cfg, PADDING_LAYERS, 'padding')
    return cls(*args, **kwargs, **cfg_args)


# Activations that take no ``inplace`` argument.
_NO_INPLACE = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU')


class ConvModule(nn.Module):
    """A convolution followed (by default) by a norm layer and an activation, in ``order``.

    mmcv's ``ConvModule``: submodules ``conv``, the norm under its abbreviation (``bn``, ``gn``,
    ...) and ``activate``, so state_dict keys read ``conv.weight``, ``bn.running_mean``.
    ``bias='auto'`` gives the convolution a bias only without a norm layer. Padding modes other
    than ``zeros`` and ``circular`` pad with a ``padding_layer`` before the convolution.
    ``forward(x, activate=True, norm=True)`` can skip the last two.
    """

    _abbr_ = 'conv_block'

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias='auto', conv_cfg=None, norm_cfg=None, act_cfg=dict(type='ReLU'),
                 inplace=True, with_spectral_norm=False, padding_mode='zeros',
                 order=('conv', 'norm', 'act')):
        super().__init__()
        for name, cfg in (('conv_cfg', conv_cfg), ('norm_cfg', norm_cfg), ('act_cfg', act_cfg)):
            if cfg is not None and not isinstance(cfg, dict):
                raise TypeError(f'{name} must be None or a dict, got {type(cfg).__name__}')
        order = tuple(order)
        if len(order) != 3 or set(order) != {'conv', 'norm', 'act'}:
            raise ValueError(f"order must be a permutation of ('conv', 'norm', 'act'), got {order}")
        if bias != 'auto' and not isinstance(bias, bool):
            raise TypeError(f"bias must be 'auto' or a bool, got {bias!r}")
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.inplace = inplace
        self.with_spectral_norm = with_spectral_norm
        self.with_explicit_padding = padding_mode not in ('zeros', 'circular')
        self.order = order
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.with_bias = (not self.with_norm) if bias == 'auto' else bias

        if self.with_explicit_padding:
            self.padding_layer = build_padding_layer(dict(type=padding_mode), padding)
        conv_padding = 0 if self.with_explicit_padding else padding
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size,
                                     stride=stride, padding=conv_padding, dilation=dilation,
                                     groups=groups, bias=self.with_bias)
        if not self.with_explicit_padding and padding_mode == 'circular':
            self.conv.padding_mode = 'circular'
        self.in_channels, self.out_channels = self.conv.in_channels, self.conv.out_channels
        self.kernel_size, self.stride = self.conv.kernel_size, self.conv.stride
        self.padding, self.dilation = padding, self.conv.dilation
        self.transposed, self.output_padding = self.conv.transposed, self.conv.output_padding
        self.groups = self.conv.groups
        if self.with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)

        if self.with_norm:
            channels = out_channels if order.index('norm') > order.index('conv') else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, channels)
            self.add_module(self.norm_name, norm)
            if self.with_bias and isinstance(norm, (_BatchNorm, _InstanceNorm)):
                warnings.warn('Unnecessary conv bias before batch/instance norm')
        else:
            self.norm_name = None

        if self.with_activation:
            act_cfg_ = dict(act_cfg)
            if act_cfg_.get('type') not in _NO_INPLACE:
                act_cfg_.setdefault('inplace', inplace)
            self.activate = build_activation_layer(act_cfg_)

        self.init_weights()

    @property
    def norm(self):
        """The norm layer, or None."""
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self):
        """Kaiming (fan_out) for the conv unless it has its own ``init_weights``; norm to 1, 0."""
        if not hasattr(self.conv, 'init_weights'):
            if self.with_activation and self.act_cfg['type'] == 'LeakyReLU':
                nonlinearity, a = 'leaky_relu', self.act_cfg.get('negative_slope', 0.01)
            else:
                nonlinearity, a = 'relu', 0
            kaiming_init(self.conv, a=a, nonlinearity=nonlinearity)
        if self.with_norm:
            constant_init(self.norm, 1, bias=0)

    def forward(self, x, activate=True, norm=True):
        for layer in self.order:
            if layer == 'conv':
                if self.with_explicit_padding:
                    x = self.padding_layer(x)
                x = self.conv(x)
            elif layer == 'norm' and norm and self.with_norm:
                x = self.norm(x)
            elif layer == 'act' and activate and self.with_activation:
                x = self.activate(x)
        return x
