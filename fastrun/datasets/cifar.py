"""``CIFAR10`` and ``CIFAR100`` from the python pickle batches; nothing is ever downloaded."""
import os
import pickle

import numpy as np

from ..registry import DATASETS
from .base import BaseDataset
from .class_names import CIFAR10_CLASSES, CIFAR100_CLASSES

__all__ = ['CIFAR10', 'CIFAR100']


@DATASETS.register_module()
class CIFAR10(BaseDataset):
    """CIFAR-10 from ``data_prefix/cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``
    (train), ``test_batch`` (``test_mode=True``) and ``batches.meta`` (class names).

    Each batch is the python pickle of the published archive (``data``: N x 3072 uint8, the
    red, green then blue 32x32 planes; ``labels``, or ``fine_labels`` for CIFAR-100).
    ``data_infos`` entries are ``{'img': 32x32x3 uint8 (RGB, HWC), 'gt_label': np.int64}``.
    The files are never downloaded and their checksums are not checked: a missing file is an
    error naming it and the layout expected (extract the archive under ``data_prefix``).
    ``classes`` names the classes; without it they are the meta file's (else the built-in
    names when there is no meta file).
    """

    base_folder = 'cifar-10-batches-py'
    archive = 'cifar-10-python.tar.gz'
    train_list = ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5')
    test_list = ('test_batch',)
    meta = {'filename': 'batches.meta', 'key': 'label_names'}
    CLASSES = CIFAR10_CLASSES

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None, test_mode=False,
                 file_client_args=None):
        self._classes_given = classes is not None
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes,
                         ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args)

    def _layout(self):
        files = ', '.join(self.train_list + self.test_list + (self.meta['filename'],))
        return (f'expected data_prefix/{self.base_folder}/{{{files}}} (the {self.archive} '
                'archive extracted into data_prefix; fastrun downloads nothing)')

    def _path(self, name):
        return os.path.join(os.fspath(self.data_prefix), self.base_folder, name)

    def _load(self, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{type(self).__name__}: {path!r} not found; {self._layout()}')
        with open(path, 'rb') as f:
            try:
                return pickle.load(f, encoding='latin1')
            except Exception as e:
                raise ValueError(f'{type(self).__name__}: {path!r} is not a CIFAR python pickle '
                                 f'batch ({type(e).__name__}: {e}); {self._layout()}') from None

    def load_annotations(self):
        imgs, labels = [], []
        for name in (self.test_list if self.test_mode else self.train_list):
            path = self._path(name)
            entry = self._load(path)
            key = 'labels' if 'labels' in entry else 'fine_labels'
            if 'data' not in entry or key not in entry:
                raise ValueError(f"{type(self).__name__}: {path!r} has no 'data' and "
                                 f"'labels'/'fine_labels' entries; {self._layout()}")
            imgs.append(np.asarray(entry['data'], dtype=np.uint8))
            labels.extend(entry[key])
        # N x 3072 planes -> N x 32 x 32 x 3 (HWC), as the pipeline's transforms take images.
        imgs = np.vstack(imgs).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        if len(imgs) != len(labels):
            raise ValueError(f'{type(self).__name__}: {len(imgs)} images but {len(labels)} labels '
                             f'in {self._path("")!r}')
        meta_path = self._path(self.meta['filename'])
        if not self._classes_given and os.path.isfile(meta_path):
            self.CLASSES = tuple(self._load(meta_path)[self.meta['key']])
        self.imgs_array = imgs
        return [{'img': img, 'gt_label': np.array(label, dtype=np.int64)}
                for img, label in zip(imgs, labels)]


@DATASETS.register_module()
class CIFAR100(CIFAR10):
    """CIFAR-100 from ``data_prefix/cifar-100-python/``: ``train``, ``test`` and ``meta``
    (``fine_label_names``); the labels are the 100 fine labels. See :class:`CIFAR10`."""

    base_folder = 'cifar-100-python'
    archive = 'cifar-100-python.tar.gz'
    train_list = ('train',)
    test_list = ('test',)
    meta = {'filename': 'meta', 'key': 'fine_label_names'}
    CLASSES = CIFAR100_CLASSES
