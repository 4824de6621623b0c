"""Single-label classification metrics on (scores, labels), with mmclassification 0.x semantics.

Every function takes ``scores`` of shape (N, C) (np.ndarray or torch.Tensor, any float dtype) and
integer ``labels`` of shape (N,) and returns percentages (0-100) as Python floats. As in mmcls, a
prediction only counts when its score is strictly above ``thrs`` (default 0.0, which never
triggers for softmax scores); a tuple of thresholds gives one result per threshold.
"""
from numbers import Number

import numpy as np
import torch

__all__ = ['accuracy', 'precision_recall_f1', 'precision', 'recall', 'f1_score', 'support',
           'confusion_matrix', 'AVERAGE_MODES', 'average_precision', 'mAP', 'average_performance']

#: ``average_mode`` values: ``'macro'`` (unweighted mean over classes) or ``'none'`` (per class).
AVERAGE_MODES = ('macro', 'none')


def _to_numpy(x, name):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise TypeError(f'{name} must be a np.ndarray or a torch.Tensor, got {type(x).__name__}')


def _check(scores, labels):
    scores = _to_numpy(scores, 'scores')
    labels = _to_numpy(labels, 'labels')
    if scores.ndim != 2:
        raise ValueError(f'scores must have shape (N, C), got {scores.shape}')
    labels = labels.reshape(-1)
    if len(labels) != len(scores):
        raise ValueError(f'scores has {len(scores)} rows but there are {len(labels)} labels')
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f'labels must be integer class indices, got dtype {labels.dtype}')
    labels = labels.astype(np.int64)
    num_classes = scores.shape[1]
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'labels must lie in [0, {num_classes}) for {num_classes} score columns, '
                         f'got min {labels.min()} max {labels.max()}')
    return scores.astype(np.float64, copy=False), labels


def _thresholds(thrs):
    """``(thresholds, single)``: a number gives one result, a tuple one per threshold (mmcls)."""
    if thrs is None or isinstance(thrs, Number):
        return (thrs,), True
    if isinstance(thrs, (tuple, list)):
        return tuple(thrs), False
    raise TypeError(f'thrs must be a number or a tuple of numbers, got {type(thrs).__name__}')


def _average_mode(mode):
    if mode not in AVERAGE_MODES:
        raise ValueError(f'average_mode must be one of {AVERAGE_MODES}, got {mode!r}')


def accuracy(scores, labels, topk=(1,), thrs=0.0):
    """Top-k accuracy in percent: a sample is right when its label is among its k best scores.

    ``topk`` an int gives one value, a tuple one value per k (a list per k when ``thrs`` is a
    tuple too). A k larger than the number of classes is an error, as in mmcls (whose top-k
    selection fails there); pass e.g. ``topk=(1,)`` for datasets with fewer than 5 classes.
    Ties between scores rank the lower class index first.
    """
    single_k = isinstance(topk, int)
    ks = (topk,) if single_k else tuple(topk)
    if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f'topk must be a positive int or a tuple of them, got {topk!r}')
    thr_list, single_thr = _thresholds(thrs)
    scores, labels = _check(scores, labels)
    num, num_classes = scores.shape
    maxk = max(ks)
    if maxk > num_classes:
        raise ValueError(f'topk={maxk} is larger than the number of classes ({num_classes}); '
                         f"use e.g. metric_options={{'topk': (1,)}}")
    # A stable sort on the negated scores puts ties in class-index order, so results are
    # reproducible (mmcls leaves the order of ties to argpartition/topk).
    order = np.argsort(-scores, axis=1, kind='stable')[:, :maxk]
    top_scores = np.take_along_axis(scores, order, axis=1)
    hit = order == labels[:, None]
    res = []
    for k in ks:
        per_thr = []
        for thr in thr_list:
            ok = hit[:, :k] if thr is None else hit[:, :k] & (top_scores[:, :k] > thr)
            per_thr.append(float(ok.any(axis=1).sum()) * 100.0 / num if num else 0.0)
        res.append(per_thr[0] if single_thr else per_thr)
    return res[0] if single_k else res


