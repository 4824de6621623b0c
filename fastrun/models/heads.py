"""Classification heads and their loss (mmclassification 0.x ``LinearClsHead`` contract)."""
import numbers

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS, build_from_cfg
from .base import BaseModule

__all__ = ['CrossEntropyLoss', 'LinearClsHead', 'topk_accuracy']

_REDUCTIONS = ('none', 'mean', 'sum')


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Softmax cross entropy with optional label smoothing, weighted by ``loss_weight``.

    ``label_smooth_val`` = eps follows mmcls ``LabelSmoothLoss`` (mode 'original'): the target
    becomes ``(1 - eps) * one_hot + eps / num_classes``. Labels are class indices (N,) or soft
    targets (N, C) (mixup-style; smoothing applies to them too). ``class_weight`` rescales each
    class's loss; the 'mean' reduction divides by N (or ``avg_factor``), not by the weights.
    """

    def __init__(self, loss_weight=1.0, label_smooth_val=0.0, reduction='mean', class_weight=None):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        if not isinstance(label_smooth_val, numbers.Real) or not 0 <= label_smooth_val < 1:
            raise ValueError(f'label_smooth_val must be in [0, 1), got {label_smooth_val!r}')
        self.loss_weight = float(loss_weight)
        self.label_smooth_val = float(label_smooth_val)
        self.reduction = reduction
        if class_weight is not None:
            class_weight = torch.as_tensor(class_weight, dtype=torch.float32)
        # A buffer so .to(device) moves it, but not saved: it is configuration, not state.
        self.register_buffer('class_weight', class_weight, persistent=False)

    def forward(self, cls_score, label, weight=None, avg_factor=None, reduction_override=None):
        """Loss of logits ``cls_score`` (N, C); ``weight`` (N,) rescales samples (mmcls API)."""
        reduction = reduction_override or self.reduction
        if reduction not in _REDUCTIONS:
            raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        eps = self.label_smooth_val
        cw = self.class_weight
        if label.dim() == cls_score.dim() and label.is_floating_point():
            target = label if eps == 0 else label * (1 - eps) + eps / cls_score.shape[1]
            logp = F.log_softmax(cls_score, dim=1)
            loss = -((target * logp) if cw is None else (target * logp * cw)).sum(dim=1)
        else:
            loss = F.cross_entropy(cls_score, label, weight=cw, reduction='none',
                                   label_smoothing=eps)
        if weight is not None:
            loss = loss * weight.to(loss.dtype)
        if avg_factor is None:
            loss = loss.mean() if reduction == 'mean' else loss.sum() if reduction == 'sum' else loss
        elif reduction == 'mean':
            loss = loss.sum() / avg_factor
        elif reduction == 'sum':
            raise ValueError('avg_factor can not be used with reduction="sum"')
        return self.loss_weight * loss

    def extra_repr(self):
        return (f'loss_weight={self.loss_weight}, label_smooth_val={self.label_smooth_val}, '
                f'reduction={self.reduction!r}')


def topk_accuracy(cls_score, gt_label, topk=(1,)):
    """Top-k accuracies in percent as 0-dim tensors on ``cls_score``'s device (no host sync)."""
    maxk = max(topk)
    num = cls_score.shape[0]
    pred = cls_score.topk(maxk, dim=1).indices
    correct = pred.eq(gt_label.reshape(-1, 1))
    return [correct[:, :k].any(dim=1).float().sum() * (100.0 / max(num, 1)) for k in topk]


@MODELS.register_module()
class LinearClsHead(BaseModule):
    """A linear layer on the (last) feature, trained with ``loss`` (mmcls ``LinearClsHead``).

    ``forward_train(x, gt_label)`` gives ``dict(loss=...)``, plus ``accuracy={'top-k': tensor}``
    when ``cal_acc`` (plain top-k of the logits: unlike mmcls's ``Accuracy``, no score > 0
    threshold). ``simple_test(x)`` gives per-sample softmax scores as a list of numpy arrays.
    """

    def __init__(self, num_classes, in_channels,
                 loss=dict(type='CrossEntropyLoss', loss_weight=1.0, label_smooth_val=0.0),
                 topk=(1,), cal_acc=False, init_cfg=dict(type='Normal', layer='Linear', std=0.01)):
        super().__init__(init_cfg)
        if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise ValueError(f'num_classes must be a positive int, got {num_classes!r}')
        if not isinstance(in_channels, numbers.Integral) or in_channels < 1:
            raise ValueError(f'in_channels must be a positive int, got {in_channels!r}')
        topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not topk or any(not isinstance(k, int) or k < 1 for k in topk):
            raise ValueError(f'topk must be a positive int or a tuple of them, got {topk!r}')
        if cal_acc and max(topk) > num_classes:
            raise ValueError(f'topk {topk} exceeds num_classes={num_classes}')
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.topk = topk
        self.cal_acc = bool(cal_acc)
        self.compute_loss = loss if isinstance(loss, nn.Module) else build_from_cfg(loss, MODELS)
        self.fc = nn.Linear(self.in_channels, self.num_classes)

    @staticmethod
    def pre_logits(x):
        """The feature the classifier uses: the last one when a backbone returns a tuple."""
        return x[-1] if isinstance(x, (tuple, list)) else x

    def forward(self, x):
        """Logits (N, num_classes)."""
        return self.fc(self.pre_logits(x))

    def loss(self, cls_score, gt_label, **kwargs):
        """``dict(loss=...)`` (and ``accuracy`` when ``cal_acc``) for logits and labels."""
        losses = dict()
        # accuracy before loss: the order mmcls logs them in.
        if self.cal_acc and gt_label.dim() == 1:
            acc = topk_accuracy(cls_score.detach(), gt_label, self.topk)
            losses['accuracy'] = {f'top-{k}': a for k, a in zip(self.topk, acc)}
        losses['loss'] = self.compute_loss(cls_score, gt_label, avg_factor=len(cls_score),
                                           **kwargs)
        return losses

    def forward_train(self, x, gt_label, **kwargs):
        """Losses of features ``x`` against ``gt_label``."""
        return self.loss(self(x), gt_label, **kwargs)

    def simple_test(self, x, softmax=True, post_process=True):
        """Class scores: softmax probabilities (or logits), as a list of per-sample arrays."""
        cls_score = self(x)
        pred = F.softmax(cls_score, dim=1) if softmax else cls_score
        return self.post_process(pred) if post_process else pred

    @staticmethod
    def post_process(pred):
        """Tensor (N, C) -> list of N numpy arrays (the one host sync of testing)."""
        return list(pred.detach().float().cpu().numpy())
