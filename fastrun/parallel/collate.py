"""mmcv 1.x's ``collate``: a batch of samples holding DataContainers, per GPU chunk."""
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data.dataloader import default_collate

from ..data_container import DataContainer, data_container_types, holds_data_container

__all__ = ['collate', 'DataContainerCollate']


def _pad_and_stack(chunk):
    first = chunk[0]
    for s in chunk:
        if not isinstance(s.data, torch.Tensor):
            raise TypeError(f'a DataContainer with stack=True must hold a tensor, got {type(s.data).__name__}')
    if first.pad_dims is None:
        return default_collate([s.data for s in chunk])
    pad_dims, ndim = first.pad_dims, first.dim()
    if ndim <= pad_dims:
        raise ValueError(f'a stacked DataContainer of {ndim} dims cannot pad its last {pad_dims}')
    lead = first.size()[:ndim - pad_dims]
    for s in chunk:
        if s.size()[:ndim - pad_dims] != lead:
            raise ValueError(f'stacked DataContainers differ in their first {ndim - pad_dims} dims: '
                             f'{tuple(lead)} and {tuple(s.size()[:ndim - pad_dims])}')
    # F.pad's list names the last dim first: (left, right) pairs, only the right one padded.
    top = [max(s.size(-d) for s in chunk) for d in range(1, pad_dims + 1)]
    padded = []
    for s in chunk:
        pad = []
        for d in range(1, pad_dims + 1):
            pad += [0, top[d - 1] - s.size(-d)]
        padded.append(F.pad(s.data, pad, value=s.padding_value))
    return default_collate(padded)


def collate(batch, samples_per_gpu=1):
    """Collate ``batch`` (a list of samples) as mmcv 1.x does, in chunks of ``samples_per_gpu``.

    A field held in DataContainers becomes one DataContainer whose ``data`` has one entry per
    chunk (a list of the samples' data, or their stacked tensor for ``stack=True``); mappings
    and sequences are collated field by field; anything else goes to ``default_collate``.
    Strings are collated as ``default_collate`` does (a list), not taken apart.
    """
    if not isinstance(batch, Sequence):
        raise TypeError(f'batch must be a sequence of samples, got {type(batch).__name__}')
    first = batch[0]
    if isinstance(first, data_container_types()):
        chunks = [batch[i:i + samples_per_gpu] for i in range(0, len(batch), samples_per_gpu)]
        # The same DataContainer class as the samples' (mmcv's stays mmcv's for mmcv's scatter).
        make = type(first) if type(first) is not DataContainer else DataContainer
        if first.cpu_only:
            return make([[s.data for s in c] for c in chunks], first.stack, first.padding_value,
                        cpu_only=True)
        if first.stack:
            return make([_pad_and_stack(c) for c in chunks], first.stack, first.padding_value)
        return make([[s.data for s in c] for c in chunks], first.stack, first.padding_value)
    if isinstance(first, (str, bytes)):
        return default_collate(batch)
    if isinstance(first, Sequence):
        return [collate(samples, samples_per_gpu) for samples in zip(*batch)]
    if isinstance(first, Mapping):
        return {key: collate([d[key] for d in batch], samples_per_gpu) for key in first}
    return default_collate(batch)


class DataContainerCollate:
    """A loader's ``collate_fn``: :func:`collate` for batches holding DataContainers, and
    ``default_collate`` (the very batches of before) for all others. Picklable (workers)."""

    def __init__(self, samples_per_gpu=1):
        self.samples_per_gpu = samples_per_gpu

    def __call__(self, batch):
        if batch and holds_data_container(batch[0]):
            return collate(batch, self.samples_per_gpu)
        return default_collate(batch)
