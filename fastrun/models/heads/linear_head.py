"""``LinearClsHead`` and ``StackedLinearClsHead`` (mmcls 0.x)."""
from collections.abc import Sequence

import torch.nn as nn

from ...registry import MODELS
from ..base import BaseModule, ModuleList
from ..layers import build_activation_layer, build_norm_layer
from .cls_head import ClsHead, check_num_classes

__all__ = ['LinearBlock', 'LinearClsHead', 'StackedLinearClsHead']


@MODELS.register_module()
class LinearClsHead(ClsHead):
    """One linear layer ``fc`` on the (last) feature (N, in_channels).

    State dict: ``fc.weight``, ``fc.bias``. ``init_cfg`` defaults to ``Normal(std=0.01)`` on
    Linear layers, as mmcls. Other arguments are :class:`ClsHead`'s.
    """

    def __init__(self, num_classes, in_channels,
                 init_cfg=dict(type='Normal', layer='Linear', std=0.01), *args, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        check_num_classes(type(self).__name__, num_classes, in_channels)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self._check_topk()
        self.fc = nn.Linear(self.in_channels, self.num_classes)

    def pre_logits(self, x):
        """The feature the classifier uses: the last one when a backbone returns a tuple."""
        return x[-1] if isinstance(x, (tuple, list)) else x

    def forward(self, x):
        """Logits (N, num_classes)."""
        return self.fc(self.pre_logits(x))


class LinearBlock(BaseModule):
    """``fc`` then the optional ``norm``, ``act`` and ``dropout`` (keys as mmcls's)."""

    def __init__(self, in_channels, out_channels, dropout_rate=0., norm_cfg=None, act_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(in_channels, out_channels)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg is not None else None
        self.act = build_activation_layer(act_cfg) if act_cfg is not None else None
        self.dropout = nn.Dropout(p=dropout_rate) if dropout_rate > 0 else None

    def forward(self, x):
        x = self.fc(x)
        for layer in (self.norm, self.act, self.dropout):
            if layer is not None:
                x = layer(x)
        return x


@MODELS.register_module()
class StackedLinearClsHead(ClsHead):
    """Hidden linear blocks of ``mid_channels`` (each fc, ``norm_cfg``, ``act_cfg``, dropout
    ``dropout_rate``), then a plain linear block to ``num_classes``.

    State dict: ``layers.<i>.fc.*`` (and ``layers.<i>.norm.*`` with a norm); the last block is
    also reachable as ``fc``. The layers keep PyTorch's default initialisation unless
    ``init_cfg`` says otherwise (mmcls ignores a given ``init_cfg`` here; fastrun applies it).
    """

    def __init__(self, num_classes, in_channels, mid_channels, dropout_rate=0., norm_cfg=None,
                 act_cfg=dict(type='ReLU'), **kwargs):
        super().__init__(**kwargs)
        check_num_classes(type(self).__name__, num_classes, in_channels)
        if isinstance(mid_channels, (str, bytes)) or not isinstance(mid_channels, Sequence) \
                or not mid_channels:
            raise TypeError(f'StackedLinearClsHead: mid_channels must be a non-empty sequence '
                            f'of ints, got {mid_channels!r}')
        if not 0 <= dropout_rate < 1:
            raise ValueError(f'StackedLinearClsHead: dropout_rate must be in [0, 1), '
                             f'got {dropout_rate!r}')
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.mid_channels = mid_channels
        self.dropout_rate = dropout_rate
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self._check_topk()
        self._init_layers()

    def _init_layers(self):
        self.layers = ModuleList()
        width = self.in_channels
        for hidden in self.mid_channels:
            self.layers.append(LinearBlock(width, hidden, dropout_rate=self.dropout_rate,
                                           norm_cfg=self.norm_cfg, act_cfg=self.act_cfg))
            width = hidden
        self.layers.append(LinearBlock(width, self.num_classes))

    @property
    def fc(self):
        """The last (classifying) block."""
        return self.layers[-1]

    def pre_logits(self, x):
        """The output of the hidden blocks."""
        if isinstance(x, tuple):
            x = x[-1]
        for layer in self.layers[:-1]:
            x = layer(x)
        return x

    def forward(self, x):
        """Logits (N, num_classes)."""
        return self.fc(self.pre_logits(x))
