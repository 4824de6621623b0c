"""scikit-learn's bundled 8x8 handwritten digits as a train/val/test classification dataset."""
import functools
import gzip
import importlib.util
import numbers
import os

import numpy as np
import torch

from ..registry import DATASETS
from .base import BaseDataset

__all__ = ['Digits']

_INSTALL_HINT = 'pip install fastrun[digits]'


def _import_load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError('the Digits dataset needs scikit-learn, an optional dependency: '
                          f'{_INSTALL_HINT}') from e
    return load_digits


def bundled_digits_file():
    """Path of the ``digits.csv.gz`` that scikit-learn ships, found without importing it; or None.

    ``import sklearn`` costs 1.5-4 s (SciPy and friends) for a 60 kB file; ``find_spec`` of a
    top-level package only locates its folder.
    """
    try:
        spec = importlib.util.find_spec('sklearn')
    except (ImportError, ValueError):  # a broken install, or a module with no spec
        return None
    for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
        path = os.path.join(folder, 'datasets', 'data', 'digits.csv.gz')
        if os.path.isfile(path):
            return path
    return None


def _read_digits_file(path):
    # The format scikit-learn's load_digits reads: 1,797 rows of 64 pixels then the label.
    with gzip.open(path, 'rt', encoding='utf-8') as f:
        data = np.loadtxt(f, delimiter=',')
    if data.ndim != 2 or data.shape[1] != 65:
        return None
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1]


@functools.lru_cache(maxsize=2)
def _digits_arrays(path):
    # Parsing the bundled CSV takes tens of milliseconds; the three splits share one copy.
    arrays = _read_digits_file(path) if path is not None else None
    if arrays is None:  # no file where scikit-learn keeps it (or a new format): its own loader
        bunch = _import_load_digits()()
        arrays = bunch.images, bunch.target
    images = arrays[0].astype(np.float32)
    labels = arrays[1].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _round_half_up(x):
    # Python's round() rounds half to even; half-up keeps split sizes obvious from the ratios.
    return int(np.floor(x + 0.5))


def stratified_split(labels, seed, val_ratio, test_ratio):
    """Per-class seeded shuffle then cut: ``{'train': idx, 'val': idx, 'test': idx}`` (sorted).

    Uses ``np.random.RandomState``, whose stream numpy keeps stable across versions and
    platforms, so a seed gives the same split on every machine.
    """
    rng = np.random.RandomState(seed)
    parts = {'train': [], 'val': [], 'test': []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = _round_half_up(len(idx) * test_ratio)
        n_val = _round_half_up(len(idx) * val_ratio)
        parts['test'].append(idx[:n_test])
        parts['val'].append(idx[n_test:n_test + n_val])
        parts['train'].append(idx[n_test + n_val:])
    return {k: np.sort(np.concatenate(v)) for k, v in parts.items()}


@DATASETS.register_module()
class Digits(BaseDataset):
    """The 1,797 8x8 digit images of ``sklearn.datasets.load_digits`` (10 classes, no download).

    Images are float32 1x8x8: pixel/16 (so [0, 1]) standardised with the fixed constants
    ``MEAN``/``STD`` (whole-set statistics, identical for every split and machine). The split is
    stratified per class and seeded: the same seed gives the same disjoint train/val/test index
    sets everywhere, together covering all 1,797 images. ``self.indices`` holds this split's
    positions in scikit-learn's order. Needs scikit-learn installed (``pip install
    fastrun[digits]``), whose data file is read directly: scikit-learn itself is not imported.
    """

    CLASSES = tuple(str(i) for i in range(10))
    SPLITS = ('train', 'val', 'test')
    #: Mean and std of all 1,797 images after /16, rounded: fixed so splits never leak statistics.
    MEAN = 0.3053
    STD = 0.3760

    def __init__(self, split='train', seed=0, val_ratio=0.15, test_ratio=0.15):
        super().__init__()
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {list(self.SPLITS)}, got {split!r}')
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f'seed must be a non-negative int, got {seed!r}')
        for name, r in (('val_ratio', val_ratio), ('test_ratio', test_ratio)):
            if not isinstance(r, numbers.Real) or not 0 <= r < 1:
                raise ValueError(f'{name} must be a number in [0, 1), got {r!r}')
        if val_ratio + test_ratio >= 1:
            raise ValueError(f'val_ratio + test_ratio must be below 1 to leave a train split, '
                             f'got {val_ratio} + {test_ratio}')
        self.split = split
        self.seed = int(seed)
        path = bundled_digits_file()
        if path is None:
            _import_load_digits()  # scikit-learn missing: the error says how to install it
        images, labels = _digits_arrays(path)
        self.indices = stratified_split(labels, self.seed, val_ratio, test_ratio)[split]
        imgs = (images[self.indices] / 16.0 - self.MEAN) / self.STD
        self.imgs = torch.from_numpy(np.ascontiguousarray(imgs, dtype=np.float32)).unsqueeze(1)
        self.gt_labels = torch.from_numpy(labels[self.indices].copy())

    def __repr__(self):
        return f'{type(self).__name__}(split={self.split!r}, seed={self.seed}, len={len(self)})'
