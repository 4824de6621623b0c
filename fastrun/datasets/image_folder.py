"""Images stored as ``data_prefix/<class_name>/<image>``, read with Pillow."""
import os

import numpy as np
import torch

from ..registry import DATASETS
from .base import BaseDataset

__all__ = ['ImageFolder', 'IMG_EXTENSIONS']

#: File endings (case-insensitive) taken as images.
IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')
_RESAMPLE_MODE = {'1': 'L', 'LA': 'L', 'P': 'RGB', 'PA': 'RGB', 'RGBA': 'RGB',
                  'I;16': 'I', 'I;16L': 'I', 'I;16B': 'I'}


def _import_pil():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError('ImageFolder needs Pillow: pip install pillow') from e
    return Image


def _to_tensor(img):
    """CxHxW float32 in [0, 1]: grayscale modes give 1 channel, everything else RGB."""
    if img.mode in ('1', 'L', 'LA'):
        arr = np.asarray(img.convert('L'), dtype=np.float32) / 255.0
    elif img.mode.startswith('I'):
        # 16-bit PNGs open as I / I;16: scale by the 16-bit range, not by 255.
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    elif img.mode == 'F':
        arr = np.asarray(img, dtype=np.float32)
    else:
        arr = np.asarray(img.convert('RGB'), dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


@DATASETS.register_module()
class ImageFolder(BaseDataset):
    """A folder per class: ``data_prefix/<class>/**/*.png|jpg|jpeg|bmp`` (extension case ignored).

    Classes default to the sorted sub-folder names (hidden ones skipped); ``classes`` (names or
    a text file of names) picks and orders them. Images are decoded lazily in ``__getitem__`` to
    float CxHxW in [0, 1] (grayscale -> 1 channel, else RGB), resized to ``img_size`` (an int or
    ``(h, w)``) with bilinear filtering when given; without it, batching needs equal sizes.
    """

    def __init__(self, data_prefix, classes=None, img_size=None):
        super().__init__()
        _import_pil()  # fail at construction, not in a worker, when Pillow is missing
        data_prefix = os.fspath(data_prefix)
        if not os.path.isdir(data_prefix):
            raise FileNotFoundError(f'ImageFolder data_prefix {data_prefix!r} does not exist '
                                    'or is not a directory')
        if classes is None:
            names = sorted(e.name for e in os.scandir(data_prefix)
                           if e.is_dir() and not e.name.startswith('.'))
            if not names:
                raise ValueError(f'ImageFolder data_prefix {data_prefix!r} has no class '
                                 'sub-folders; expected data_prefix/<class_name>/<images>')
            self.CLASSES = tuple(names)
        else:
            self.CLASSES = self.get_classes(classes)
        if img_size is not None:
            img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
            if len(img_size) != 2 or any(not isinstance(s, int) or s < 1 for s in img_size):
                raise ValueError(f'img_size must be a positive int or (h, w), got {img_size!r}')
        self.data_prefix = data_prefix
        self.img_size = img_size
        self.samples = []
        for label, name in enumerate(self.CLASSES):
            folder = os.path.join(data_prefix, name)
            if not os.path.isdir(folder):
                raise FileNotFoundError(f'ImageFolder class folder {folder!r} does not exist')
            files = []
            for root, dirs, fnames in os.walk(folder, followlinks=True):
                dirs.sort()
                files.extend(os.path.join(root, f) for f in sorted(fnames)
                             if f.lower().endswith(IMG_EXTENSIONS))
            if not files:
                raise ValueError(f'ImageFolder class folder {folder!r} holds no images '
                                 f'(looked for {", ".join(IMG_EXTENSIONS)})')
            self.samples.extend((f, label) for f in files)
        self.gt_labels = torch.tensor([label for _, label in self.samples], dtype=torch.long)

    def load_image(self, path):
        """Read one image file as a float CxHxW tensor in [0, 1], resized if ``img_size``."""
        Image = _import_pil()
        with Image.open(path) as img:
            img.load()
            if self.img_size is not None:
                # Pillow only resamples some modes bilinearly (palette images only by nearest):
                # move to the mode _to_tensor would produce anyway, then resize.
                mode = _RESAMPLE_MODE.get(img.mode)
                if mode is not None:
                    img = img.convert(mode)
                h, w = self.img_size
                img = img.resize((w, h), getattr(Image, 'Resampling', Image).BILINEAR)
            return _to_tensor(img)

    def __getitem__(self, idx):
        path, _ = self.samples[idx]
        return dict(img=self.load_image(path), gt_label=self.gt_labels[idx])

    def __repr__(self):
        return (f'{type(self).__name__}(data_prefix={self.data_prefix!r}, '
                f'classes={len(self.CLASSES)}, len={len(self)})')
