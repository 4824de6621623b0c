"""``CustomDataset``: images under class folders, or listed in an annotation file (mmcls 0.x)."""
import os
import warnings

import numpy as np

from ..registry import DATASETS
from .base import BaseDataset, read_lines

__all__ = ['CustomDataset', 'find_folders', 'scan_samples']

_LAYOUT = 'data_prefix/<class_name>/**/<image>'


def find_folders(root):
    """``(folders, folder_to_idx)``: the sorted sub-folders of ``root`` and their labels.

    Every sub-folder counts, hidden ones included, as mmcls counts them: the labels are the
    ones a model trained with mmcls on the same folder learnt.
    """
    folders = sorted(e.name for e in os.scandir(root) if os.path.isdir(e.path))
    return folders, {name: i for i, name in enumerate(folders)}


def _files_under(folder):
    # Every non-hidden file below ``folder`` (through any sub-folder), relative to it.
    out = []
    for entry in os.scandir(folder):
        if not entry.name.startswith('.') and entry.is_file():
            out.append(entry.name)
        elif os.path.isdir(entry.path):
            out.extend(os.path.join(entry.name, f) for f in _files_under(entry.path))
    return out


def scan_samples(root, folder_to_idx, is_valid_file):
    """``(samples, empty_folders)``: ``(folder/relative path, label)`` for each valid file under
    each class folder (folders in name order, files in sorted relative-path order), and the
    class folders without any."""
    samples, found = [], set()
    for name in sorted(folder_to_idx):
        for rel in sorted(_files_under(os.path.join(root, name))):
            if is_valid_file(rel):
                samples.append((os.path.join(name, rel), folder_to_idx[name]))
                found.add(name)
    return samples, set(folder_to_idx) - found


@DATASETS.register_module()
class CustomDataset(BaseDataset):
    """Images of ``data_prefix``, labelled by an annotation file or by their class folder.

    With ``ann_file``: a text file with one ``<path relative to data_prefix> <label>`` a line
    (the last space separates the label, so paths may hold spaces); ``classes`` names the
    classes. Without it: ``data_prefix/<class_name>/**/<image>``, the classes being the sorted
    sub-folder names (``classes``, when given, must have as many names; they replace the folder
    names); files are matched by ``extensions`` (case ignored). ``data_infos`` entries are
    ``{'img_prefix': data_prefix, 'img_info': {'filename': path}, 'gt_label': np.int64}``, the
    keys ``LoadImageFromFile`` reads.
    """

    IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')

    def __init__(self, data_prefix, pipeline=(), classes=None, ann_file=None,
                 extensions=('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif'),
                 test_mode=False, file_client_args=None):
        self.extensions = tuple(sorted({e.lower() for e in extensions}))
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes,
                         ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args)

    def is_valid_file(self, filename):
        """Whether ``filename`` ends with one of ``extensions`` (case ignored)."""
        return filename.lower().endswith(self.extensions)

    def _find_samples(self):
        name = type(self).__name__
        root = self.data_prefix
        if not isinstance(root, str) or not os.path.isdir(root):
            raise FileNotFoundError(f'{name}: data_prefix {root!r} is not a directory; expected '
                                    f'{_LAYOUT} (or an ann_file listing the images)')
        classes, folder_to_idx = find_folders(root)
        samples, empty = scan_samples(root, folder_to_idx, self.is_valid_file)
        if not samples:
            raise FileNotFoundError(f'{name}: found no image in the sub-folders of {root!r} '
                                    f'(extensions {", ".join(self.extensions)}); expected {_LAYOUT}')
        if self.CLASSES is not None:
            if len(self.CLASSES) != len(classes):
                raise ValueError(f'{name}: {root!r} has {len(classes)} class sub-folders but '
                                 f'there are {len(self.CLASSES)} class names; check the data '
                                 'folder, or pass classes= with one name per sub-folder')
        else:
            self.CLASSES = tuple(classes)
        if empty:
            warnings.warn(f'{name}: no image in the folder(s) {", ".join(sorted(empty))} of '
                          f'{root!r} (extensions {", ".join(self.extensions)})', UserWarning)
        self.folder_to_idx = folder_to_idx
        return samples

    def _read_ann_file(self):
        name = type(self).__name__
        if not isinstance(self.ann_file, str):
            raise TypeError(f'{name}: ann_file must be a str or None, '
                            f'got {type(self.ann_file).__name__}')
        samples = []
        for i, line in enumerate(read_lines(self.ann_file, name), 1):
            parts = line.strip().rsplit(' ', 1)
            try:
                samples.append((parts[0], int(parts[1])))
            except (IndexError, ValueError):
                raise ValueError(f'{name}: {self.ann_file!r} line {i}: expected '
                                 f"'<image path> <integer label>', got {line!r}") from None
        return samples

    def load_annotations(self):
        samples = self._find_samples() if self.ann_file is None else self._read_ann_file()
        return [{'img_prefix': self.data_prefix, 'img_info': {'filename': filename},
                 'gt_label': np.array(label, dtype=np.int64)} for filename, label in samples]

    def __repr__(self):
        split = 'test' if self.test_mode else 'train'
        return (f'{type(self).__name__}(data_prefix={self.data_prefix!r}, {split}, '
                f'classes={None if self.CLASSES is None else len(self.CLASSES)}, len={len(self)})')
