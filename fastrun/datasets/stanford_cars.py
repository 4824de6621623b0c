"""``StanfordCars``: the Stanford Cars data set from its devkit's ``.mat`` annotations."""
import os

import numpy as np

from ..registry import DATASETS
from .base import BaseDataset
from .class_names import STANFORD_CARS_CLASSES

__all__ = ['StanfordCars']

_LAYOUT = ('data_prefix/{cars_train,cars_test}/<image>.jpg and data_prefix/devkit/'
           '{cars_train_annos.mat,cars_test_annos_withlabels.mat}')


@DATASETS.register_module()
class StanfordCars(BaseDataset):
    """Stanford Cars: ``data_prefix/cars_train`` (or ``cars_test`` with ``test_mode``) and the
    annotations ``devkit/cars_train_annos.mat`` (``devkit/cars_test_annos_withlabels.mat``),
    or ``ann_file``. Each annotation record holds a box, the class (from 1) and the file name;
    labels are made 0-based. Reading ``.mat`` files needs SciPy (``pip install scipy``).
    """

    CLASSES = STANFORD_CARS_CLASSES

    def __init__(self, data_prefix, test_mode, ann_file=None, **kwargs):
        data_prefix = os.path.expanduser(os.fspath(data_prefix))
        split = 'test' if test_mode else 'train'
        default = ('devkit/cars_test_annos_withlabels.mat' if test_mode
                   else 'devkit/cars_train_annos.mat')
        mat = ann_file if ann_file is not None else os.path.join(data_prefix, default)
        if test_mode:
            self.test_ann_file = mat
        else:
            self.train_ann_file = mat
        self._mat = os.path.expanduser(os.fspath(mat))
        super().__init__(data_prefix=os.path.join(data_prefix, f'cars_{split}'),
                         ann_file=ann_file, test_mode=test_mode, **kwargs)

    def load_annotations(self):
        try:
            import scipy.io
        except ImportError as e:
            raise ImportError('StanfordCars reads .mat annotations with SciPy: '
                              'pip install scipy') from e
        if not os.path.isfile(self._mat):
            raise FileNotFoundError(f'StanfordCars: annotation file {self._mat!r} not found; '
                                    f'expected {_LAYOUT}')
        records = scipy.io.loadmat(self._mat)['annotations'][0]
        # A record: bbox x1, y1, x2, y2, class (from 1), file name.
        return [{'img_prefix': self.data_prefix, 'img_info': {'filename': str(rec[5][0])},
                 'gt_label': np.array(int(rec[4][0][0]) - 1, dtype=np.int64)}
                for rec in records]
