"""``LabelSmoothLoss``: cross entropy against smoothed targets (mmcls 0.x, three modes)."""
import numbers

import torch
import torch.nn as nn

from ...registry import MODELS
from .cross_entropy_loss import binary_cross_entropy, soft_cross_entropy
from .utils import check_reduction, convert_to_one_hot

__all__ = ['LabelSmoothLoss']

_MODES = ('original', 'classy_vision', 'multi_label')


@MODELS.register_module()
class LabelSmoothLoss(nn.Module):
    """Label-smoothed cross entropy; labels are indices (N,) / (N, 1) or one-hot-like (N, C).

    With eps = ``label_smooth_val`` and K classes the target of a one-hot-like label y is, by
    ``mode``: 'original' ``(1 - eps) * y + eps / K`` (softmax); 'classy_vision' the same with
    ``eps / (1 + eps)`` in place of eps, i.e. ``(y + eps / K) / (1 + eps)``; 'multi_label'
    ``1 - eps`` where y > 0 and ``eps`` elsewhere (sigmoid). Mixup / cutmix targets work in the
    softmax modes. ``num_classes`` is checked against the scores when given.

    Difference from mmcls 0.25, whose ``LabelSmoothLoss`` stores but never applies them:
    ``reduction`` and ``loss_weight`` take effect here (the defaults, which every mmcls config
    uses, give the same loss).
    """

    def __init__(self, label_smooth_val, num_classes=None, mode='original', reduction='mean',
                 loss_weight=1.0):
        super().__init__()
        if not isinstance(label_smooth_val, numbers.Real) or not 0 <= label_smooth_val < 1:
            raise ValueError(f'LabelSmoothLoss: label_smooth_val must be a float in [0, 1), '
                             f'got {label_smooth_val!r}')
        if mode not in _MODES:
            raise ValueError(f'LabelSmoothLoss: mode must be one of {_MODES}, got {mode!r}')
        if num_classes is not None and (not isinstance(num_classes, numbers.Integral)
                                        or num_classes < 1):
            raise ValueError(f'LabelSmoothLoss: num_classes must be a positive int, '
                             f'got {num_classes!r}')
        self.label_smooth_val = float(label_smooth_val)
        self.num_classes = num_classes
        self.mode = mode
        self.reduction = check_reduction(reduction, 'LabelSmoothLoss')
        self.loss_weight = float(loss_weight)
        eps = self.label_smooth_val
        self._eps = eps / (1 + eps) if mode == 'classy_vision' else eps

    def _one_hot_like(self, label, num_classes):
        if label.dim() == 1 or (label.dim() == 2 and label.shape[1] == 1):
            label = convert_to_one_hot(label, num_classes)
        return label.float()

    def smooth_label(self, one_hot_like, num_classes):
        """The smoothed target of a one-hot-like label, by ``mode``."""
        if self.mode == 'multi_label':
            return torch.where(one_hot_like > 0, 1 - self._eps, self._eps).to(one_hot_like.dtype)
        return one_hot_like * (1 - self._eps) + self._eps / num_classes

    def forward(self, cls_score, label, weight=None, avg_factor=None, reduction_override=None,
                **kwargs):
        """Loss of logits (N, C) against ``label``; ``weight`` (N,) scales samples."""
        num_classes = cls_score.shape[1]
        if self.num_classes is not None and self.num_classes != num_classes:
            raise ValueError(f'LabelSmoothLoss: num_classes={self.num_classes} but the scores '
                             f'have {num_classes} classes')
        target = self._one_hot_like(label, num_classes)
        if target.shape != cls_score.shape:
            raise ValueError(f'LabelSmoothLoss: targets {tuple(target.shape)} do not match the '
                             f'scores {tuple(cls_score.shape)}')
        target = self.smooth_label(target, num_classes)
        reduction = check_reduction(reduction_override or self.reduction, 'LabelSmoothLoss')
        if self.mode == 'multi_label':
            loss = binary_cross_entropy(cls_score, target, weight, reduction, avg_factor)
        else:
            loss = soft_cross_entropy(cls_score, target, weight, reduction, None, avg_factor)
        return self.loss_weight * loss

    def extra_repr(self):
        return (f'label_smooth_val={self.label_smooth_val}, mode={self.mode!r}, '
                f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')
