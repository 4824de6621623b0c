"""``VOC``: PASCAL VOC 2007 as a multi-label classification data set (mmcls 0.x)."""
import os
import xml.etree.ElementTree as ET

import numpy as np

from ..registry import DATASETS
from .base import read_lines
from .class_names import VOC_CLASSES
from .multi_label import MultiLabelDataset

__all__ = ['VOC']

_LAYOUT = ('data_prefix/JPEGImages/<id>.jpg and data_prefix/Annotations/<id>.xml, the ids '
           'listed in ann_file (e.g. data_prefix/ImageSets/Main/trainval.txt)')


@DATASETS.register_module()
class VOC(MultiLabelDataset):
    """PASCAL VOC 2007: ``ann_file`` lists image ids; each id's ``Annotations/<id>.xml`` gives
    its objects' class names and ``difficult`` flags.

    ``gt_label`` (int8, one entry per class): 1 for a class with a non-difficult object, else
    for a class with only difficult objects -1 (``difficult_as_postive=None``, mmcls's
    spelling kept), 1 (True) or 0 (False), else 0. Names outside ``CLASSES`` are skipped.
    ``data_prefix`` must name the VOC2007 folder (the year is read from it, as mmcls does).
    """

    CLASSES = VOC_CLASSES

    def __init__(self, difficult_as_postive=None, **kwargs):
        self.difficult_as_postive = difficult_as_postive
        prefix = str(kwargs.get('data_prefix', ''))
        if 'VOC2007' not in prefix:
            raise ValueError(f'VOC: cannot tell the data set year from data_prefix {prefix!r}; '
                             'it must be the VOC2007 folder (e.g. data/VOCdevkit/VOC2007/)')
        if kwargs.get('ann_file') is None:
            raise ValueError(f'VOC: ann_file is needed, the list of image ids; expected {_LAYOUT}')
        super().__init__(**kwargs)
        self.year = 2007

    def load_annotations(self):
        infos = []
        prefix = os.fspath(self.data_prefix)
        for img_id in read_lines(self.ann_file, 'VOC'):
            img_id = img_id.strip()
            xml_path = os.path.join(prefix, 'Annotations', f'{img_id}.xml')
            if not os.path.isfile(xml_path):
                raise FileNotFoundError(f'VOC: {xml_path!r} not found; expected {_LAYOUT}')
            root = ET.parse(xml_path).getroot()
            present, difficult = [], []
            for obj in root.findall('object'):
                name = obj.find('name').text
                if name not in self.CLASSES:
                    continue
                flag = obj.find('difficult')
                is_difficult = flag is not None and int(flag.text)
                (difficult if is_difficult else present).append(self.class_to_idx[name])
            gt_label = np.zeros(len(self.CLASSES))
            if self.difficult_as_postive is None:
                gt_label[difficult] = -1
            else:
                gt_label[difficult] = 1 if self.difficult_as_postive else 0
            gt_label[present] = 1
            infos.append(dict(img_prefix=self.data_prefix,
                              img_info=dict(filename=f'JPEGImages/{img_id}.jpg'),
                              gt_label=gt_label.astype(np.int8)))
        return infos
