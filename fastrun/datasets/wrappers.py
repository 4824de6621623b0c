"""Data sets made of data sets: ``ConcatDataset``, ``RepeatDataset``, ``ClassBalancedDataset``
and ``KFoldDataset``, with mmclassification 0.x's arguments and semantics."""
import bisect
import logging
import math
from collections import defaultdict

import numpy as np
from torch.utils.data import ConcatDataset as _TorchConcatDataset

from ..registry import DATASETS

__all__ = ['ConcatDataset', 'RepeatDataset', 'ClassBalancedDataset', 'KFoldDataset']

_LOG = logging.getLogger('fastrun')


def _describe(wrapper, inner):
    split = 'test' if getattr(inner, 'test_mode', False) else 'train'
    return (f'{type(wrapper).__name__}({type(inner).__name__}, {split}, '
            f'{len(wrapper)} samples)')


@DATASETS.register_module()
class ConcatDataset(_TorchConcatDataset):
    """``datasets`` one after the other (torch's ``ConcatDataset``) with ``CLASSES`` of the
    first, ``get_cat_ids`` and ``evaluate``: with ``separate_eval`` (default) each data set
    scores its own share of the results, keys prefixed ``'<i>_'``; without it the first data
    set scores all the results against every data set's labels (all must be of one type)."""

    def __init__(self, datasets, separate_eval=True):
        super().__init__(datasets)
        self.separate_eval = bool(separate_eval)
        self.CLASSES = self.datasets[0].CLASSES
        if not self.separate_eval and len({type(ds) for ds in self.datasets}) != 1:
            raise NotImplementedError('ConcatDataset: evaluating the data sets together '
                                      '(separate_eval=False) needs data sets of one type')

    def _locate(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError('absolute value of index should not exceed dataset length')
            idx += len(self)
        ds = bisect.bisect_right(self.cumulative_sizes, idx)
        return ds, idx - (self.cumulative_sizes[ds - 1] if ds else 0)

    def get_cat_ids(self, idx):
        ds, sample = self._locate(idx)
        return self.datasets[ds].get_cat_ids(sample)

    def get_gt_labels(self):
        return np.concatenate([np.asarray(ds.get_gt_labels()) for ds in self.datasets])

    def evaluate(self, results, *args, indices=None, logger=None, **kwargs):
        if indices is not None:
            raise NotImplementedError('ConcatDataset: evaluate(indices=...) is not supported')
        if len(results) != len(self):
            raise ValueError(f'ConcatDataset: {len(results)} results for {len(self)} samples')
        if self.separate_eval:
            out = {}
            for i, ds in enumerate(self.datasets):
                start = self.cumulative_sizes[i - 1] if i else 0
                part = results[start:self.cumulative_sizes[i]]
                log = logging.getLogger(logger) if isinstance(logger, str) else (logger or _LOG)
                log.info('Evaluating dataset-%d with %d images now', i, len(part))
                for k, v in ds.evaluate(part, *args, logger=logger, **kwargs).items():
                    out[f'{i}_{k}'] = v
            return out
        first = self.datasets[0]
        if any(getattr(ds, 'data_infos', None) is None for ds in self.datasets):
            raise NotImplementedError('ConcatDataset: separate_eval=False needs data sets with '
                                      'data_infos (the annotation form)')
        saved = first.data_infos
        first.data_infos = sum((list(ds.data_infos) for ds in self.datasets), [])
        try:
            return first.evaluate(results, *args, logger=logger, **kwargs)
        finally:
            first.data_infos = saved


class _Evaluating:
    def evaluate(self, *args, **kwargs):
        raise NotImplementedError(f'{type(self).__name__}: evaluating a repeated data set is '
                                  'not meaningful; evaluate the data set itself')


@DATASETS.register_module()
class RepeatDataset(_Evaluating):
    """``dataset`` repeated ``times`` times: one pass over it is ``times`` passes over the
    data set (fewer epoch boundaries, which restart the loader's workers)."""

    def __init__(self, dataset, times):
        if not isinstance(times, int) or times < 1:
            raise ValueError(f'RepeatDataset: times must be a positive int, got {times!r}')
        self.dataset = dataset
        self.times = times
        self.CLASSES = dataset.CLASSES
        self._ori_len = len(dataset)

    def __getitem__(self, idx):
        return self.dataset[idx % self._ori_len]

    def get_cat_ids(self, idx):
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def __len__(self):
        return self.times * self._ori_len

    def __repr__(self):
        return _describe(self, self.dataset)


@DATASETS.register_module()
class ClassBalancedDataset(_Evaluating):
    """``dataset`` with each sample repeated ``ceil(r)`` times, ``r`` the largest over its
    categories ``c`` of ``max(1, sqrt(oversample_thr / f(c)))``, ``f(c)`` the fraction of
    samples with category ``c`` (from ``get_cat_ids``): rare classes are seen more often."""

    def __init__(self, dataset, oversample_thr):
        self.dataset = dataset
        self.oversample_thr = oversample_thr
        self.CLASSES = dataset.CLASSES
        factors = self._get_repeat_factors(dataset, oversample_thr)
        self.repeat_indices = [i for i, f in enumerate(factors) for _ in range(math.ceil(f))]
        flags = []
        if hasattr(dataset, 'flag'):
            for flag, f in zip(dataset.flag, factors):
                flags.extend([flag] * int(math.ceil(f)))
        self.flag = np.asarray(flags, dtype=np.uint8)

    @staticmethod
    def _get_repeat_factors(dataset, repeat_thr):
        n = len(dataset)
        cats = [set(dataset.get_cat_ids(i)) for i in range(n)]
        freq = defaultdict(int)
        for ids in cats:
            for c in ids:
                freq[c] += 1
        repeat = {c: max(1.0, math.sqrt(repeat_thr / (v / n))) for c, v in freq.items()}
        factors = []
        for i, ids in enumerate(cats):
            if not ids:
                raise ValueError(f'ClassBalancedDataset: sample {i} has no category '
                                 '(get_cat_ids is empty)')
            factors.append(max(repeat[c] for c in ids))
        return factors

    def __getitem__(self, idx):
        return self.dataset[self.repeat_indices[idx]]

    def get_cat_ids(self, idx):
        return self.dataset.get_cat_ids(self.repeat_indices[idx])

    def __len__(self):
        return len(self.repeat_indices)

    def __repr__(self):
        return _describe(self, self.dataset)


@DATASETS.register_module()
class KFoldDataset:
    """Fold ``fold`` of ``num_splits`` of ``dataset`` (``test_mode``) or the other folds.

    The samples are split in order, or after a shuffle by ``np.random.default_rng(seed)``
    when ``seed`` is an int; fold ``f`` is ``[n*f // k, n*(f+1) // k)`` of that order.
    ``evaluate`` scores the fold's results against its samples' labels.
    """

    def __init__(self, dataset, fold=0, num_splits=5, test_mode=False, seed=None):
        if not isinstance(num_splits, int) or num_splits < 2:
            raise ValueError(f'KFoldDataset: num_splits must be an int >= 2, got {num_splits!r}')
        if not isinstance(fold, int) or not 0 <= fold < num_splits:
            raise ValueError(f'KFoldDataset: fold must be in [0, {num_splits - 1}], got {fold!r}')
        self.dataset = dataset
        self.CLASSES = dataset.CLASSES
        self.test_mode = bool(test_mode)
        self.num_splits = num_splits
        self.fold = fold
        n = len(dataset)
        indices = list(range(n))
        if isinstance(seed, int):
            np.random.default_rng(seed).shuffle(indices)
        start, end = n * fold // num_splits, n * (fold + 1) // num_splits
        self.indices = indices[start:end] if test_mode else indices[:start] + indices[end:]

    def get_cat_ids(self, idx):
        return self.dataset.get_cat_ids(self.indices[idx])

    def get_gt_labels(self):
        labels = self.dataset.get_gt_labels()
        return np.array([labels[i] for i in self.indices])

    def __getitem__(self, idx):
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)

    def evaluate(self, *args, **kwargs):
        kwargs['indices'] = self.indices
        return self.dataset.evaluate(*args, **kwargs)

    def __repr__(self):
        return _describe(self, self.dataset)
