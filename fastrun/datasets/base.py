"""The dataset base class: mmclassification's ``BaseDataset`` contract on in-memory tensors."""
import copy
import logging
import os

import numpy as np
import torch
from torch.utils.data import Dataset

from . import metrics as M

__all__ = ['BaseDataset', 'ALLOWED_METRICS', 'expand_path', 'read_lines']

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


def expand_path(path):
    """``~`` expanded in a str or path-like, anything else as it is (mmcls's ``expanduser``)."""
    if isinstance(path, (str, os.PathLike)):
        return os.path.expanduser(os.fspath(path))
    return path


def check_file_client_args(file_client_args, owner):
    """fastrun's data sets read the local file system: ``None`` or ``backend='disk'`` only."""
    if file_client_args is None:
        return
    if not isinstance(file_client_args, dict):
        raise TypeError(f'{owner}: file_client_args must be a dict or None, '
                        f'got {type(file_client_args).__name__}')
    backend = file_client_args.get('backend', 'disk')
    if backend != 'disk':
        raise ValueError(f"{owner}: file_client_args backend {backend!r} is not supported; "
                         "fastrun's data sets read local (or mounted) files: use backend='disk'")


def read_lines(path, owner, what='annotation file'):
    """The non-empty lines of a text file, stripped of their line ends (mmcv's list_from_file)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{owner}: {what} {path!r} not found')
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\n\r') for line in f if line.strip()]


class BaseDataset(Dataset):
    """A classification data set with mmclassification 0.x's contract, in one of two forms.

    **Annotations** (mmcls's ``BaseDataset``): a subclass defines :meth:`load_annotations`,
    returning ``data_infos``, one dict per sample (``img_prefix``, ``img_info={'filename':
    ...}`` or an ``img`` array, and ``gt_label`` as an ``np.int64`` array); the constructor
    takes ``data_prefix``, ``pipeline`` (a list of transform dicts or callables, built with
    :class:`~fastrun.datasets.pipelines.Compose`), ``classes``, ``ann_file``, ``test_mode``
    and ``file_client_args``, and ``dataset[i]`` is the pipeline applied to a deep copy of
    ``data_infos[i]``.

    **In memory**: a subclass that does not define ``load_annotations`` fills ``self.imgs``
    (N, C, H, W float tensor) and ``self.gt_labels`` (N long tensor), which the default
    ``__getitem__`` indexes (``dict(img=..., gt_label=...)``, views: do not modify them in
    place); the loaders take such batches with one tensor index.

    Both share ``CLASSES``, ``class_to_idx``, ``get_gt_labels``, ``get_cat_ids`` and
    :meth:`evaluate`.
    """

    #: Class names, index = label; subclasses or ``classes=`` set them.
    CLASSES = None

    def __init__(self, data_prefix=None, pipeline=(), classes=None, ann_file=None,
                 test_mode=False, file_client_args=None):
        self.data_prefix = expand_path(data_prefix)
        self.ann_file = expand_path(ann_file)
        self.test_mode = bool(test_mode)
        self.file_client_args = file_client_args
        self.imgs = None
        self.gt_labels = None
        self.data_infos = None
        self.CLASSES = self.get_classes(classes)
        if type(self).load_annotations is BaseDataset.load_annotations:
            return  # an in-memory data set: the subclass fills imgs and gt_labels
        check_file_client_args(file_client_args, type(self).__name__)
        from .pipelines import Compose
        self.pipeline = Compose(list(pipeline) if pipeline is not None else [])
        self.data_infos = self.load_annotations()

    def load_annotations(self):
        """The ``data_infos`` list (subclasses of the annotation form define it)."""
        raise NotImplementedError(f'{type(self).__name__} keeps its samples in memory')

    @classmethod
    def get_classes(cls, classes=None):
        """Class names from a sequence of str or a text file with one name a line (mmcls)."""
        if classes is None:
            return cls.CLASSES
        if isinstance(classes, (str, os.PathLike)):
            path = expand_path(classes)
            if not os.path.isfile(path):
                raise FileNotFoundError(f'{cls.__name__}: classes file {path!r} not found '
                                        '(expected a text file with one class name a line)')
            with open(path, encoding='utf-8') as f:
                return tuple(line.strip() for line in f if line.strip())
        if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes):
            return tuple(classes)
        raise TypeError(f'classes must be a file name or a sequence of str, got {classes!r}')

    @property
    def class_to_idx(self):
        """``{class name: label}``."""
        return {c: i for i, c in enumerate(self.CLASSES)}

    def __len__(self):
        if self.data_infos is not None:
            return len(self.data_infos)
        return 0 if self.gt_labels is None else len(self.gt_labels)

    def prepare_data(self, idx):
        """The pipeline's result on a deep copy of ``data_infos[idx]`` (mmcls)."""
        return self.pipeline(copy.deepcopy(self.data_infos[idx]))

    def __getitem__(self, idx):
        if self.data_infos is not None:
            return self.prepare_data(idx)
        return dict(img=self.imgs[idx], gt_label=self.gt_labels[idx])

    def get_gt_labels(self):
        """Every ground-truth label as an np.ndarray (int64 for single-label), in data set order."""
        if self.data_infos is not None:
            return np.array([info['gt_label'] for info in self.data_infos])
        return self.gt_labels.numpy().astype(np.int64, copy=True)

    def get_cat_ids(self, idx):
        """The category ids of sample ``idx`` (a one-element list, as mmcls)."""
        if self.data_infos is not None:
            return [int(self.data_infos[idx]['gt_label'])]
        return [int(self.gt_labels[idx])]

    def _scores_and_labels(self, results, indices=None):
        """``results`` stacked to one score row per sample, and the ground truth they score
        (only ``indices`` of it, when given); a count mismatch is a ValueError."""
        scores = _stack_results(results)
        gt_labels = self.get_gt_labels()
        if indices is not None:
            gt_labels = gt_labels[np.asarray(indices, dtype=np.int64)]
        if len(scores) != len(gt_labels):
            raise ValueError(f'{len(scores)} results for {len(gt_labels)} ground-truth labels; '
                             'results must hold one score vector per sample (pass indices= for '
                             'a subset)')
        return scores, gt_labels

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

        scores, gt_labels = self._scores_and_labels(results, indices)
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
