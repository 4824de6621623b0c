"""Normalisation layers by config (mmcv.cnn ``build_norm_layer``): BN, SyncBN, GN, LN, IN."""
import inspect

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...registry import NORM_LAYERS

__all__ = ['build_norm_layer', 'infer_abbr', 'is_norm']

for _names, _cls in ((('BN', 'BN2d'), nn.BatchNorm2d), ('BN1d', nn.BatchNorm1d),
                     ('BN3d', nn.BatchNorm3d), ('SyncBN', nn.SyncBatchNorm), ('GN', nn.GroupNorm),
                     ('LN', nn.LayerNorm), (('IN', 'IN2d'), nn.InstanceNorm2d),
                     ('IN1d', nn.InstanceNorm1d), ('IN3d', nn.InstanceNorm3d)):
    NORM_LAYERS.register_module(list(_names) if isinstance(_names, tuple) else _names, module=_cls)


def infer_abbr(class_type):
    """The short name a norm layer is stored under: ``bn``, ``gn``, ``ln``, ``in`` or ``norm_layer``.

    A class attribute ``_abbr_`` wins; then the torch base class; then words in the class name.
    The name (with ``build_norm_layer``'s postfix) is the state_dict key: ``bn1.weight``.
    """
    if not inspect.isclass(class_type):
        raise TypeError(f'class_type must be a type, but got {type(class_type).__name__}')
    if hasattr(class_type, '_abbr_'):
        return class_type._abbr_
    if issubclass(class_type, _InstanceNorm):  # before _BatchNorm: IN was one in old torch
        return 'in'
    if issubclass(class_type, _BatchNorm):
        return 'bn'
    if issubclass(class_type, nn.GroupNorm):
        return 'gn'
    if issubclass(class_type, nn.LayerNorm):
        return 'ln'
    name = class_type.__name__.lower()
    for word, abbr in (('batch', 'bn'), ('group', 'gn'), ('layer', 'ln'), ('instance', 'in')):
        if word in name:
            return abbr
    return 'norm_layer'


def build_norm_layer(cfg, num_features, postfix=''):
    """``(name, layer)`` for a norm config such as ``dict(type='BN', requires_grad=True)``.

    ``name`` is the layer's abbreviation plus ``postfix`` (``'bn1'``); ``requires_grad=False``
    freezes its parameters; ``eps`` defaults to 1e-5. ``GN`` needs ``num_groups`` and takes
    ``num_features`` as its channel count.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'norm_cfg must be a dict, got {type(cfg).__name__}')
    if 'type' not in cfg:
        raise KeyError(f'norm_cfg must contain the key "type", got {cfg}')
    args = dict(cfg)
    layer_type = args.pop('type')
    if inspect.isclass(layer_type):
        norm_cls = layer_type
    else:
        norm_cls = NORM_LAYERS.get(layer_type)
        if norm_cls is None:
            close = NORM_LAYERS.closest(layer_type)
            hint = f'; did you mean {", ".join(map(repr, close))}?' if close else ''
            raise KeyError(f'Unrecognized norm type {layer_type!r}{hint}')
    if not isinstance(postfix, (int, str)):
        raise TypeError(f'postfix must be an int or a str, got {type(postfix).__name__}')
    name = infer_abbr(norm_cls) + str(postfix)
    requires_grad = args.pop('requires_grad', True)
    args.setdefault('eps', 1e-5)
    if issubclass(norm_cls, nn.GroupNorm):
        if 'num_groups' not in args:
            raise KeyError(f'GN norm_cfg needs num_groups, got {cfg}')
        layer = norm_cls(num_channels=num_features, **args)
    else:
        layer = norm_cls(num_features, **args)
    for p in layer.parameters():
        p.requires_grad = requires_grad
    return name, layer


def is_norm(layer, exclude=None):
    """Whether ``layer`` is a batch, group, layer or instance norm (and not of ``exclude``)."""
    if exclude is not None:
        exclude = (exclude,) if not isinstance(exclude, tuple) else exclude
        if not all(inspect.isclass(e) for e in exclude):
            raise TypeError(f'exclude must be a class or a tuple of classes, got {exclude!r}')
        if isinstance(layer, exclude):
            return False
    return isinstance(layer, (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm))
