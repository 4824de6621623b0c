"""``ClsHead``: the loss / accuracy / test contract every single-label head shares (mmcls 0.x)."""
import numbers
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import MODELS, build_from_cfg
from ..base import BaseModule
from ..losses import Accuracy

__all__ = ['ClsHead', 'post_process', 'check_num_classes']


def _tracing():
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def post_process(pred):
    """Scores (N, C) -> a list of N numpy arrays (the one host sync of testing); kept a tensor
    while tracing or exporting to ONNX."""
    if _tracing():
        return pred
    return list(pred.detach().float().cpu().numpy())


def check_num_classes(owner, num_classes, in_channels=None):
    """Positive ints, or a ValueError naming ``owner``'s argument."""
    for name, value in (('num_classes', num_classes), ('in_channels', in_channels)):
        if name == 'in_channels' and value is None:
            continue
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f'{owner}: {name}={value!r} must be a positive integer')


@MODELS.register_module()
class ClsHead(BaseModule):
    """A head whose input already is the logits (mmcls ``ClsHead``); the base of the others.

    ``loss`` is a loss config (or module), ``topk`` an int or tuple for ``cal_acc``'s accuracy.
    ``forward_train(x, gt_label)`` gives ``dict(loss=...)``, with ``cal_acc`` first
    ``accuracy={'top-k': tensor}`` (mmcls's ``Accuracy``: the top-k must also score > 0, so on
    negative logits it under-reports, exactly as mmcls logs it). With soft targets (mixup) the
    accuracy is left out instead of failing. ``simple_test(x, softmax=True, post_process=True)``
    gives per-sample softmax scores as a list of numpy arrays. Subclasses define ``pre_logits``
    and ``forward`` (the logits); here both take the last element of a tuple.
    """

    def __init__(self, loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1,),
                 cal_acc=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(topk, bool) or not isinstance(topk, (int, tuple, list)):
            raise TypeError(f'{type(self).__name__}: topk must be an int or a tuple of ints, '
                            f'got {topk!r}')
        topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not topk or any(not isinstance(k, int) or k < 1 for k in topk):
            raise ValueError(f'{type(self).__name__}: topk must be a positive int or a tuple '
                             f'of them, got {topk!r}')
        if not isinstance(loss, (dict, nn.Module)):
            raise TypeError(f'{type(self).__name__}: loss must be a config dict, got {loss!r}')
        self.topk = topk
        self.cal_acc = bool(cal_acc)
        self.compute_loss = loss if isinstance(loss, nn.Module) else build_from_cfg(loss, MODELS)
        self.compute_accuracy = Accuracy(topk=self.topk)

    def _check_topk(self):
        if self.cal_acc and max(self.topk) > self.num_classes:
            raise ValueError(f'{type(self).__name__}: topk {self.topk} exceeds '
                             f'num_classes={self.num_classes}')

    def pre_logits(self, x):
        """The last input of a tuple; a ``ClsHead`` expects logits, hence the warning."""
        if isinstance(x, tuple):
            x = x[-1]
        warnings.warn('The input of ClsHead should be already logits. Please modify the '
                      'backbone if you want to get pre-logits feature.')
        return x

    def forward(self, x):
        """Logits (N, C) of the head's input."""
        return x[-1] if isinstance(x, tuple) else x

    def loss(self, cls_score, gt_label, **kwargs):
        """``dict(accuracy=..., loss=...)`` of logits against labels (accuracy with ``cal_acc``)."""
        losses = dict()
        loss = self.compute_loss(cls_score, gt_label, avg_factor=len(cls_score), **kwargs)
        if self.cal_acc and gt_label.dim() == 1:
            acc = self.compute_accuracy(cls_score.detach(), gt_label)
            losses['accuracy'] = {f'top-{k}': a for k, a in zip(self.topk, acc)}
        losses['loss'] = loss
        return losses

    def forward_train(self, x, gt_label, **kwargs):
        """Losses of the head's input against ``gt_label`` (indices or soft targets)."""
        return self.loss(self(x), gt_label, **kwargs)

    def simple_test(self, x, softmax=True, post_process=True):
        """Softmax scores (or logits with ``softmax=False``); a list of per-sample arrays unless
        ``post_process=False`` (a tensor)."""
        cls_score = self(x)
        pred = F.softmax(cls_score, dim=1) if softmax else cls_score
        return self.post_process(pred) if post_process else pred

    @staticmethod
    def post_process(pred):
        """Tensor (N, C) -> list of N numpy arrays."""
        return post_process(pred)
