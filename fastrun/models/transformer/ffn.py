"""The transformer feed-forward block (mmcv's ``FFN``, its state_dict keys included)."""
import warnings

import torch.nn as nn

from ..base import BaseModule, Sequential
from ..layers import build_activation_layer, build_dropout

__all__ = ['FFN']

_RENAMED = {'dropout': 'ffn_drop', 'add_residual': 'add_identity'}  # mmcv's deprecated names


class FFN(BaseModule):
    """``num_fcs`` Linear layers with an activation between, plus the identity by default.

    Keys as mmcv: for two layers ``layers.0.0`` (in -> hidden, followed by the activation and
    ``ffn_drop``) and ``layers.1`` (hidden -> in, then ``ffn_drop`` as ``layers.2``).
    ``dropout_layer`` (e.g. ``dict(type='DropPath', drop_prob=0.1)``) drops the branch before
    the identity is added; ``forward(x, identity=None)`` adds ``identity`` (default ``x``).
    """

    def __init__(self, embed_dims=256, feedforward_channels=1024, num_fcs=2,
                 act_cfg=dict(type='ReLU', inplace=True), ffn_drop=0., dropout_layer=None,
                 add_identity=True, init_cfg=None, **kwargs):
        for old, new in _RENAMED.items():
            if old in kwargs:
                warnings.warn(f'FFN: "{old}" is deprecated, use "{new}"', DeprecationWarning)
                if new == 'ffn_drop':
                    ffn_drop = kwargs.pop(old)
                else:
                    add_identity = kwargs.pop(old)
        if kwargs:
            raise TypeError(f'FFN got unexpected arguments {sorted(kwargs)}')
        super().__init__(init_cfg)
        if num_fcs < 2:
            raise ValueError(f'FFN needs num_fcs >= 2, got {num_fcs}')
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.num_fcs = num_fcs
        self.act_cfg = act_cfg
        self.activate = build_activation_layer(act_cfg)
        layers = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(Sequential(nn.Linear(in_channels, feedforward_channels), self.activate,
                                     nn.Dropout(ffn_drop)))
            in_channels = feedforward_channels
        layers.append(nn.Linear(feedforward_channels, embed_dims))
        layers.append(nn.Dropout(ffn_drop))
        self.layers = Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer) if dropout_layer else nn.Identity()
        self.add_identity = add_identity

    def forward(self, x, identity=None):
        out = self.dropout_layer(self.layers(x))
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out
