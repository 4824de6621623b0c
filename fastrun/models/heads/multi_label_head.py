"""Multi-label heads: ``MultiLabelClsHead`` and ``MultiLabelLinearClsHead`` (mmcls 0.x)."""
import logging

import torch
import torch.nn as nn

from ...registry import MODELS, build_from_cfg
from ..base import BaseModule
from .cls_head import check_num_classes, post_process

__all__ = ['MultiLabelClsHead', 'MultiLabelLinearClsHead']

_log = logging.getLogger('fastrun')
_SIGMOID_BCE = dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=1.0)


@MODELS.register_module()
class MultiLabelClsHead(BaseModule):
    """A multi-label head on logits: sigmoid scores, targets (N, C) of 0/1.

    ``forward_train`` gives ``dict(loss=...)`` against ``abs(gt_label)`` (so -1, the "difficult"
    mark of VOC, counts as positive, as mmcls), averaged over samples (``avg_factor=N``: the
    element-wise loss is summed over classes). ``simple_test(x, sigmoid=True, post_process=True)``
    gives per-sample sigmoid scores.
    """

    def __init__(self, loss=_SIGMOID_BCE, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(loss, (dict, nn.Module)):
            raise TypeError(f'{type(self).__name__}: loss must be a config dict, got {loss!r}')
        self.compute_loss = loss if isinstance(loss, nn.Module) else build_from_cfg(loss, MODELS)

    def loss(self, cls_score, gt_label):
        """``dict(loss=...)`` of logits (N, C) against multi-hot targets (N, C)."""
        gt_label = gt_label.type_as(cls_score)
        return dict(loss=self.compute_loss(cls_score, torch.abs(gt_label),
                                           avg_factor=len(cls_score)))

    def pre_logits(self, x):
        """The last input of a tuple (expected to be logits already)."""
        if isinstance(x, tuple):
            x = x[-1]
        _log.warning('The input of MultiLabelClsHead should be already logits. Please modify '
                     'the backbone if you want to get pre-logits feature.')
        return x

    def forward(self, x):
        """Logits (N, C)."""
        return x[-1] if isinstance(x, tuple) else x

    def forward_train(self, x, gt_label, **kwargs):
        """Losses of the head's input against multi-hot ``gt_label``."""
        cls_score = self(x)
        return self.loss(cls_score, gt_label.type_as(cls_score))

    def simple_test(self, x, sigmoid=True, post_process=True):
        """Sigmoid scores (or logits), a list of per-sample arrays unless ``post_process=False``."""
        cls_score = self(x)
        pred = torch.sigmoid(cls_score) if sigmoid else cls_score
        return self.post_process(pred) if post_process else pred

    @staticmethod
    def post_process(pred):
        """Tensor (N, C) -> list of N numpy arrays."""
        return post_process(pred)


@MODELS.register_module()
class MultiLabelLinearClsHead(MultiLabelClsHead):
    """``fc`` (keys ``fc.weight``, ``fc.bias``) then the multi-label head; ``Normal(std=0.01)``."""

    def __init__(self, num_classes, in_channels, loss=_SIGMOID_BCE,
                 init_cfg=dict(type='Normal', layer='Linear', std=0.01)):
        super().__init__(loss=loss, init_cfg=init_cfg)
        check_num_classes(type(self).__name__, num_classes, in_channels)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.fc = nn.Linear(self.in_channels, self.num_classes)

    def pre_logits(self, x):
        """The last feature of a tuple."""
        return x[-1] if isinstance(x, (tuple, list)) else x

    def forward(self, x):
        """Logits (N, num_classes)."""
        return self.fc(self.pre_logits(x))
