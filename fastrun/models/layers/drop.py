"""Stochastic depth (``DropPath``), ``Dropout`` and ``build_dropout`` (mmcv.cnn's)."""
import torch
import torch.nn as nn

from ...registry import DROPOUT_LAYERS, build_from_cfg

__all__ = ['DropPath', 'Dropout', 'build_dropout', 'drop_path']


def drop_path(x, drop_prob=0.0, training=False):
    """Zero whole samples of ``x`` with probability ``drop_prob``, scaling the kept by 1/keep."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per sample, any rank
    mask = (keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
    return x.div(keep_prob) * mask


@DROPOUT_LAYERS.register_module()
class DropPath(nn.Module):
    """Drop residual paths per sample in training (stochastic depth)."""

    def __init__(self, drop_prob=0.1):
        super().__init__()
        if not 0 <= drop_prob < 1:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob!r}')
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self):
        return f'drop_prob={self.drop_prob}'


@DROPOUT_LAYERS.register_module()
class Dropout(nn.Dropout):
    """``nn.Dropout`` spelled with ``drop_prob`` (mmcv's argument name)."""

    def __init__(self, drop_prob=0.5, inplace=False):
        super().__init__(p=drop_prob, inplace=inplace)


def build_dropout(cfg, default_args=None):
    """A dropout layer from ``dict(type='DropPath', drop_prob=...)`` or ``'Dropout'``."""
    return build_from_cfg(cfg, DROPOUT_LAYERS, default_args)
