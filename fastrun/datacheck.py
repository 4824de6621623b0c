"""Bad samples named: when a batch cannot be formed or fed, which sample of which data set it was.

A sample whose image has another size than the others of its batch fails in the loader's
collate (``stack expects each tensor to be equal size``); a label outside the classes fails in
the loss (``Target 12 is out of bounds``). Those messages name neither the data set nor the
sample. :func:`explain_data_error` looks at the batch the run was at (recomputed from the
sampler's order, so it also works when the loader's workers raised), finds the samples at
fault and raises a :class:`DataError` naming the data set, the sample indices and the
iteration, from the original error.
"""
import collections

import torch

from .errors import DataError
from .sampler import ResumableSampler, sampler_of

__all__ = ['explain_data_error', 'batch_indices', 'find_bad_samples']

#: The errors a bad sample raises in torch's collate, layers and losses.
_DATA_ERRORS = (RuntimeError, IndexError, ValueError, TypeError)


def _unwrap_loader(loader):
    # DeviceLoader and IterLoader keep the DataLoader they wrap.
    for _ in range(4):
        inner = getattr(loader, 'loader', None) or getattr(loader, '_dataloader', None)
        if inner is None or inner is loader:
            break
        loader = inner
    return loader


def batch_indices(loader, position, epoch=None):
    """The data set indices of batch ``position`` (0-based) of ``loader``'s epoch, or None.

    Known when the loader's order is a function of its sampler's state: a
    :class:`~fastrun.sampler.ResumableSampler` (``epoch``: its epoch, default the current one)
    or a sequential order; None for other samplers (a random one cannot be replayed).
    """
    loader = _unwrap_loader(loader)
    batch_size = getattr(loader, 'batch_size', None)
    dataset = getattr(loader, 'dataset', None)
    if not batch_size or dataset is None:
        return None
    sampler = sampler_of(loader)
    if isinstance(sampler, ResumableSampler):
        order = sampler.order(epoch)
    elif isinstance(sampler, torch.utils.data.SequentialSampler):
        order = range(len(dataset))
    else:
        return None
    return list(order[position * batch_size:(position + 1) * batch_size])


def _parts(sample):
    # (image, label) of a sample: mmcls dicts, or (x, y) pairs.
    if isinstance(sample, dict):
        return sample.get('img'), sample.get('gt_label')
    if isinstance(sample, (tuple, list)) and len(sample) == 2:
        return sample[0], sample[1]
    return None, None


def _shape(x):
    return tuple(x.shape) if hasattr(x, 'shape') else None


def _num_classes(dataset, model):
    counts = []
    classes = getattr(dataset, 'CLASSES', None)
    if classes is not None:
        counts.append(len(classes))
    for module in (model.modules() if isinstance(model, torch.nn.Module) else ()):
        n = getattr(module, 'num_classes', None)
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            counts.append(n)
            break
    return min(counts) if counts else None


def find_bad_samples(dataset, indices, model=None):
    """``[(index, reason)]`` for the samples of ``indices`` that cannot go with the others.

    An image whose shape is not the one most samples of the batch have (or, when the batch
    agrees, the first sample of the data set has), and a label outside ``[0, num_classes)``
    (the data set's ``CLASSES`` and the model's ``num_classes``, the smaller).
    """
    samples = [(i, dataset[i]) for i in indices]
    shapes = [(i, _shape(_parts(s)[0])) for i, s in samples]
    known = [s for _, s in shapes if s is not None]
    bad = []
    if known:
        common, count = collections.Counter(known).most_common(1)[0]
        if count == len(known) and len(dataset):  # the batch agrees: compare with the data set
            reference = _shape(_parts(dataset[0])[0])
            common = reference if reference is not None else common
        for i, s in shapes:
            if s is not None and s != common:
                bad.append((i, f'an image of shape {s}, where the data set\'s are {common}'))
    n = _num_classes(dataset, model)
    if n is not None:
        for i, s in samples:
            label = _parts(s)[1]
            if torch.is_tensor(label) and label.numel() == 1:
                label = label.item()
            if isinstance(label, (int, float)) and not 0 <= label < n:
                bad.append((i, f'the label {int(label)}, outside the {n} classes [0, {n - 1}]'))
    return bad


def _dataset_name(dataset):
    text = repr(dataset)
    if type(dataset).__repr__ is object.__repr__ or len(text) > 120:
        text = type(dataset).__name__
    split = getattr(dataset, 'split', None)
    if isinstance(split, str) and split not in text:
        text += f" (split '{split}')"
    return text


def explain_data_error(runner, error):
    """Raise a :class:`DataError` from ``error`` when a sample of the running batch caused it.

    Called when a run fails; looks only at errors raised while loading or stepping a batch (not
    in a hook) of the kinds bad data raises. Does nothing when no sample is found at fault.
    """
    if (not isinstance(error, _DATA_ERRORS) or isinstance(error, DataError)
            or getattr(error, '_fastrun_where', None) is not None or runner.mode is None):
        return
    try:
        where = _locate(runner)
        if where is None:
            return
        loader, position, epoch, batches = where
        dataset = getattr(_unwrap_loader(loader), 'dataset', None)
        indices = batch_indices(loader, position, epoch)
        if dataset is None or not indices:
            return
        bad = find_bad_samples(dataset, indices, getattr(runner, 'model', None))
    except Exception:  # the diagnosis must never hide the original error
        return
    if not bad:
        return
    samples = '; '.join(f'sample {i}: {reason}' for i, reason in bad[:5])
    more = f' (and {len(bad) - 5} more)' if len(bad) > 5 else ''
    total = f' of {batches}' if batches else ''
    raise DataError(
        f'the {runner.mode} data set {_dataset_name(dataset)}: {samples}{more}; at {runner.mode} '
        f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch {position + 1}{total} of '
        f'the epoch; counts start at 1). Fix or drop these samples (the error was: '
        f'{_summary(error)})') from error


def _summary(error):
    # One line of the original error; a loader worker's puts the worker's own error last.
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if lines[0].startswith('Caught ') and len(lines) > 1:
        return lines[-1]
    return f'{type(error).__name__}: {lines[0]}'


def _locate(runner):
    # (loader, 0-based batch position in its epoch, sampler epoch, batches an epoch) of the batch
    # the run was at when it failed.
    loader = runner.data_loader
    if loader is None:
        return None
    in_iteration = hasattr(runner, 'data_batch')
    consumed = getattr(loader, 'consumed', None)
    if consumed is not None:  # an IterLoader (iteration-based runs): batches drawn this epoch
        position = consumed - 1 if in_iteration else consumed
        return loader, position, getattr(loader, 'epoch', None), len(loader)
    length = len(loader) if hasattr(loader, '__len__') else None
    if in_iteration:
        position = runner.inner_iter
    elif runner.mode == 'train' and length:
        position = runner.iter - runner.epoch * length  # the next batch of the epoch
    else:
        return None
    sampler = sampler_of(_unwrap_loader(loader))
    return loader, position, getattr(sampler, 'epoch', None), length