def confusion_matrix(scores, labels):
    """(C, C) int64 matrix: row = true class, column = arg-max predicted class."""
    scores, labels = _check(scores, labels)
    num_classes = scores.shape[1]
    pred = scores.argmax(axis=1)
    return np.bincount(labels * num_classes + pred,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall_f1(scores, labels, average_mode='macro', thrs=0.0):
    """``(precision, recall, f1)`` in percent from arg-max predictions, as mmcls computes them.

    Per class, precision = TP / max(predicted, 1) and recall = TP / max(actual, 1), so a class
    never predicted (or absent) scores 0 rather than NaN; ``'macro'`` is the unweighted mean over
    all C classes. A prediction whose best score is not above ``thr`` counts as no prediction.
    """
    _average_mode(average_mode)
    thr_list, single_thr = _thresholds(thrs)
    scores, labels = _check(scores, labels)
    num_classes = scores.shape[1]
    pred = scores.argmax(axis=1)
    best = scores[np.arange(len(pred)), pred]
    actual = np.bincount(labels, minlength=num_classes).astype(np.float64)
    out = ([], [], [])
    for thr in thr_list:
        kept = np.ones(len(pred), bool) if thr is None else best > thr
        predicted = np.bincount(pred[kept], minlength=num_classes).astype(np.float64)
        tp = np.bincount(pred[kept & (pred == labels)], minlength=num_classes).astype(np.float64)
        prec = tp / np.maximum(predicted, 1.0) * 100
        rec = tp / np.maximum(actual, 1.0) * 100
        f1 = 2 * prec * rec / np.maximum(prec + rec, np.finfo(np.float32).eps)
        for acc, v in zip(out, (prec, rec, f1)):
            acc.append(float(v.mean()) if average_mode == 'macro' else v)
    if single_thr:
        return out[0][0], out[1][0], out[2][0]
    return out


def precision(scores, labels, average_mode='macro', thrs=0.0):
    """Precision in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(scores, labels, average_mode, thrs)[0]


def recall(scores, labels, average_mode='macro', thrs=0.0):
    """Recall in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(scores, labels, average_mode, thrs)[1]


def f1_score(scores, labels, average_mode='macro', thrs=0.0):
    """F1 score in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(scores, labels, average_mode, thrs)[2]


def support(scores, labels, average_mode='macro'):
    """Samples per true class: their total as a float for ``'macro'`` (mmcls), per class for ``'none'``."""
    _average_mode(average_mode)
    per_class = confusion_matrix(scores, labels).sum(axis=1)
    return float(per_class.sum()) if average_mode == 'macro' else per_class


# ------------------------------------------------------------------------------ multi-label

def _check_multi_label(scores, targets):
    scores = _to_numpy(scores, 'scores').astype(np.float64, copy=False)
    targets = _to_numpy(targets, 'targets')
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(f'scores and targets must both have shape (N, C), got {scores.shape} '
                         f'and {targets.shape}')
    return scores, targets


def average_precision(scores, targets):
    """AP of one class in [0, 1]: the mean, over its positives, of the precision at each one's rank.

    ``targets``: 1 positive, 0 negative, -1 difficult (left out of the precision's counts).
    Scores are ranked in decreasing order; ties keep numpy's default (quicksort) order, as mmcls.
    """
    eps = np.finfo(np.float32).eps
    ranked = targets[np.argsort(-scores)]
    positive = ranked == 1
    tp = np.cumsum(positive)
    counted = np.cumsum(ranked != -1)
    precision_at_pos = np.where(positive, tp, 0) / np.maximum(counted, eps)
    total = tp[-1] if len(tp) else 0
    return float(precision_at_pos.sum() / np.maximum(total, eps))


def mAP(scores, targets):
    """Mean over classes of :func:`average_precision`, in percent (mmcls's ``mAP``)."""
    scores, targets = _check_multi_label(scores, targets)
    aps = [average_precision(scores[:, k], targets[:, k]) for k in range(scores.shape[1])]
    return float(np.mean(aps) * 100.0)


def average_performance(scores, targets, thr=None, k=None):
    """``(CP, CR, CF1, OP, OR, OF1)`` in percent: per-class (C) and overall (O) precision,
    recall and F1 of the predicted label sets, as mmcls's ``average_performance``.

    A label is predicted when its score is ``>= thr``, else (``thr`` None) when it is among
    the ``k`` best of its row; neither given: ``thr=0.5``; both: ``thr`` wins. Difficult
    labels (-1) count as negatives. ``targets`` is not modified.
    """
    import warnings
    scores, targets = _check_multi_label(scores, targets)
    if thr is None and k is None:
        thr = 0.5
        warnings.warn('Neither thr nor k is given, set thr as 0.5 by default.')
    elif thr is not None and k is not None:
        warnings.warn('Both thr and k are given, use threshold in favor of top-k.')
    eps = np.finfo(np.float32).eps
    target = np.where(targets == -1, 0, targets)
    if thr is not None:
        pred = scores >= thr
    else:
        pred = np.zeros(scores.shape, dtype=bool)
        top = np.argsort(-scores, axis=1)[:, :k]
        np.put_along_axis(pred, top, True, axis=1)
    pos = target == 1
    tp = (pred & pos).sum(axis=0)
    fp = (pred & (target == 0)).sum(axis=0)
    fn = (~pred & pos).sum(axis=0)
    cp = float((tp / np.maximum(tp + fp, eps)).mean() * 100.0)
    cr = float((tp / np.maximum(tp + fn, eps)).mean() * 100.0)
    cf1 = 2 * cp * cr / max(cp + cr, eps)
    op = float(tp.sum() / max(tp.sum() + fp.sum(), eps) * 100.0)
    orr = float(tp.sum() / max(tp.sum() + fn.sum(), eps) * 100.0)
    of1 = 2 * op * orr / max(op + orr, eps)
    return cp, cr, cf1, op, orr, of1
