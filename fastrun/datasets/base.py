"""The dataset base class: mmclassification's ``BaseDataset`` contract on in-memory tensors."""
import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from . import metrics as M

__all__ = ['BaseDataset', 'ALLOWED_METRICS']

#: Metric names :meth:`BaseDataset.evaluate` accepts (mmcls 0.x single-label set).
ALLOWED_METRICS = ('accuracy', 'precision', 'recall', 'f1_score', 'support')
_METRIC_OPTIONS = ('topk', 'thrs', 'average_mode')


def _stack_results(results):
    """One (N, C) float array from a list of per-sample score arrays/tensors or an (N, C) array."""
    if isinstance(results, torch.Tensor):
        return results.detach().float().cpu().numpy()
    if isinstance(results, np.ndarray):
        return results
    if not isinstance(results, (list, tuple)):
        raise TypeError(f'results must be a list of per-sample score arrays or an (N, C) array, '
                        f'got {type(results).__name__}')
    if not results:
        raise ValueError('results is empty')
    if all(isinstance(r, torch.Tensor) for r in results):
        # One cat then one transfer, rather than a device->host copy per sample.
        return torch.cat([r.detach().reshape(-1, r.shape[-1] if r.dim() else 1)
                          for r in results]).float().cpu().numpy()
    arrays = [r.detach().float().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r)
              for r in results]
    return np.vstack(arrays)


class BaseDataset(Dataset):
    """A classification dataset: items are ``dict(img=FloatTensor CxHxW, gt_label=LongTensor [])``.

    Subclasses either fill ``self.imgs`` (N, C, H, W float tensor) and ``self.gt_labels`` (N long
    tensor), which the default ``__getitem__`` indexes, or override ``__getitem__`` and still set
    ``self.gt_labels``. Items are views into those tensors: do not modify them in place. The dict
    form makes the default collate give ``dict(img=BxCxHxW, gt_label=B)``.
    """

    #: Class names, index = label; subclasses or ``classes=`` set them.
    CLASSES = None

    def __init__(self, classes=None):
        if classes is not None:
            self.CLASSES = self.get_classes(classes)
        self.imgs = None
        self.gt_labels = None

    @classmethod
    def get_classes(cls, classes=None):
        """Class names from a sequence of str or a text file with one name a line (mmcls)."""
        if classes is None:
            return cls.CLASSES
        if isinstance(classes, str):
            with open(classes, encoding='utf-8') as f:
                return tuple(line.strip() for line in f if line.strip())
        if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes):
            return tuple(classes)
        raise TypeError(f'classes must be a file name or a sequence of str, got {classes!r}')

    @property
    def class_to_idx(self):
        """``{class name: label}``."""
        return {c: i for i, c in enumerate(self.CLASSES)}

    def __len__(self):
        return 0 if self.gt_labels is None else len(self.gt_labels)

    def __getitem__(self, idx):
        return dict(img=self.imgs[idx], gt_label=self.gt_labels[idx])

    def get_gt_labels(self):
        """Every ground-truth label as an int64 np.ndarray, in dataset order."""
        return self.gt_labels.numpy().astype(np.int64, copy=True)

    def get_cat_ids(self, idx):
        """The category ids of sample ``idx`` (a one-element list, as mmcls)."""
        return [int(self.gt_labels[idx])]

    def evaluate(self, results, metric='accuracy', metric_options=None, indices=None, logger=None):
        """Score ``results`` against the labels; returns ``{metric name: value}`` (mmcls keys).

        ``results``: per-sample class scores in dataset order (a list of arrays/tensors, or an
        (N, C) array/tensor). ``metric``: a name or a list of names from ``ALLOWED_METRICS``.
        ``metric_options``: ``topk`` (default ``(1, 5)``; a tuple gives ``accuracy_top-k`` keys,
        an int a single ``accuracy`` key), ``thrs`` (number or tuple; a tuple adds ``_thr_0.50``
        suffixes), ``average_mode`` (``'macro'`` or ``'none'``). ``indices``: the dataset
        indices ``results`` covers, when it covers a subset. Percent values, as mmcls.
        """
        metrics = [metric] if isinstance(metric, str) else list(metric)
        invalid = [m for m in metrics if m not in ALLOWED_METRICS]
        if invalid or not metrics:
            raise ValueError(f'metric {invalid or metrics} is not supported; '
                             f'allowed metrics are {list(ALLOWED_METRICS)}')
        if metric_options is None:
            metric_options = {'topk': (1, 5)}
        unknown = set(metric_options) - set(_METRIC_OPTIONS)
        if unknown:
            raise ValueError(f'unknown metric_options {sorted(unknown)}; allowed keys are '
                             f'{list(_METRIC_OPTIONS)}')
        topk = metric_options.get('topk', (1, 5))
        if isinstance(topk, list):
            topk = tuple(topk)
        thrs = metric_options.get('thrs')
        if isinstance(thrs, list):
            thrs = tuple(thrs)
        average_mode = metric_options.get('average_mode', 'macro')

        scores = _stack_results(results)
        gt_labels = self.get_gt_labels()
        if indices is not None:
            gt_labels = gt_labels[np.asarray(indices, dtype=np.int64)]
        if len(scores) != len(gt_labels):
            raise ValueError(f'{len(scores)} results for {len(gt_labels)} ground-truth labels; '
                             'results must hold one score vector per sample (pass indices= for '
                             'a subset)')
        thr_kw = {} if thrs is None else {'thrs': thrs}
        multi_thr = isinstance(thrs, tuple)
        out = {}
        if 'accuracy' in metrics:
            acc = M.accuracy(scores, gt_labels, topk=topk, **thr_kw)
            named = ({f'accuracy_top-{k}': a for k, a in zip(topk, acc)}
                     if isinstance(topk, tuple) else {'accuracy': acc})
            for key, value in named.items():
                if multi_thr:
                    out.update({f'{key}_thr_{t:.2f}': v for t, v in zip(thrs, value)})
                else:
                    out[key] = value
        if 'support' in metrics:
            out['support'] = M.support(scores, gt_labels, average_mode=average_mode)
        prf_keys = ('precision', 'recall', 'f1_score')
        if any(k in metrics for k in prf_keys):
            values = M.precision_recall_f1(scores, gt_labels, average_mode=average_mode, **thr_kw)
            for key, value in zip(prf_keys, values):
                if key not in metrics:
                    continue
                if multi_thr:
                    out.update({f'{key}_thr_{t:.2f}': v for t, v in zip(thrs, value)})
                else:
                    out[key] = value
        if logger is not None:
            log = logging.getLogger(logger) if isinstance(logger, str) else logger
            log.info('Evaluation on %s: %s', type(self).__name__,
                     ', '.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                               for k, v in out.items()))
        return out
