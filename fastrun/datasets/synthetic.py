"""A deterministic random classification dataset for tests and benchmarks."""
import numbers

import numpy as np
import torch

from ..registry import DATASETS
from .base import BaseDataset

__all__ = ['SyntheticClassification']


@DATASETS.register_module()
class SyntheticClassification(BaseDataset):
    """``num_samples`` standard-normal images of ``shape`` with labels in ``[0, num_classes)``.

    With ``learnable`` the label is the arg-max of a fixed seeded linear projection of the image,
    so a linear model can fit it; otherwise labels are uniform noise. Everything is generated
    once in ``__init__`` with ``np.random.RandomState(seed)`` (stable across numpy versions and
    machines), so ``__getitem__`` is a tensor index.
    """

    def __init__(self, num_samples=256, shape=(3, 8, 8), num_classes=10, seed=0, learnable=True):
        super().__init__()
        shape = tuple(shape)
        if not isinstance(num_samples, numbers.Integral) or num_samples < 1:
            raise ValueError(f'num_samples must be a positive int, got {num_samples!r}')
        if not shape or any(not isinstance(s, numbers.Integral) or s < 1 for s in shape):
            raise ValueError(f'shape must be a tuple of positive ints, got {shape!r}')
        if not isinstance(num_classes, numbers.Integral) or num_classes < 2:
            raise ValueError(f'num_classes must be an int >= 2, got {num_classes!r}')
        self.CLASSES = tuple(str(i) for i in range(num_classes))
        self.shape = shape
        self.num_classes = int(num_classes)
        self.seed = seed
        self.learnable = bool(learnable)
        rng = np.random.RandomState(seed)
        imgs = rng.standard_normal((num_samples,) + shape)
        if self.learnable:
            proj = rng.standard_normal((int(np.prod(shape)), num_classes))
            labels = (imgs.reshape(num_samples, -1) @ proj).argmax(axis=1)
        else:
            labels = rng.randint(0, num_classes, size=num_samples)
        self.imgs = torch.from_numpy(imgs.astype(np.float32))
        self.gt_labels = torch.from_numpy(labels.astype(np.int64))

    def __repr__(self):
        return (f'{type(self).__name__}(num_samples={len(self)}, shape={self.shape}, '
                f'num_classes={self.num_classes}, seed={self.seed}, learnable={self.learnable})')
