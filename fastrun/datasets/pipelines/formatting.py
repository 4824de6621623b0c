"""The last transforms of a pipeline: arrays to tensors, and ``Collect``."""
from collections.abc import Sequence

import numpy as np
import torch

from ...errors import ArgumentTypeError
from ...registry import PIPELINES


def to_tensor(data):
    """``data`` as a tensor: an ndarray shares its memory, a sequence is copied, an int is a
    1-element long tensor and a float a 1-element float tensor (mmcls's rules)."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    if isinstance(data, int):
        return torch.LongTensor([data])
    if isinstance(data, float):
        return torch.FloatTensor([data])
    raise ArgumentTypeError(f'{type(data).__name__} cannot be made a tensor: give an ndarray, '
                            'a tensor, a sequence, an int or a float')


def _keys(keys, name):
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        raise ArgumentTypeError(f'{name} must be a list of keys, got {keys!r}')
    return keys


def _get(results, key, transform):
    try:
        return results[key]
    except KeyError:
        raise KeyError(f'{transform}: the results have no {key!r} (they have '
                       f'{", ".join(sorted(map(str, results)))})') from None


@PIPELINES.register_module()
class ToTensor:
    """``results[key]`` as a tensor for each of ``keys`` (see :func:`to_tensor`)."""

    def __init__(self, keys):
        self.keys = _keys(keys, 'keys')

    def __call__(self, results):
        for key in self.keys:
            results[key] = to_tensor(_get(results, key, type(self).__name__))
        return results

    def __repr__(self):
        return f'{type(self).__name__}(keys={self.keys})'


@PIPELINES.register_module()
class ImageToTensor:
    """Each HWC (or HW) image of ``keys`` as a CHW tensor sharing the array's memory; an image
    Normalize produced comes out contiguous (it is written channel-first). A view with negative
    strides (a flip not followed by Normalize) is copied, where mmcls's raises."""

    def __init__(self, keys):
        self.keys = _keys(keys, 'keys')

    def __call__(self, results):
        for key in self.keys:
            img = _get(results, key, type(self).__name__)
            if img.ndim < 3:
                img = img[:, :, None]
            chw = img.transpose(2, 0, 1)
            if min(chw.strides) < 0:
                # A flipped view: torch.from_numpy refuses negative strides (mmcls's raises).
                chw = np.ascontiguousarray(chw)
            results[key] = torch.from_numpy(chw)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(keys={self.keys})'


@PIPELINES.register_module()
class Transpose:
    """``results[key].transpose(order)`` for each of ``keys``."""

    def __init__(self, keys, order):
        self.keys = _keys(keys, 'keys')
        self.order = order

    def __call__(self, results):
        for key in self.keys:
            results[key] = _get(results, key, type(self).__name__).transpose(self.order)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(keys={self.keys}, order={self.order})'


@PIPELINES.register_module()
class ToPIL:
    """``results['img']`` as a PIL image."""

    def __call__(self, results):
        from PIL import Image
        results['img'] = Image.fromarray(results['img'])
        return results

    def __repr__(self):
        return f'{type(self).__name__}()'


@PIPELINES.register_module()
class ToNumpy:
    """``results['img']`` as a float32 array."""

    def __call__(self, results):
        results['img'] = np.array(results['img'], dtype=np.float32)
        return results

    def __repr__(self):
        return f'{type(self).__name__}()'


@PIPELINES.register_module()
class ToHalf:
    """Each of ``keys`` as float16 (a tensor with ``.to(torch.half)``, an array with astype)."""

    def __init__(self, keys):
        self.keys = _keys(keys, 'keys')

    def __call__(self, results):
        for key in self.keys:
            value = _get(results, key, type(self).__name__)
            results[key] = (value.to(torch.half) if isinstance(value, torch.Tensor)
                            else value.astype(np.float16))
        return results

    def __repr__(self):
        return f'{type(self).__name__}(keys={self.keys})'


@PIPELINES.register_module()
class Collect:
    """The sample a model gets: ``keys`` of the results, and the ``meta_keys`` present in them
    as a plain dict under ``img_metas`` (mmcls wraps it in mmcv's ``DataContainer(cpu_only=True)``;
    fastrun has no DataContainer, so the loader's collate gets the dict itself)."""

    def __init__(self, keys, meta_keys=('filename', 'ori_filename', 'ori_shape', 'img_shape',
                                        'flip', 'flip_direction', 'img_norm_cfg')):
        self.keys = _keys(keys, 'keys')
        self.meta_keys = _keys(meta_keys, 'meta_keys')

    def __call__(self, results):
        data = {'img_metas': {key: results[key] for key in self.meta_keys if key in results}}
        for key in self.keys:
            data[key] = _get(results, key, type(self).__name__)
        return data

    def __repr__(self):
        return f'{type(self).__name__}(keys={self.keys}, meta_keys={self.meta_keys})'


@PIPELINES.register_module()
class WrapFieldsToLists:
    """Every value of the results in a one-element list (single-image inference)."""

    def __call__(self, results):
        for key, value in results.items():
            results[key] = [value]
        return results

    def __repr__(self):
        return f'{type(self).__name__}()'
