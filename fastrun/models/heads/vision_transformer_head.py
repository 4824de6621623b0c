"""Heads on class tokens: ``VisionTransformerClsHead`` and ``DeiTClsHead`` (mmcls 0.x's)."""
import logging
import math
from collections import OrderedDict

import torch.nn as nn

from ...registry import MODELS
from ..base import Sequential
from ..layers import build_activation_layer, trunc_normal_
from .cls_head import ClsHead, check_num_classes

__all__ = ['DeiTClsHead', 'VisionTransformerClsHead']

_log = logging.getLogger('fastrun')


@MODELS.register_module()
class VisionTransformerClsHead(ClsHead):
    """Classifies the cls token of the last backbone output (``[patch_token, cls_token]``).

    Keys ``layers.head`` and, with ``hidden_dim``, ``layers.pre_logits`` followed by the
    ``act_cfg`` activation (pre-training's extra layer). ``init_cfg`` zeroes the Linear layers by
    default, as mmcls; ``pre_logits`` then gets a LeCun-normal weight. ``loss``, ``topk`` and
    ``cal_acc`` are :class:`ClsHead`'s, and so are ``forward_train`` and ``simple_test``.
    """

    def __init__(self, num_classes, in_channels, hidden_dim=None, act_cfg=dict(type='Tanh'),
                 init_cfg=dict(type='Constant', layer='Linear', val=0), *args, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        check_num_classes(type(self).__name__, num_classes)
        self.in_channels = in_channels
        self.num_classes = int(num_classes)
        self.hidden_dim = hidden_dim
        self.act_cfg = act_cfg
        self._init_layers()

    def _init_layers(self):
        if self.hidden_dim is None:
            layers = [('head', nn.Linear(self.in_channels, self.num_classes))]
        else:
            layers = [('pre_logits', nn.Linear(self.in_channels, self.hidden_dim)),
                      ('act', build_activation_layer(self.act_cfg)),
                      ('head', nn.Linear(self.hidden_dim, self.num_classes))]
        self.layers = Sequential(OrderedDict(layers))

    def init_weights(self):
        super().init_weights()
        if hasattr(self.layers, 'pre_logits'):
            # LeCun normal (ClassyVision's choice, which mmcls follows)
            trunc_normal_(self.layers.pre_logits.weight,
                          std=math.sqrt(1 / self.layers.pre_logits.in_features))
            nn.init.zeros_(self.layers.pre_logits.bias)

    def _tokens(self, x):
        if isinstance(x, tuple):
            x = x[-1]
        if not isinstance(x, (list, tuple)) or len(x) < 2:
            raise TypeError(f'{type(self).__name__} needs the backbone to output '
                            '[patch_token, cls_token, ...] (output_cls_token=True)')
        return x[1:]

    def _pre(self, token):
        if self.hidden_dim is None:
            return token
        return self.layers.act(self.layers.pre_logits(token))

    def pre_logits(self, x):
        """The cls token's feature (after ``pre_logits`` and ``act`` when ``hidden_dim``)."""
        return self._pre(self._tokens(x)[0])

    def forward(self, x):
        """Logits (N, num_classes)."""
        return self.layers.head(self.pre_logits(x))


@MODELS.register_module()
class DeiTClsHead(VisionTransformerClsHead):
    """The mean of ``layers.head`` on the cls token and ``layers.head_dist`` on the dist token.

    For ``DistilledVisionTransformer`` outputs ``[patch_token, cls_token, dist_token]``. As in
    mmcls, training uses the mean score against the labels (no teacher), with a warning.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        width = self.in_channels if self.hidden_dim is None else self.hidden_dim
        self.layers.add_module('head_dist', nn.Linear(width, self.num_classes))

    def pre_logits(self, x):
        """``(cls feature, dist feature)``."""
        tokens = self._tokens(x)
        if len(tokens) < 2:
            raise TypeError('DeiTClsHead needs [patch_token, cls_token, dist_token] outputs '
                            '(DistilledVisionTransformer)')
        return self._pre(tokens[0]), self._pre(tokens[1])

    def forward(self, x):
        cls_token, dist_token = self.pre_logits(x)
        return (self.layers.head(cls_token) + self.layers.head_dist(dist_token)) / 2

    def forward_train(self, x, gt_label, **kwargs):
        if not getattr(self, '_warned', False):
            self._warned = True
            _log.warning('DeiTClsHead trains on the mean of both heads against the labels: '
                         'distillation from a teacher is not implemented (nor in mmcls 0.x)')
        return self.loss(self(x), gt_label, **kwargs)
