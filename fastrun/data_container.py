"""mmcv 1.x's ``DataContainer``: a sample field the collate and scatter steps treat specially.

A pipeline wraps a field whose samples cannot simply be stacked (image metas, boxes of varying
count, images of varying size) in a ``DataContainer``; :func:`~fastrun.parallel.collate` then

- ``cpu_only=True``: keeps the samples as lists (one list per GPU chunk), never moved to a GPU;
- ``stack=True``: stacks the tensors of each chunk, padding their last ``pad_dims`` dimensions
  (``None``: no padding, shapes must agree) to the largest with ``padding_value``;
- otherwise: keeps the tensors as lists (one list per chunk), moved to the chunk's GPU.

mmcv's own ``DataContainer`` instances are accepted wherever fastrun's are (an mmcls or mmdet
pipeline's output feeds fastrun's loaders and model wrappers unchanged).

``scatter`` / ``scatter_kwargs`` (mmcv's): a batch to the GPUs (or ``[-1]``, the CPU).
Tensors are split along ``dim`` across the GPUs (PyTorch's scatter); a DataContainer's data
(one entry per GPU chunk, from :func:`~fastrun.parallel.collate`) gives each GPU its chunk,
moved there unless ``cpu_only``; other objects are repeated for each GPU. ``target_gpus=[-1]``
keeps everything on the CPU and unwraps the DataContainers, as mmcv's CPU path does.

This module is a low layer (torch only): the model wrappers of :mod:`fastrun.dist` and
:mod:`fastrun.parallel` use it; ``fastrun.parallel`` re-exports it under mmcv's names.
"""
import functools
import sys

import torch
from torch.nn.parallel._functions import Scatter as _TorchScatter

__all__ = ['DataContainer', 'is_data_container', 'holds_data_container', 'scatter', 'scatter_kwargs']


def _delegate(name):
    @functools.wraps(getattr(torch.Tensor, name))
    def method(self, *args, **kwargs):
        return getattr(self.data, name)(*args, **kwargs)
    return method


class DataContainer:
    """A field of a sample with the rule that collates and scatters it (see the module)."""

    def __init__(self, data, stack=False, padding_value=0, cpu_only=False, pad_dims=2):
        if pad_dims not in (None, 1, 2, 3):
            raise ValueError(f'pad_dims must be None, 1, 2 or 3, got {pad_dims!r}')
        self._data = data
        self._cpu_only = cpu_only
        self._stack = stack
        self._padding_value = padding_value
        self._pad_dims = pad_dims

    def __repr__(self):
        return f'{type(self).__name__}({self.data!r})'

    def __len__(self):
        return len(self._data)

    data = property(lambda self: self._data)
    cpu_only = property(lambda self: self._cpu_only)
    stack = property(lambda self: self._stack)
    padding_value = property(lambda self: self._padding_value)
    pad_dims = property(lambda self: self._pad_dims)

    @property
    def datatype(self):
        """The tensor type name of a tensor (``'torch.FloatTensor'``), else the data's type."""
        return self.data.type() if isinstance(self.data, torch.Tensor) else type(self.data)

    size = _delegate('size')
    dim = _delegate('dim')


def data_container_types():
    """fastrun's DataContainer, and mmcv's if mmcv.parallel is imported (never imported here)."""
    module = sys.modules.get('mmcv.parallel.data_container')
    theirs = getattr(module, 'DataContainer', None) if module is not None else None
    return (DataContainer,) if theirs is None else (DataContainer, theirs)


def is_data_container(obj):
    """Whether ``obj`` is a fastrun or an mmcv ``DataContainer``."""
    return isinstance(obj, data_container_types())


def holds_data_container(obj, depth=4):
    """Whether ``obj`` (a sample: dicts, lists and tuples of fields) holds a DataContainer."""
    types = data_container_types()
    if isinstance(obj, types):
        return True
    if depth == 0:
        return False
    if isinstance(obj, dict):
        return any(holds_data_container(v, depth - 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(holds_data_container(v, depth - 1) for v in obj)
    return False


def _to_devices(data, target_gpus):
    # A DataContainer's per-chunk list: chunk i to GPU i (consecutive chunks share a GPU when
    # there are more chunks than GPUs); a single tensor to the first GPU.
    if isinstance(data, list):
        size = (len(data) - 1) // len(target_gpus) + 1
        return tuple(_move(x, target_gpus[i // size]) for i, x in enumerate(data))
    return (_move(data, target_gpus[0]),)


def _move(x, gpu):
    if isinstance(x, list):
        return [_move(v, gpu) for v in x]
    if not isinstance(x, torch.Tensor):
        raise TypeError(f'a DataContainer to scatter holds tensors, got {type(x).__name__}')
    x = x.contiguous()
    return x if gpu == -1 else x.cuda(gpu, non_blocking=True)


def scatter(inputs, target_gpus, dim=0):
    """One copy of ``inputs`` per entry of ``target_gpus`` (a list: one per GPU), see the module."""
    dc_types = data_container_types()

    def scatter_map(obj):
        if isinstance(obj, torch.Tensor):
            if target_gpus != [-1]:
                return _TorchScatter.apply(target_gpus, None, dim, obj)
            return (obj.contiguous(),)
        if isinstance(obj, dc_types):
            return obj.data if obj.cpu_only else _to_devices(obj.data, target_gpus)
        if isinstance(obj, tuple) and obj:
            parts = zip(*map(scatter_map, obj))
            if hasattr(obj, '_fields'):  # a named tuple keeps its type
                return [type(obj)(*p) for p in parts]
            return list(parts)
        if isinstance(obj, list) and obj:
            return [list(p) for p in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and obj:
            return [type(obj)(p) for p in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in target_gpus]

    try:
        return scatter_map(inputs)
    finally:
        scatter_map = None  # the closure refers to itself: break the cycle


def scatter_kwargs(inputs, kwargs, target_gpus, dim=0):
    """:func:`scatter` of positional and keyword inputs: ``(inputs per GPU, kwargs per GPU)``."""
    inputs = scatter(inputs, target_gpus, dim) if inputs else []
    kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if len(inputs) < len(kwargs):
        inputs.extend(() for _ in range(len(kwargs) - len(inputs)))
    elif len(kwargs) < len(inputs):
        kwargs.extend({} for _ in range(len(inputs) - len(kwargs)))
    return tuple(inputs), tuple(kwargs)
