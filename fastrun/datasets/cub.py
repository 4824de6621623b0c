"""``CUB``: Caltech-UCSD Birds-200-2011, from its three index files (mmcls 0.x)."""
import numpy as np

from ..registry import DATASETS
from .base import BaseDataset, read_lines
from .class_names import CUB_CLASSES

__all__ = ['CUB']


@DATASETS.register_module()
class CUB(BaseDataset):
    """CUB-200-2011: ``ann_file`` (``images.txt``: ``<id> <path>``), ``image_class_labels_file``
    (``<id> <label from 1>``) and ``train_test_split_file`` (``<id> <1 train / 0 test>``), the
    image paths relative to ``data_prefix`` (the ``images`` folder). Labels are made 0-based.
    """

    CLASSES = CUB_CLASSES

    def __init__(self, *args, ann_file, image_class_labels_file, train_test_split_file, **kwargs):
        self.image_class_labels_file = image_class_labels_file
        self.train_test_split_file = train_test_split_file
        super().__init__(*args, ann_file=ann_file, **kwargs)

    @staticmethod
    def _column(path, what, convert):
        out = []
        for i, line in enumerate(read_lines(path, 'CUB', what), 1):
            parts = line.strip().split(' ')
            try:
                out.append(convert(parts[1]))
            except (IndexError, ValueError):
                raise ValueError(f'CUB: {path!r} line {i}: expected "<image id> <value>", '
                                 f'got {line!r}') from None
        return out

    def load_annotations(self):
        files = self._column(self.ann_file, 'ann_file (images.txt)', str)
        labels = self._column(self.image_class_labels_file,
                              'image_class_labels_file (image_class_labels.txt)', int)
        splits = self._column(self.train_test_split_file,
                              'train_test_split_file (train_test_split.txt)', int)
        if not len(files) == len(labels) == len(splits):
            raise ValueError(f'CUB: {len(files)} images, {len(labels)} labels and {len(splits)} '
                             'split flags: the three files must list the same images')
        # Split flag 1: a training image, 0: a test image.
        return [{'img_prefix': self.data_prefix, 'img_info': {'filename': f},
                 'gt_label': np.array(label - 1, dtype=np.int64)}
                for f, label, split in zip(files, labels, splits)
                if bool(split) != self.test_mode]
