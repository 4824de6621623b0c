"""Checkpoint files: atomic writes, safe loads, and state-dict loading that reports mismatches."""
import logging
import os
import re
import tempfile
import time
from collections import OrderedDict

import torch


logger_ = logging.getLogger('fastrun')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names the file."""


def weights_to_cpu(state_dict):
    """A copy of ``state_dict`` with every tensor on the CPU."""
    out = OrderedDict((k, v.detach().cpu() if torch.is_tensor(v) else v) for k, v in state_dict.items())
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        out._metadata = metadata
    return out


def to_plain(obj):
    """``obj`` with numpy scalars/arrays and str/int subclasses turned into plain types.

    Checkpoints hold only what ``torch.load(weights_only=True)`` accepts without an allow-list.
    """
    if isinstance(obj, dict):
        return type(obj)((to_plain(k), to_plain(v)) for k, v in obj.items()) \
            if type(obj) in (dict, OrderedDict) else {to_plain(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj) if type(obj) in (list, tuple) else [to_plain(v) for v in obj]
    if obj is None or type(obj) in (bool, int, float, str, bytes) or torch.is_tensor(obj):
        return obj
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, str):
        return str(obj)
    if hasattr(obj, 'dtype') and hasattr(obj, 'tolist'):  # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    raise TypeError(f'cannot store a {type(obj).__name__} in a checkpoint meta: use numbers, '
                    f'strings, lists, dicts or tensors')


def atomic_save(obj, filename):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename into place.

    A process killed at any moment leaves either the old file or the complete new one.
    """
    folder = os.path.dirname(os.path.abspath(filename))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(filename) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_checkpoint(model, filename, optimizer=None, meta=None, extra=None):
    """Write ``meta``, the model's weights and the optimizer state(s) to ``filename`` atomically."""
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise TypeError(f'meta must be a dict or None, got {type(meta).__name__}')
    from . import __version__
    meta = to_plain(dict(meta, fastrun_version=__version__, torch_version=str(torch.__version__),
                         time=time.asctime()))
    model = _unwrap(model)
    if hasattr(model, 'CLASSES') and model.CLASSES is not None:
        meta['CLASSES'] = list(model.CLASSES)
    checkpoint = {'meta': meta, 'state_dict': weights_to_cpu(model.state_dict())}
    if isinstance(optimizer, torch.optim.Optimizer):
        checkpoint['optimizer'] = optimizer.state_dict()
    elif isinstance(optimizer, dict):
        checkpoint['optimizer'] = {name: optim.state_dict() for name, optim in optimizer.items()}
    if extra:
        checkpoint.update(extra)
    atomic_save(checkpoint, filename)


def read_checkpoint(filename, map_location='cpu', weights_only=True):
    """Load a checkpoint file (safely by default); errors name the file."""
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        return torch.load(filename, map_location=map_location, weights_only=weights_only)
    except Exception as e:
        if weights_only and 'weights_only' in str(e) and 'Unpickl' in str(e):
            raise CheckpointError(
                f'{filename}: refused to unpickle objects other than tensors and plain types '
                f'(weights_only=True). Load it with weights_only=False only if you trust the file. '
                f'Original error: {str(e).splitlines()[0]}') from e
        raise CheckpointError(f'{filename}: cannot read the checkpoint ({type(e).__name__}: '
                              f'{str(e).splitlines()[0] if str(e) else ""}); it may be truncated or '
                              f'corrupt, use an earlier checkpoint') from e


def _unwrap(module):
    # DataParallel / DistributedDataParallel keep the real model in .module.
    wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    while isinstance(module, wrappers):
        module = module.module
    return module


def _head(items, n=10):
    items = list(items)
    more = f', ... ({len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


def load_state_dict(module, state_dict, strict=False, logger=None):
    """Load ``state_dict`` into ``module``, skipping tensors whose shape differs; report the rest.

    Returns ``dict(missing=[key], unexpected=[key], mismatched=[(key, ckpt_shape, model_shape)])``
    (``num_batches_tracked`` buffers are not reported missing, as mmcv). Mismatches are logged
    as one WARNING on ``logger`` (default ``logging.getLogger('fastrun')``), the first few keys of
    each kind with counts. ``strict=True`` raises a RuntimeError listing them instead, after the
    matching tensors were loaded (torch and mmcv do the same). The state dict's ``_metadata``
    (module versions) is honoured.
    """
    module = _unwrap(module)
    if not isinstance(state_dict, dict):
        raise TypeError(f'state_dict must be a dict, got {type(state_dict).__name__}')
    own = module.state_dict()
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                  if k in own and torch.is_tensor(v) and tuple(v.shape) != tuple(own[k].shape)]
    bad = {k for k, _, _ in mismatched}
    loadable = OrderedDict((k, v) for k, v in state_dict.items() if k not in bad)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        loadable._metadata = metadata
    # torch's own matching (not a key diff of ours) so modules' load hooks can remap keys.
    result = module.load_state_dict(loadable, strict=False)
    report = dict(missing=[k for k in result.missing_keys
                           if k not in bad and 'num_batches_tracked' not in k],
                  unexpected=list(result.unexpected_keys), mismatched=mismatched)
    lines = []
    if report['unexpected']:
        lines.append(f'unexpected keys in source state_dict ({len(report["unexpected"])}): '
                     f'{_head(report["unexpected"])}')
    if report['missing']:
        lines.append(f'missing keys in source state_dict ({len(report["missing"])}): '
                     f'{_head(report["missing"])}')
    if mismatched:
        lines.append(f'size mismatch, not loaded ({len(mismatched)}): ' + _head(
            f'{k} (checkpoint {a} vs model {b})' for k, a, b in mismatched))
    if lines:
        msg = 'The model and loaded state dict do not match exactly\n' + '\n'.join(lines)
        if strict:
            raise RuntimeError(msg)
        (logger or logger_).warning(msg)
    return report


def load_checkpoint(model, filename, map_location='cpu', strict=False, logger=None,
                    revise_keys=((r'^module\.', ''),), weights_only=True):
    """Load the weights of ``filename`` into ``model``; return the whole checkpoint dict."""
    checkpoint = read_checkpoint(filename, map_location, weights_only=weights_only)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{filename}: no state_dict found (a {type(checkpoint).__name__})')
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, repl in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    state_dict._metadata = metadata
    load_state_dict(model, state_dict, strict=strict, logger=logger)
    return checkpoint
