"""``CrossEntropyLoss``: softmax, soft-target and sigmoid (binary) cross entropy (mmcls 0.x)."""
import numbers

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import MODELS
from .utils import check_reduction, sample_weight, weight_reduce_loss

__all__ = ['CrossEntropyLoss', 'binary_cross_entropy', 'cross_entropy', 'soft_cross_entropy']


def cross_entropy(pred, label, weight=None, reduction='mean', avg_factor=None, class_weight=None,
                  label_smooth_val=0.0):
    """Softmax cross entropy of logits (N, C) against class indices (N,) or soft targets (N, C).

    ``class_weight`` (C,) scales each sample's loss by its class's weight; 'mean' still divides
    by N (or ``avg_factor``), not by the summed weights (mmcls, unlike torch's weighted mean).
    """
    if label.dim() == pred.dim() and label.is_floating_point():
        return soft_cross_entropy(pred, label, weight, reduction, class_weight, avg_factor,
                                  label_smooth_val)
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none',
                           label_smoothing=label_smooth_val)
    return weight_reduce_loss(loss, sample_weight(weight, loss), reduction, avg_factor)


def soft_cross_entropy(pred, label, weight=None, reduction='mean', class_weight=None,
                       avg_factor=None, label_smooth_val=0.0):
    """``-sum_c label_c * log_softmax(pred)_c`` (times ``class_weight``) per sample: mixup targets."""
    if label_smooth_val:
        label = label * (1 - label_smooth_val) + label_smooth_val / pred.shape[-1]
    loss = -label * F.log_softmax(pred, dim=-1)
    if class_weight is not None:
        loss = loss * class_weight
    loss = loss.sum(dim=-1)
    return weight_reduce_loss(loss, sample_weight(weight, loss), reduction, avg_factor)


def binary_cross_entropy(pred, label, weight=None, reduction='mean', avg_factor=None,
                         class_weight=None, pos_weight=None):
    """Element-wise sigmoid cross entropy of logits and 0/1 (or soft) targets of the same shape.

    The result before reduction is (N, C); 'mean' with ``avg_factor=N`` sums over classes.
    """
    if pred.dim() != label.dim():
        raise ValueError(f'sigmoid cross entropy needs targets shaped like the scores '
                         f'{tuple(pred.shape)}, got {tuple(label.shape)}')
    if class_weight is not None:
        class_weight = class_weight.expand_as(pred)
    loss = F.binary_cross_entropy_with_logits(pred, label.type_as(pred), weight=class_weight,
                                              pos_weight=pos_weight, reduction='none')
    return weight_reduce_loss(loss, sample_weight(weight, pred), reduction, avg_factor)


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """mmcls ``CrossEntropyLoss``: softmax by default, ``use_sigmoid`` for multi-label targets.

    ``use_soft`` expects soft targets (N, C) (mixup / cutmix); the softmax path also accepts
    them without it, the type of the label deciding. ``class_weight`` (C,) weights classes,
    ``pos_weight`` (C,) the positives of the sigmoid loss; ``loss_weight`` scales the result.
    ``label_smooth_val`` is fastrun's addition (softmax only): ``(1 - eps) * target + eps / C``,
    the same as ``LabelSmoothLoss`` in mode 'original'.
    """

    def __init__(self, use_sigmoid=False, use_soft=False, reduction='mean', loss_weight=1.0,
                 class_weight=None, pos_weight=None, label_smooth_val=0.0):
        super().__init__()
        if use_sigmoid and use_soft:
            raise ValueError('use_sigmoid and use_soft could not be set simultaneously')
        if not isinstance(label_smooth_val, numbers.Real) or not 0 <= label_smooth_val < 1:
            raise ValueError(f'label_smooth_val must be in [0, 1), got {label_smooth_val!r}')
        if label_smooth_val and use_sigmoid:
            raise ValueError('label_smooth_val is for the softmax loss; for sigmoid use '
                             "LabelSmoothLoss(mode='multi_label')")
        self.use_sigmoid = bool(use_sigmoid)
        self.use_soft = bool(use_soft)
        self.reduction = check_reduction(reduction, 'CrossEntropyLoss')
        self.loss_weight = float(loss_weight)
        self.label_smooth_val = float(label_smooth_val)
        # Buffers so that .to(device) moves them, not saved: they are configuration, not state.
        for name, value in (('class_weight', class_weight), ('pos_weight', pos_weight)):
            value = None if value is None else torch.as_tensor(value, dtype=torch.float32)
            self.register_buffer(name, value, persistent=False)

    def forward(self, cls_score, label, weight=None, avg_factor=None, reduction_override=None,
                **kwargs):
        """Loss of logits (N, C); ``weight`` (N,) scales samples, ``avg_factor`` divides the mean."""
        reduction = check_reduction(reduction_override or self.reduction, 'CrossEntropyLoss')
        cw = None if self.class_weight is None else self.class_weight.to(cls_score.dtype)
        if self.use_sigmoid:
            pw = None if self.pos_weight is None else self.pos_weight.to(cls_score.dtype)
            loss = binary_cross_entropy(cls_score, label, weight, reduction, avg_factor, cw, pw)
        elif self.use_soft:
            if label.shape != cls_score.shape:
                raise ValueError(f'use_soft needs soft targets shaped like the scores '
                                 f'{tuple(cls_score.shape)}, got {tuple(label.shape)}')
            loss = soft_cross_entropy(cls_score, label, weight, reduction, cw, avg_factor,
                                      self.label_smooth_val)
        else:
            loss = cross_entropy(cls_score, label, weight, reduction, avg_factor, cw,
                                 self.label_smooth_val)
        return self.loss_weight * loss

    def extra_repr(self):
        return (f'use_sigmoid={self.use_sigmoid}, use_soft={self.use_soft}, '
                f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')
