"""The test loops evaluation hooks run: on one process, or on every rank of a distributed run.

A model follows the mmcls contract: ``model(return_loss=False, **inputs)`` returns one result
per sample (a list of score arrays, or an (N, C) tensor), and the data set's ``evaluate``
scores those results against its own labels, in data set order.
"""
import itertools
import os
import os.path as osp
import pickle
from itertools import zip_longest

import torch
import torch.distributed as dist

from .dist import get_dist_info
from .step import to_device

__all__ = ['single_gpu_test', 'multi_gpu_test']


def _device_of(model):
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return None


def _call(model, data):
    # Keys starting with 'gt_' are labels: evaluate() reads them from the data set, and a
    # classifier's test path does not accept them (mmcls test pipelines drop them).
    if isinstance(data, dict):
        inputs = {k: v for k, v in data.items() if not k.startswith('gt_')}
        return model(return_loss=False, **inputs)
    if isinstance(data, (list, tuple)):  # (inputs, labels) batches
        return model(data[0], return_loss=False)
    return model(data, return_loss=False)


def _test_loop(model, data_loader, compact=False):
    """Per-sample results of ``model`` over ``data_loader``, in loader order (eval mode, no grad).

    ``compact``: copy tensor results to the CPU one row each, so pickling a row does not
    pickle its whole batch.
    """
    model.eval()
    device = _device_of(model)
    results = []
    with torch.no_grad():
        for data in data_loader:
            if device is not None:
                data = to_device(data, device, non_blocking=True)
            out = _call(model, data)
            if compact and torch.is_tensor(out):
                out = [row.clone() for row in out.detach().cpu()]
            results.extend(out)
    return results


def single_gpu_test(model, data_loader):
    """Run ``model`` over ``data_loader`` in eval mode without gradients; one result per sample.

    Batches go to the model's device; the model is left in eval mode (the caller restores it).
    """
    return _test_loop(model, data_loader)


def _sampler_indices(data_loader, n):
    # A distributed sampler yields the same indices each time it is iterated in one epoch,
    # so its order tells where each result belongs, whatever shuffle or padding it used.
    sampler = getattr(data_loader, 'sampler', None)
    if sampler is not None and hasattr(sampler, 'num_replicas') and hasattr(sampler, 'rank'):
        # ResumableSampler.order() reads the order without touching its start position
        indices = sampler.order() if hasattr(sampler, 'order') else list(sampler)
        if len(indices) == n:
            return indices
    return None


def _merge(parts, size):
    """One result per data set index from every rank's ``(indices, results)``."""
    if all(indices is not None for indices, _ in parts):
        merged = [None] * size
        seen = [False] * size
        for indices, results in parts:
            for i, r in zip(indices, results):
                if not seen[i]:  # the sampler's padding repeats samples: the first one counts
                    merged[i] = r
                    seen[i] = True
        if all(seen):
            return merged
    # No sampler to go by: rank r holds samples r, r + W, ... (an unshuffled
    # DistributedSampler's split, as mmcv assumes); interleave and drop the padding.
    missing = object()
    ordered = [r for group in zip_longest(*(res for _, res in parts), fillvalue=missing)
               for r in group if r is not missing]
    return ordered[:size]


def _collect_objects(part, rank, world_size):
    # Through the process group's own transport (GPU memory with NCCL).
    parts = [None] * world_size if rank == 0 else None
    dist.gather_object(part, parts, dst=0)
    return parts


def _collect_tmpdir(part, rank, world_size, tmpdir):
    # Through files in a folder every rank can read (a shared file system across nodes):
    # no rank holds another rank's results in device memory or in a collective's buffers.
    os.makedirs(tmpdir, exist_ok=True)
    dist.barrier()  # the folder exists for everyone, and no rank still reads an earlier round
    path = osp.join(tmpdir, f'part_{rank}.pkl')
    with open(path + '.tmp', 'wb') as f:
        pickle.dump(part, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(path + '.tmp', path)
    dist.barrier()  # every part is complete
    parts = None
    if rank == 0:
        parts = []
        for r in range(world_size):
            with open(osp.join(tmpdir, f'part_{r}.pkl'), 'rb') as f:
                parts.append(pickle.load(f))
    dist.barrier()  # rank 0 has read them all
    os.remove(path)
    return parts


def multi_gpu_test(model, data_loader, tmpdir=None, gpu_collect=False):
    """Every rank tests its share of ``data_loader``; rank 0 gets all results, in data set order.

    The results are gathered to rank 0 with ``torch.distributed.gather_object`` (the process
    group's own transport, GPU memory with NCCL), unless a ``tmpdir`` is given and
    ``gpu_collect`` is False: then each rank pickles its part into ``tmpdir`` (a folder every
    rank can read: on several nodes, a shared file system) and rank 0 reads them (mmcv's CPU
    collect). The distributed sampler's padding is dropped, so each sample counts once.
    Returns None on the other ranks; on one process, the single-process results.
    """
    rank, world_size = get_dist_info()
    results = _test_loop(model, data_loader, compact=world_size > 1)
    if world_size == 1:
        return results
    part = (_sampler_indices(data_loader, len(results)), results)
    if tmpdir is not None and not gpu_collect:
        parts = _collect_tmpdir(part, rank, world_size, tmpdir)
    else:
        parts = _collect_objects(part, rank, world_size)
    if rank != 0:
        return None
    return _merge(parts, len(data_loader.dataset))
