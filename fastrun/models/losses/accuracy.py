"""Top-k accuracy with a score threshold: ``accuracy`` and the ``Accuracy`` module (mmcls 0.x)."""
from numbers import Number

import numpy as np
import torch
import torch.nn as nn

__all__ = ['Accuracy', 'accuracy', 'topk_accuracy']


def _topk_thrs(pred, target, topk, thrs):
    maxk = max(topk)
    if maxk > pred.shape[1]:
        raise ValueError(f'topk {topk} exceeds the {pred.shape[1]} classes of the scores')
    score, label = pred.float().topk(maxk, dim=1)
    correct = label.eq(target.reshape(-1, 1).to(label.device))
    scale = 100.0 / max(pred.shape[0], 1)
    # On the scores' device, no .item(): the training step stays free of host syncs.
    return [[(correct[:, :k] & (score[:, :k] > thr)).any(dim=1).float().sum(0, keepdim=True)
             * scale for thr in thrs] for k in topk]


def accuracy(pred, target, topk=1, thrs=0.):
    """Percent of samples whose label is among the ``topk`` scores *and* scores above ``thrs``.

    ``pred`` (N, C) and ``target`` (N,) are tensors or numpy arrays. Each accuracy is a 1-element
    tensor (mmcls's shape). One ``topk`` and one ``thrs`` give one tensor; a tuple of either a
    list; tuples of both a list (per k) of lists (per threshold). The threshold (0 by default,
    as mmcls) counts a right class whose score is not above it as wrong: on logits that are all
    negative the accuracy is 0 even when the top class is right.
    """
    single_k = isinstance(topk, int)
    if not single_k and not isinstance(topk, tuple):
        raise TypeError(f'topk must be an int or a tuple of ints, got {type(topk).__name__}')
    topk = (topk,) if single_k else topk
    if isinstance(thrs, Number):
        thrs, single_t = (thrs,), True
    elif isinstance(thrs, tuple):
        single_t = False
    else:
        raise TypeError(f'thrs should be a number or tuple, but got {type(thrs)}.')
    as_tensor = lambda x: torch.from_numpy(x) if isinstance(x, np.ndarray) else x  # noqa: E731
    pred, target = as_tensor(pred), as_tensor(target)
    if not (torch.is_tensor(pred) and torch.is_tensor(target)):
        raise TypeError('pred and target must be tensors or numpy arrays')
    res = _topk_thrs(pred, target, topk, thrs)
    res = [r[0] for r in res] if single_t else res
    return res[0] if single_k else res


def topk_accuracy(cls_score, gt_label, topk=(1,)):
    """Plain top-k accuracies in percent (no threshold), as 0-dim tensors on the scores' device."""
    return [a.reshape(()) for a in accuracy(cls_score, gt_label, tuple(topk), thrs=float('-inf'))]


class Accuracy(nn.Module):
    """``accuracy(pred, target, topk)`` as a module (threshold 0, as mmcls's heads use it)."""

    def __init__(self, topk=(1,)):
        super().__init__()
        self.topk = topk

    def forward(self, pred, target):
        """The accuracies, one per ``topk`` entry."""
        return accuracy(pred, target, self.topk)
