"""``ImageNet`` and ``ImageNet21k``: :class:`CustomDataset` layouts with ImageNet's classes."""
import pickle
import warnings

import numpy as np

from ..registry import DATASETS
from .class_names import IMAGENET_CLASSES
from .custom import CustomDataset

__all__ = ['ImageNet', 'ImageNet21k']


@DATASETS.register_module()
class ImageNet(CustomDataset):
    """ImageNet-1k: ``data_prefix/<synset>/<image>`` (1000 folders) or an ``ann_file``.

    ``CLASSES`` are the 1000 ImageNet class names; with class folders their number must equal
    the number of class names (pass ``classes=`` for a subset of the folders' classes).
    """

    CLASSES = IMAGENET_CLASSES

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None, test_mode=False,
                 file_client_args=None):
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes,
                         ann_file=ann_file, extensions=self.IMG_EXTENSIONS, test_mode=test_mode,
                         file_client_args=file_client_args)


@DATASETS.register_module()
class ImageNet21k(CustomDataset):
    """ImageNet-21k: the :class:`CustomDataset` layouts, no built-in class names.

    ``serialize_data`` (default True) keeps the annotations as one pickled byte array rather
    than a list of dicts, so loader workers share the parent's pages instead of copying
    millions of Python objects. ``multi_label`` is not supported (as in mmcls);
    ``recursion_subdir`` must stay True (images are always found recursively).
    """

    CLASSES = None

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None, serialize_data=True,
                 multi_label=False, recursion_subdir=True, test_mode=False, file_client_args=None):
        if not recursion_subdir:
            raise ValueError('ImageNet21k: recursion_subdir=False is not supported; images are '
                             'always found in every sub-folder')
        if multi_label:
            raise NotImplementedError('ImageNet21k: multi_label=True is not supported')
        self.multi_label = False
        self.serialize_data = bool(serialize_data)
        if ann_file is None:
            warnings.warn('ImageNet21k: scanning the class folders of ImageNet-21k takes long; '
                          'an ann_file makes the start fast', UserWarning)
        if classes is None:
            warnings.warn('ImageNet21k: no class names (pass classes= to name the classes)',
                          UserWarning)
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes,
                         ann_file=ann_file, extensions=self.IMG_EXTENSIONS, test_mode=test_mode,
                         file_client_args=file_client_args)
        self._labels = np.array([info['gt_label'] for info in self.data_infos], dtype=np.int64)
        if self.serialize_data:
            chunks = [np.frombuffer(pickle.dumps(info, protocol=4), dtype=np.uint8)
                      for info in self.data_infos]
            self.data_address = np.cumsum([len(c) for c in chunks], dtype=np.int64)
            self.data_infos_bytes = (np.concatenate(chunks) if chunks
                                     else np.zeros(0, dtype=np.uint8))
            self.data_infos = []

    def get_data_info(self, idx):
        """The annotation dict of sample ``idx`` (a fresh copy when serialized)."""
        if not self.serialize_data:
            return self.data_infos[idx]
        if idx < 0:
            idx += len(self)
        start = int(self.data_address[idx - 1]) if idx > 0 else 0
        return pickle.loads(memoryview(self.data_infos_bytes[start:int(self.data_address[idx])]))

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        if not self.serialize_data:
            import copy
            info = copy.deepcopy(info)
        return self.pipeline(info)

    def __len__(self):
        return len(self._labels)

    def get_gt_labels(self):
        return self._labels.copy()

    def get_cat_ids(self, idx):
        return [int(self._labels[idx])]
