"""``MNIST`` and ``FashionMNIST`` from the idx files (raw or gzipped); nothing is downloaded."""
import gzip
import os

import numpy as np

from ..registry import DATASETS
from .base import BaseDataset
from .class_names import FASHION_MNIST_CLASSES, MNIST_CLASSES

__all__ = ['MNIST', 'FashionMNIST', 'read_idx']

# idx type byte -> numpy dtype (big-endian where it matters), per the format's definition.
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
              0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


def read_idx(path):
    """The array of an idx file (``.gz`` read compressed): magic ``0 0 <type> <ndim>``, then
    ``ndim`` big-endian uint32 sizes, then the values."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    if len(data) < 4 or data[0] or data[1] or data[2] not in _IDX_TYPES or not 1 <= data[3] <= 3:
        raise ValueError(f'{path!r} is not an idx file (bad magic number)')
    ndim, dtype = data[3], np.dtype(_IDX_TYPES[data[2]])
    shape = tuple(int(s) for s in np.frombuffer(data, dtype='>u4', count=ndim, offset=4))
    count = int(np.prod(shape))
    offset = 4 + 4 * ndim
    if len(data) - offset < count * dtype.itemsize:
        raise ValueError(f'{path!r} is truncated: {shape} values announced')
    values = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return values.astype(dtype.newbyteorder('='), copy=False).reshape(shape)


@DATASETS.register_module()
class MNIST(BaseDataset):
    """MNIST from ``data_prefix``: ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (train), ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (``test_mode=True``),
    each raw or with ``.gz``. ``data_infos`` entries are ``{'img': 28x28 uint8, 'gt_label':
    np.int64}``. Only the split's two files are needed; nothing is downloaded.
    """

    resources = {'train_image_file': 'train-images-idx3-ubyte',
                 'train_label_file': 'train-labels-idx1-ubyte',
                 'test_image_file': 't10k-images-idx3-ubyte',
                 'test_label_file': 't10k-labels-idx1-ubyte'}
    CLASSES = MNIST_CLASSES

    def _find(self, key):
        name = self.resources[key]
        base = os.path.join(os.fspath(self.data_prefix), name)
        for path in (base, base + '.gz'):
            if os.path.isfile(path):
                return path
        files = ', '.join(self.resources.values())
        raise FileNotFoundError(f'{type(self).__name__}: {base!r} (or {name}.gz) not found; '
                                f'expected data_prefix/{{{files}}}, each raw or .gz '
                                '(fastrun downloads nothing)')

    def load_annotations(self):
        split = 'test' if self.test_mode else 'train'
        image_path = self._find(f'{split}_image_file')
        label_path = self._find(f'{split}_label_file')
        imgs, labels = read_idx(image_path), read_idx(label_path)
        if imgs.ndim != 3 or imgs.dtype != np.uint8:
            raise ValueError(f'{type(self).__name__}: {image_path!r} holds {imgs.dtype} of shape '
                             f'{imgs.shape}, not N x H x W uint8 images')
        if labels.ndim != 1 or len(labels) != len(imgs):
            raise ValueError(f'{type(self).__name__}: {label_path!r} holds {labels.shape} labels '
                             f'for {len(imgs)} images')
        return [{'img': img, 'gt_label': np.array(label, dtype=np.int64)}
                for img, label in zip(imgs, labels)]


@DATASETS.register_module()
class FashionMNIST(MNIST):
    """Fashion-MNIST: the file names and layout of :class:`MNIST`, its own class names."""

    CLASSES = FASHION_MNIST_CLASSES
