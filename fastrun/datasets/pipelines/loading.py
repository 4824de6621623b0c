"""``LoadImageFromFile``: the first transform of every image pipeline."""
import os.path as osp

import numpy as np

from ...errors import ArgumentError
from ...registry import PIPELINES
from . import _image


def read_bytes(path, file_client_args):
    """The bytes of ``path``: a local file (``backend='disk'``) or any fsspec URL."""
    if file_client_args.get('backend', 'disk') == 'disk' and '://' not in str(path):
        with open(path, 'rb') as f:
            return f.read()
    from ... import storage
    with storage.local_copy(path) as local:
        with open(local, 'rb') as f:
            return f.read()


@PIPELINES.register_module()
class LoadImageFromFile:
    """Read ``img_prefix/img_info['filename']`` into ``results['img']`` (HWC BGR uint8).

    Sets ``filename``, ``ori_filename``, ``img``, ``img_shape``, ``ori_shape`` and an
    ``img_norm_cfg`` of zero means and unit stds, as mmcls's. ``color_type`` is mmcv's flag
    (``'color'``, ``'grayscale'``, ``'unchanged'``, ``'color_ignore_orientation'``,
    ``'grayscale_ignore_orientation'``); ``imdecode_backend`` (``'cv2'``, mmcv's default, or
    ``'pillow'``) picks the decoder (mmcls 0.25 reads it from mmcv's global ``use_backend``).
    ``file_client_args``: ``dict(backend='disk')``; a path that is a URL is read through fsspec.
    A file that is missing or is no image raises an error naming its path.
    """

    def __init__(self, to_float32=False, color_type='color', file_client_args=dict(backend='disk'),
                 imdecode_backend='cv2'):
        if color_type not in _image.COLOR_TYPES:
            raise ArgumentError(f'color_type must be one of {", ".join(_image.COLOR_TYPES)}, '
                                f'got {color_type!r}')
        if imdecode_backend not in ('cv2', 'pillow'):
            raise ArgumentError(f"imdecode_backend must be 'cv2' or 'pillow', "
                                f'got {imdecode_backend!r}')
        if not isinstance(file_client_args, dict):
            raise ArgumentError(f'file_client_args must be a dict, got {file_client_args!r}')
        if file_client_args.get('backend', 'disk') not in ('disk', 'fsspec'):
            raise ArgumentError(f"file_client_args backend must be 'disk' (local files or "
                                f"fsspec URLs), got {file_client_args.get('backend')!r}")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.file_client_args = file_client_args.copy()
        self.imdecode_backend = imdecode_backend

    def filename(self, results):
        prefix = results.get('img_prefix')
        name = results['img_info']['filename']
        return name if prefix is None else osp.join(prefix, name)

    def __call__(self, results):
        filename = self.filename(results)
        try:
            content = read_bytes(filename, self.file_client_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'{type(self).__name__}: no image file {filename}') from None
        img = _image.decode(content, self.color_type, self.imdecode_backend)
        if img is None:
            raise ValueError(f'{type(self).__name__}: {filename} is not an image the '
                             f'{self.imdecode_backend} decoder can read')
        if self.to_float32:
            img = img.astype(np.float32)
        results['filename'] = filename
        results['ori_filename'] = results['img_info']['filename']
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = img.shape
        channels = 1 if img.ndim < 3 else img.shape[2]
        results['img_norm_cfg'] = dict(mean=np.zeros(channels, dtype=np.float32),
                                       std=np.ones(channels, dtype=np.float32), to_rgb=False)
        return results

    def __repr__(self):
        return (f"{type(self).__name__}(to_float32={self.to_float32}, "
                f"color_type='{self.color_type}', file_client_args={self.file_client_args}, "
                f"imdecode_backend='{self.imdecode_backend}')")
