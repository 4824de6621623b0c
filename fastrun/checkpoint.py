"""Checkpoint files: atomic writes with a checksum, safe loads, and state-dict loading that reports mismatches.

A checkpoint is a dict saved with ``torch.save``: ``meta`` (plain types: numbers, strings,
lists, dicts, tensors), ``state_dict`` (the model's weights, on the CPU), ``optimizer`` (its
``state_dict()``, or a dict of them), optionally ``runner_state`` (what an exact resume needs,
see :meth:`fastrun.Runner.save_checkpoint`), and ``fastrun_checksum``: the SHA-256 of each
other entry (see :func:`read_checkpoint` for what a mismatch does). Every file fastrun
writes loads with a plain ``torch.load(weights_only=True)``.
"""
import hashlib
import json
import logging
import math
import os
import os.path as osp
import pickle
import re
import secrets
import shutil
import struct
import time
import warnings
from collections import OrderedDict

import torch

from . import model_zoo, storage
from .dist import get_dist_info, is_module_wrapper
from .errors import ArgumentError

logger_ = logging.getLogger('fastrun')

#: The checkpoint key holding the checksum of all the others.
CHECKSUM_KEY = 'fastrun_checksum'


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or used; the message names the file."""


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (disk full, no permission); nothing was replaced."""


def weights_to_cpu(state_dict):
    """A copy of ``state_dict`` with every tensor on the CPU."""
    out = OrderedDict((k, v.detach().cpu() if torch.is_tensor(v) else v) for k, v in state_dict.items())
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        out._metadata = metadata
    return out


def to_plain(obj, where='checkpoint'):
    """``obj`` with every value in a plain form ``torch.load(weights_only=True)`` reads back.

    Numbers, strings, bytes, None, tensors, lists, tuples and dicts are kept (dict and
    str/int/float subclasses become the plain type, an OrderedDict stays one, a named tuple
    becomes the dict of its fields). Values with a faithful plain form take it: a ``range``,
    ``set`` or ``frozenset`` becomes a list (a set sorted where its items can be), a path
    (``os.PathLike``) its string, a NumPy scalar the Python number, a NumPy array the nested
    list of its items, a torch dtype or device its name. Any other object is refused with a
    TypeError naming where it is (``where`` is the name of ``obj``, e.g. ``meta``): a
    checkpoint never holds objects to unpickle.
    """
    if isinstance(obj, dict):
        plain = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            plain[to_plain(k, f'{where} (a key)')] = to_plain(v, f'{where}[{k!r}]')
        return plain
    if isinstance(obj, tuple) and hasattr(obj, '_asdict'):  # a named tuple: its fields by name
        return to_plain(dict(obj._asdict()), where)
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, f'{where}[{i}]') for i, v in enumerate(obj)]
        return tuple(items) if isinstance(obj, tuple) else items
    if obj is None or type(obj) in (bool, int, float, str, bytes) or torch.is_tensor(obj):
        return obj
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, range):
        return list(obj)
    if isinstance(obj, (set, frozenset)):
        items = [to_plain(v, f'{where} (an item)') for v in obj]
        try:
            return sorted(items)
        except TypeError:  # items that do not compare: the set's own order
            return items
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, 'dtype') and hasattr(obj, 'tolist') and type(obj).__module__.startswith('numpy'):
        # NumPy scalars and arrays: numbers, or nested lists of them (objects inside are checked)
        return to_plain(obj.tolist(), where)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    raise TypeError(f'cannot store {where} in a checkpoint: it is a {type(obj).__module__}.'
                    f'{type(obj).__qualname__} object; checkpoints hold numbers, strings, lists, '
                    f'tuples, dicts and tensors only (nothing is unpickled when they load)')


# --------------------------------------------------------------------------- checksum


def _feed(h, obj):
    # A canonical walk: the type, the size and the content of everything, in order.
    if torch.is_tensor(obj):
        t = obj.detach()
        h.update(f'T{t.dtype}{tuple(t.shape)}'.encode())
        if t.layout == torch.strided and t.numel():
            t = t.cpu().contiguous().reshape(-1)
            try:
                h.update(t.view(torch.uint8).numpy())
            except (RuntimeError, TypeError):  # quantized and other exotic tensors
                h.update(repr(t.tolist()).encode())
        elif t.numel():
            h.update(repr(t.to_dense().tolist()).encode())
    elif isinstance(obj, dict):
        h.update(b'D%d' % len(obj))
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(b'L%d' % len(obj) if isinstance(obj, list) else b'U%d' % len(obj))
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, str):
        data = obj.encode('utf-8', 'surrogatepass')
        h.update(b'S%d:' % len(data) + data)
    elif isinstance(obj, bytes):
        h.update(b'B%d:' % len(obj) + obj)
    else:
        h.update(f'{type(obj).__name__}:{obj!r};'.encode())


def payload_checksum(checkpoint):
    """SHA-256 (hex) of every entry of ``checkpoint`` but the checksum itself, in one walk.

    Tensors count by dtype, shape and bytes, so the value is the same after a save and a load.
    (The form of the first fastrun files; :func:`seal` writes one digest per entry.)
    """
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in checkpoint.items() if k != CHECKSUM_KEY})
    return h.hexdigest()


def entry_checksums(checkpoint):
    """``{entry: SHA-256 hex}`` of each top-level entry but the checksum (``meta``, ``state_dict``...)."""
    out = {}
    for k, v in checkpoint.items():
        if k != CHECKSUM_KEY:
            h = hashlib.sha256()
            _feed(h, v)
            out[str(k)] = h.hexdigest()
    return out


def seal(checkpoint):
    """Store the checksums of ``checkpoint``'s entries in it (what :func:`save_checkpoint` does).

    Call it on a checkpoint dict edited on purpose before ``torch.save``, so the edited file
    verifies as fastrun's own again.
    """
    entries = entry_checksums(checkpoint)
    h = hashlib.sha256()
    _feed(h, entries)
    checkpoint[CHECKSUM_KEY] = {'sha256': h.hexdigest(), 'entries': entries}
    return checkpoint


def checksum_mismatch(checkpoint):
    """What differs from the checksums stored in ``checkpoint``: '' if all match or none is stored.

    Names the entries changed, removed or added since fastrun wrote the file (with the first
    fastrun files, which hold one digest of everything, only that the content differs).
    """
    stored = checkpoint.get(CHECKSUM_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(stored, dict):
        return ''
    entries = stored.get('entries')
    if isinstance(entries, dict):
        now = entry_checksums(checkpoint)
        changed = [k for k in entries if k in now and now[k] != entries[k]]
        removed = [k for k in entries if k not in now]
        added = [k for k in now if k not in entries]
        parts = [f'{what}: {", ".join(keys)}' for what, keys in
                 (('changed', changed), ('removed', removed), ('added', added)) if keys]
        return '; '.join(parts)
    expected = stored.get('sha256')
    if expected is not None and payload_checksum(checkpoint) != expected:
        return 'the content differs'
    return ''


# --------------------------------------------------------------------------- writing


class _ErrorRecorder:
    """A file wrapper remembering the OSError of a failed write (torch's writer hides it)."""

    def __init__(self, f):
        self.f = f
        self.error = None

    def write(self, data):
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self):
        self.f.flush()


def atomic_save(obj, filename):
    """``torch.save`` to a temporary file in the same folder, fsync, then rename into place.

    A process killed at any moment leaves either the old file or the complete new one. A
    failed write (disk full, no permission) removes the temporary file and raises a
    :class:`CheckpointWriteError` naming ``filename``; what was there before is untouched.
    ``filename`` may be a URL (:mod:`fastrun.storage`): the file is written so to its local
    staging copy, then uploaded in the background (an object store shows it whole or not at
    all); a failed upload raises :class:`fastrun.storage.UploadError` at the next save or
    when the run ends.
    """
    if storage.is_remote(filename):
        local = storage.staging_path(filename)
        _atomic_save_local(obj, local, f'{storage.redact(filename)} (staged at {local})')
        storage.upload(local, filename, remove_local=True)
    else:
        _atomic_save_local(obj, storage.local_path(filename), filename)


def _atomic_save_local(obj, filename, name):
    folder = osp.dirname(osp.abspath(filename))
    recorder = None
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = _create_temporary(filename)
        with os.fdopen(fd, 'wb') as f:
            recorder = _ErrorRecorder(f)
            torch.save(obj, recorder)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
        tmp = None
    except Exception as e:
        cause = recorder.error if recorder is not None and recorder.error is not None else e
        if isinstance(cause, OSError) and cause.errno is not None:
            reason = f'[Errno {cause.errno}] {cause.strerror}'
            code = cause.errno
        else:
            reason = f'{type(cause).__name__}: {cause}'
            code = None
        raise CheckpointWriteError(
            code, f'cannot write checkpoint {name}: {reason}; the previous checkpoints and '
                  f'latest.pth are unchanged') from cause
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_dir(folder)


def _temporary_name(filename):
    # '.<name>.<random>.tmp' beside filename: what CheckpointHook removes as a killed write's
    folder, name = osp.split(osp.abspath(filename))
    return osp.join(folder, f'.{name}.{secrets.token_hex(6)}.tmp')


def _create_temporary(filename):
    """A new temporary file beside ``filename``, opened for writing: ``(fd, path)``.

    Created with mode 0o666 less the process umask, what ``torch.save(obj, filename)`` would
    give the file (``tempfile.mkstemp`` would make every checkpoint 0600).
    """
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0)
             | getattr(os, 'O_BINARY', 0))
    while True:
        path = _temporary_name(filename)
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:  # another writer drew the same name: draw again
            continue


def link_checkpoint(src, dst):
    """Make ``dst`` a second name of the complete checkpoint file ``src``, atomically.

    A hard link (the same bytes, hence the same checksums, and no second serialisation) made
    under a temporary name and renamed into place; a copy where the file system has no hard
    links. A failure raises :class:`CheckpointWriteError` naming ``dst`` and leaves what was
    there. On a URL (:mod:`fastrun.storage`) the link is made in the staging folder from the
    local copy of ``src`` and uploaded after it, so the object store gets the same bytes.
    """
    if storage.is_remote(dst):
        local = storage.staging_path(dst)
        os.makedirs(osp.dirname(local), exist_ok=True)
        with storage.local_copy(src) as copy:
            _link_local(copy, local, f'{storage.redact(dst)} (staged at {local})', src)
        storage.upload(local, dst, remove_local=True)
    else:
        _link_local(storage.local_path(src), storage.local_path(dst), dst, src)


def _link_local(src, dst, name, source_name):
    tmp = _temporary_name(dst)
    try:
        try:
            os.link(src, tmp)
        except OSError:  # no hard links here (or across devices): a copy, made durable
            shutil.copyfile(src, tmp)
            with open(tmp, 'rb+') as f:
                os.fsync(f.fileno())
        os.replace(tmp, dst)
        tmp = None
    except OSError as e:
        raise CheckpointWriteError(e.errno, f'cannot write checkpoint {name} (a link to '
                                            f'{storage.redact(source_name)}): {e}; the previous '
                                            f'checkpoints are unchanged') from e
    finally:
        if tmp is not None and osp.lexists(tmp):
            os.unlink(tmp)
    _fsync_dir(osp.dirname(osp.abspath(dst)))


def _fsync_dir(folder):
    # Makes a rename durable across a power loss (a killed process needs nothing more).
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def non_finite_keys(state_dict):
    """The keys of the floating-point tensors of ``state_dict`` that hold a NaN or an infinity."""
    items = [(k, v) for k, v in state_dict.items()
             if torch.is_tensor(v) and (v.is_floating_point() or v.is_complex()) and v.numel()]
    if not items:
        return []
    with torch.no_grad():
        # The largest magnitude of each tensor in one fused call (NaN or inf if any value is),
        # read with one host transfer instead of one per tensor.
        worst = torch._foreach_norm([v for _, v in items], ord=float('inf'))
        finite = torch.isfinite(torch.stack([w.float().cpu() for w in worst])).tolist()
    return [k for (k, _), ok in zip(items, finite) if not ok]


def get_state_dict(module, destination=None, prefix='', keep_vars=False):
    """``module.state_dict()`` with every model wrapper looked through, at any depth.

    A wrapper (:func:`~fastrun.dist.is_module_wrapper`: DataParallel, DDP, a class registered
    in ``MODULE_WRAPPERS``) adds no ``module.`` to the keys, also when it wraps a submodule.
    The module versions (``_metadata``) and the modules' state-dict hooks are kept, as in
    torch's own ``state_dict``.
    """
    while is_module_wrapper(module):
        module = module.module
    if destination is None:
        destination = OrderedDict()
        destination._metadata = OrderedDict()
    local_metadata = dict(version=module._version)
    destination._metadata[prefix[:-1]] = local_metadata
    for hook in module._state_dict_pre_hooks.values():
        hook(module, prefix, keep_vars)
    module._save_to_state_dict(destination, prefix, keep_vars)
    for name, child in module._modules.items():
        if child is not None:
            get_state_dict(child, destination, prefix + name + '.', keep_vars=keep_vars)
    for hook in module._state_dict_hooks.values():
        result = hook(module, destination, prefix, local_metadata)
        if result is not None:
            destination = result
    return destination


def save_checkpoint(model, filename, optimizer=None, meta=None, file_client_args=None, *,
                    extra=None, check_finite=True):
    """Write ``meta``, the model's weights and the optimizer state(s) to ``filename`` atomically.

    ``filename``: a local path or an fsspec URL (see :mod:`fastrun.storage`).
    ``file_client_args``: mmcv's FileClient arguments; ``None`` or ``dict(backend='disk')``
    (a local path), others are refused as :func:`fastrun.storage.check_location` says.
    ``extra`` entries are added at the top level. A checksum of the whole payload is stored
    with it. ``check_finite``: a model holding NaN or infinite values is not saved, a
    FloatingPointError says which tensors (a checkpoint must never replace a good one by a
    broken one). The model's ``CLASSES`` go to ``meta['CLASSES']`` (a tuple stays a tuple).
    """
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise TypeError(f'meta must be a dict or None, got {type(meta).__name__}')
    filename = os.fspath(filename)
    if file_client_args is not None:
        storage.check_location(filename, file_client_args, owner='save_checkpoint')
    from ._version import __version__
    meta = to_plain(dict(meta, fastrun_version=__version__, torch_version=str(torch.__version__),
                         time=time.asctime()), 'meta')
    model = _unwrap(model)
    if hasattr(model, 'CLASSES') and model.CLASSES is not None:
        meta['CLASSES'] = to_plain(model.CLASSES, 'CLASSES')
    state_dict = weights_to_cpu(get_state_dict(model))
    if check_finite:
        bad = non_finite_keys(state_dict)
        if bad:
            where = ''
            if 'epoch' in meta or 'iter' in meta:
                where = f' at epoch {meta.get("epoch")}, iter {meta.get("iter")}'
            raise FloatingPointError(
                f'{filename} not saved: the model holds NaN or infinite values{where} '
                f'({len(bad)} tensors: {_head(bad, 5)}); the earlier checkpoints are unchanged')
    checkpoint = {'meta': meta, 'state_dict': state_dict}
    if isinstance(optimizer, torch.optim.Optimizer):
        checkpoint['optimizer'] = optimizer.state_dict()
    elif isinstance(optimizer, dict):
        checkpoint['optimizer'] = {name: optim.state_dict() for name, optim in optimizer.items()}
    if extra:
        checkpoint.update(extra)
    seal(checkpoint)
    atomic_save(checkpoint, filename)


# --------------------------------------------------------------------------- reading


def _torch_load(path, map_location, weights_only):
    if weights_only:
        with torch.serialization.safe_globals(_legacy_safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    return torch.load(path, map_location=map_location, weights_only=False)


def _legacy_safe_globals():
    # NumPy scalars and arrays of numbers, as mmcv 1.x checkpoints may hold (a best score that
    # is an np.float64): rebuilt from bytes and a dtype, nothing is called. Object arrays would
    # need more globals and are still refused.
    try:
        import numpy as np
    except ImportError:
        return []
    found = [np.dtype, np.ndarray]
    for mod in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            module = __import__(mod, fromlist=['scalar', '_reconstruct'])
        except ImportError:
            continue
        found += [module.scalar, module._reconstruct]
        break
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes)
                  if n.endswith('DType') and isinstance(getattr(dtypes, n), type)]
    return found


def _resumable_name(name):
    # What auto-resume may pick besides latest.pth: not the pointer, not the best_* files (kept
    # for their score, not their place in the run).
    return name != storage.LATEST and not name.startswith('best_')


def previous_checkpoint(filename):
    """The newest checkpoint auto-resume could pick in the folder of ``filename``, older than it.

    ``latest.pth`` and ``best_*`` files are never named (auto-resume never picks a best file);
    None when there is none.
    """
    filename = os.fspath(filename)
    folder = storage.parent(filename)
    files = dict(storage.list_files(folder, '.pth'))
    own = files.get(storage.basename(filename))
    skip = {storage.resolve(filename), storage.resolve(storage.join(folder, storage.LATEST))}
    found = []
    for name, mtime in files.items():
        path = storage.join(folder, name)
        if not _resumable_name(name) or storage.resolve(path) in skip:
            continue
        if own is None or mtime <= own:
            found.append((mtime, _natural(name), path))
    return max(found)[2] if found else None


def _natural(name):
    # 'epoch_10.pth' after 'epoch_9.pth': numbers compare as numbers (ties of equal times).
    return [(int(p), '') if p.isdigit() else (-1, p) for p in re.split(r'(\d+)', name)]


def _describe(filename):
    # latest.pth is a link (a pointer object on object storage): name its target as well.
    if storage.is_remote(filename):
        target = storage.resolve(filename)
        shown = storage.redact(filename)
        return shown if target == storage.normalize(filename) else f'{shown} (-> {storage.basename(target)})'
    if osp.islink(storage.local_path(filename)):
        return f'{filename} (-> {os.readlink(storage.local_path(filename))})'
    return filename


def _corrupt_hint(filename):
    prev = previous_checkpoint(filename)
    if prev is None:
        return 'there is no earlier checkpoint in its folder'
    return f'use the previous checkpoint instead: {storage.redact(prev)}'


def _text_file_kind(filename, name=None):
    """'a config file' / 'a text file' when ``filename`` holds text, None for binary content.

    Only asked after torch.load failed, to say that a config (or a log) was given where a
    checkpoint belongs instead of calling it corrupt.
    """
    try:
        with open(filename, 'rb') as f:
            head = f.read(4096)
    except OSError:
        return None
    # Control bytes other than whitespace mean binary content (a torch zip starts with
    # b'PK\x03\x04', a pickle with b'\x80'): a damaged checkpoint, not text.
    if not head or any(b < 0x20 and b not in b'\t\n\r\f' for b in head):
        return None
    try:
        head.decode('utf-8')
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the sample
            return None
    if osp.splitext(name or filename)[1].lower() in ('.py', '.json', '.yaml', '.yml'):
        return 'a config file'
    return 'a text file'


def read_checkpoint(filename, map_location='cpu', weights_only=True, verify=True, logger=None):
    """Load a checkpoint file (safely by default); errors name the file.

    ``weights_only=True`` (default) unpickles tensors and plain types only, plus numbers in
    NumPy scalars/arrays (older mmcv files); any other object is refused with a
    :class:`CheckpointError`. ``weights_only=False`` unpickles anything, which can run code
    from the file: only for files you trust (a warning says so). A ``.safetensors`` file reads
    as ``{'state_dict': tensors}``. A truncated or corrupt file raises a CheckpointError that
    names the previous checkpoint of its folder.

    ``verify``: what a file whose content no longer matches its checksums gets (files without
    checksums, such as mmcv's, are not checked). ``True`` (or ``'strict'``): a CheckpointError,
    as when choosing a file to resume from. ``'warn'``: a WARNING on ``logger`` naming the
    entries that differ, then the file loads as it is: what a file named by the user gets,
    since a checkpoint loaded with ``torch.load``, edited and saved again with ``torch.save``
    keeps the checksums of what it held before. ``False``: no check.
    """
    if verify not in (True, False, 'strict', 'warn'):
        raise ArgumentError(f"verify must be True, False, 'strict' or 'warn', got {verify!r}")
    filename = os.fspath(filename)
    if not storage.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {storage.redact(filename)}')
    if filename.endswith('.safetensors'):
        with storage.local_copy(filename) as local:
            return {'state_dict': load_safetensors(local, map_location)}
    if not weights_only:
        warnings.warn(f'loading {storage.redact(filename)} with weights_only=False: unpickling can '
                      'run code from the file; do this only for files you trust', UserWarning,
                      stacklevel=2)
    # A URL is read from a local copy; latest.pth as a pointer object reads its checkpoint.
    with storage.local_copy(storage.resolve(filename)) as local:
        try:
            checkpoint = _torch_load(local, map_location, weights_only)
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else ''
            what = _text_file_kind(local, str(filename))
            if what is not None:
                raise CheckpointError(f'{_describe(filename)}: not a checkpoint, it is {what}; give a '
                                      f'.pth file written by fastrun train (e.g. work_dirs/<config '
                                      f'name>/latest.pth), a torch.save state dict or a .safetensors '
                                      f'file') from e
            if weights_only and isinstance(e, pickle.UnpicklingError) and 'eights only' in str(e):
                # torch's message says what it refused ("unsupported GLOBAL posix.system ...").
                what = next((line for line in str(e).splitlines() if 'GLOBAL' in line), first)
                raise CheckpointError(
                    f'{_describe(filename)}: refused to unpickle objects other than tensors and plain '
                    f'types (weights_only=True): {what} Load it with weights_only=False '
                    f'(--unsafe-load) only if you trust the file.') from e
            raise CheckpointError(f'{_describe(filename)}: cannot read the checkpoint '
                                  f'({type(e).__name__}: {first}); it may be truncated or corrupt: '
                                  f'{_corrupt_hint(filename)}') from e
    if verify:
        differs = checksum_mismatch(checkpoint)
        if differs and verify == 'warn':
            (logger or logger_).warning(
                '%s: the checksum of its content does not match (%s): it was edited and saved '
                'again after fastrun wrote it, or it is corrupt; loading it as it is',
                _describe(filename), differs)
        elif differs:
            raise CheckpointError(f'{_describe(filename)}: the checksum of its content does not match '
                                  f'({differs}): it was edited after fastrun wrote it, or it is '
                                  f'corrupt: {_corrupt_hint(filename)}')
    return checkpoint


_SAFETENSORS_DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
    'U8': torch.uint8, 'BOOL': torch.bool,
}


def load_safetensors(filename, map_location='cpu'):
    """The tensors of a ``.safetensors`` file as an OrderedDict (no code can run from it).

    Uses the ``safetensors`` package when installed, else reads the format itself (an 8-byte
    header length, a JSON header, the raw little-endian data).
    """
    device = map_location if isinstance(map_location, (str, torch.device)) else 'cpu'
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    try:
        if load_file is not None:
            tensors = load_file(filename, device=str(device))
        else:
            tensors = _read_safetensors(filename, device)
    except Exception as e:
        raise CheckpointError(f'{filename}: cannot read the safetensors file '
                              f'({type(e).__name__}: {e}); it may be truncated or corrupt') from e
    return OrderedDict(tensors)


def _read_safetensors(filename, device='cpu'):
    with open(filename, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = OrderedDict()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] not in _SAFETENSORS_DTYPES:
            raise ValueError(f'tensor {name}: unsupported dtype {info["dtype"]}')
        begin, end = info['data_offsets']
        dtype = _SAFETENSORS_DTYPES[info['dtype']]
        shape = info['shape']
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.uint8)
        count = math.prod(shape)
        out[name] = flat.view(dtype)[:count].reshape(shape).to(device) if count else \
            torch.empty(shape, dtype=dtype, device=device)
    return out


def checkpoint_candidates(work_dir):
    """The checkpoint files of ``work_dir`` (a folder or a URL) to resume from, best first.

    ``latest.pth`` first, then the other ``*.pth`` files from the newest (by modification
    time, then by the number in the name); ``best_*`` files (kept for their score, not their
    place in the run) and files that are the same as one already listed are left out.
    """
    files = storage.list_files(work_dir, '.pth')
    out, seen = [], set()
    if any(name == storage.LATEST for name, _ in files):
        latest = storage.join(work_dir, storage.LATEST)
        out.append(latest)
        seen.add(storage.resolve(latest))
    others = [(mtime, _natural(name), name) for name, mtime in files if _resumable_name(name)]
    for _, _, name in sorted(others, reverse=True):
        path = storage.join(work_dir, name)
        real = storage.resolve(path)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


def find_resumable_checkpoint(work_dir, logger=None):
    """The first of :func:`checkpoint_candidates` that reads and verifies; None if none does.

    Each file skipped is logged (WARNING) with the reason (truncated, corrupt checksum, a
    ``latest.pth`` pointing to a file that is gone...).
    """
    log = logger or logger_
    latest = osp.join(storage.local_path(work_dir), storage.LATEST) \
        if not storage.is_remote(work_dir) else None
    if latest is not None and osp.islink(latest) and not osp.exists(latest):
        log.warning('auto-resume: skipping %s: it points to %s, which does not exist', latest,
                    os.readlink(latest))
    for path in checkpoint_candidates(work_dir):
        try:
            read_checkpoint(path)
        except (CheckpointError, OSError) as e:
            log.warning('auto-resume: skipping %s: %s', storage.redact(path), storage.redact(e))
            continue
        return path
    return None


# --------------------------------------------------------------------------- loading weights


def _unwrap(module):
    # DataParallel, DDP and the wrappers registered in MODULE_WRAPPERS keep the model in .module.
    while is_module_wrapper(module):
        module = module.module
    return module


def _head(items, n=10):
    items = list(items)
    more = f', ... ({len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


def mismatch_message(report):
    """The lines describing a :func:`load_state_dict` report; '' when everything matched."""
    lines = []
    if report['unexpected']:
        lines.append(f'unexpected keys in source state_dict ({len(report["unexpected"])}): '
                     f'{_head(report["unexpected"])}')
    if report['missing']:
        lines.append(f'missing keys in source state_dict ({len(report["missing"])}): '
                     f'{_head(report["missing"])}')
    if report['mismatched']:
        lines.append(f'size mismatch, not loaded ({len(report["mismatched"])}): ' + _head(
            f'{k} (checkpoint {a} vs model {b})' for k, a, b in report['mismatched']))
    if not lines:
        return ''
    return 'The model and loaded state dict do not match exactly\n' + '\n'.join(lines)


def load_state_dict(module, state_dict, strict=False, logger=None, quiet=False):
    """Load ``state_dict`` into ``module``, skipping tensors whose shape differs; report the rest.

    Returns ``dict(missing=[key], unexpected=[key], mismatched=[(key, ckpt_shape, model_shape)])``
    (``num_batches_tracked`` buffers are not reported missing, as mmcv). Mismatches are logged
    as one WARNING on ``logger`` (default ``logging.getLogger('fastrun')``), the first few keys of
    each kind with counts (``quiet`` leaves that to the caller). ``strict=True`` raises a
    RuntimeError listing them instead, after the matching tensors were loaded (torch and mmcv
    do the same). The state dict's ``_metadata`` (module versions) is honoured.
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
    msg = mismatch_message(report)
    if msg:
        if strict:
            raise RuntimeError(msg)
        if not quiet:
            (logger or logger_).warning(msg)
    return report


def load_checkpoint(model, filename, map_location='cpu', strict=False, logger=None,
                    revise_keys=((r'^module\.', ''),), weights_only=True, verify='warn'):
    """Load the weights of ``filename`` into ``model``; return the whole checkpoint dict.

    ``filename`` may be a fastrun or mmcv 1.x checkpoint (``state_dict`` and ``meta``), a bare
    state dict, or a ``.safetensors`` file; a local path, an fsspec URL, or any scheme of
    :class:`CheckpointLoader` (``https://``, ``open-mmlab://``, ``mmcls://``, ...). Keys that do not match are reported (see
    :func:`load_state_dict`); ``strict=True`` makes that an error naming the file. A file
    edited since fastrun wrote it loads with a warning (``verify``, see :func:`read_checkpoint`).
    """
    checkpoint = read_any(filename, map_location, weights_only=weights_only, verify=verify,
                           logger=logger)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{filename}: no state_dict found (a {type(checkpoint).__name__})')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, dict):
        raise CheckpointError(f'{filename}: its state_dict is a {type(state_dict).__name__}, not a dict')
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, repl in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    state_dict._metadata = metadata
    try:
        report = load_state_dict(model, state_dict, strict=strict, logger=logger)
    except RuntimeError as e:
        raise CheckpointError(f'{filename}: {e}') from e
    # Say what was loaded, also when everything matched (load_state_dict only warns).
    own = len(_unwrap(model).state_dict())
    loaded = len(state_dict) - len(report['unexpected']) - len(report['mismatched'])
    (logger or logger_).info(
        'load checkpoint from %s: %d of the model\'s %d tensors loaded (missing %d, unexpected '
        '%d, size mismatch %d)', filename, loaded, own, len(report['missing']),
        len(report['unexpected']), len(report['mismatched']))
    return checkpoint


# --------------------------------------------------------------------------- URL schemes


class CheckpointLoader:
    """mmcv 1.x's table of checkpoint URL schemes: a prefix (a regular expression matched at
    the start of the name) -> the function ``loader(filename, map_location)`` that reads it.

    The longest-sorting prefix that matches wins (prefixes are tried in reverse
    lexicographic order, so ``a/b/c`` before ``a/b``); ``''``, the local loader, matches
    everything. :meth:`register_scheme` adds a scheme.
    """

    _schemes = {}

    @classmethod
    def _register_scheme(cls, prefixes, loader, force=False):
        if isinstance(prefixes, str):
            prefixes = [prefixes]
        elif not isinstance(prefixes, (list, tuple)):
            raise ArgumentError(f'prefixes must be a str or a list of str, got {prefixes!r}')
        for prefix in prefixes:
            if prefix in cls._schemes and not force:
                raise KeyError(f'{prefix} is already registered as a loader backend, '
                               'add "force=True" if you want to override it')
            cls._schemes[prefix] = loader
        cls._schemes = OrderedDict(sorted(cls._schemes.items(), key=lambda t: t[0], reverse=True))

    @classmethod
    def register_scheme(cls, prefixes, loader=None, force=False):
        """Register ``loader`` for ``prefixes``; without ``loader``, a decorator."""
        if loader is not None:
            cls._register_scheme(prefixes, loader, force=force)
            return None

        def _register(fn):
            cls._register_scheme(prefixes, fn, force=force)
            return fn
        return _register

    @classmethod
    def _get_checkpoint_loader(cls, path):
        for prefix, loader in cls._schemes.items():
            if re.match(prefix, path) is not None:
                return loader
        return None

    @classmethod
    def load_checkpoint(cls, filename, map_location=None, logger=None):
        """The checkpoint ``filename`` names, read by the loader of its scheme."""
        loader = cls._get_checkpoint_loader(filename)
        (logger or logger_).info('load checkpoint from %s path: %s', loader.__name__[10:],
                                 storage.redact(filename))
        return loader(filename, map_location)


def is_local_scheme(filename):
    """True when ``filename`` is a path or an fsspec URL (read by :func:`read_checkpoint`),
    False for a scheme of its own loader (``https://``, ``open-mmlab://``, ``pavi://``...)."""
    return CheckpointLoader._get_checkpoint_loader(os.fspath(filename)) is load_from_local


def read_any(filename, map_location, weights_only=True, verify='warn', logger=None):
    """The checkpoint ``filename`` names: paths and fsspec URLs read as :func:`read_checkpoint`
    reads them (checksums, safe unpickling), the other schemes by their loaders."""
    filename = os.fspath(filename)
    loader = CheckpointLoader._get_checkpoint_loader(filename)
    if loader is load_from_local:
        filename = osp.expanduser(filename)
    elif not (loader is load_from_ceph and filename.startswith('s3://')):
        return loader(filename, map_location)
    return read_checkpoint(filename, 'cpu' if map_location is None else map_location,
                           weights_only=weights_only, verify=verify, logger=logger)


@CheckpointLoader.register_scheme(prefixes='')
def load_from_local(filename, map_location=None):
    """A local file (``~`` expanded), or any fsspec URL no other scheme claims (``gs://``...)."""
    filename = osp.expanduser(os.fspath(filename))
    if not storage.isfile(filename):
        raise FileNotFoundError(f'{storage.redact(filename)} can not be found.')
    return read_checkpoint(filename, 'cpu' if map_location is None else map_location,
                           verify='warn')


def _download_error(url, e):
    reason = str(getattr(e, 'reason', None) or e).splitlines()[0] or type(e).__name__
    return CheckpointError(f'{storage.redact(url)}: cannot download the checkpoint ({reason}); '
                           f'download it where there is a network and give its local path')


def _fetch_url(url, map_location, model_dir):
    try:
        return torch.hub.load_state_dict_from_url(url, model_dir=model_dir, map_location=map_location,
                                                  progress=False, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f'{storage.redact(url)}: refused to unpickle objects other than '
                              f'tensors and plain types (weights_only=True); download it and '
                              f'load the file with weights_only=False only if you trust it') from e
    except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts, a bad URL
        raise _download_error(url, e) from e


@CheckpointLoader.register_scheme(prefixes=('http://', 'https://'))
def load_from_http(filename, map_location=None, model_dir=None):
    """Download ``filename`` into torch's hub cache (``model_dir``) once and read it.

    In a distributed run rank 0 downloads first; the other ranks read the cached file after
    it. Without a network (or when the server refuses), a CheckpointError names the URL.
    """
    rank, world_size = get_dist_info()
    checkpoint = None
    if rank == 0:
        checkpoint = _fetch_url(filename, map_location, model_dir)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = _fetch_url(filename, map_location, model_dir)
    return checkpoint


@CheckpointLoader.register_scheme(prefixes='pavi://')
def load_from_pavi(filename, map_location=None):
    """A checkpoint of PAVI's model cloud (``pavi://folder/name``; needs the ``pavi`` package)."""
    if not filename.startswith('pavi://'):
        raise ArgumentError(f'Expected filename startswith `pavi://`, but get {filename}')
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(f'{filename}: reading from PAVI needs the pavi package '
                          '(pip install pavi)') from None
    import tempfile
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp:
        local = osp.join(tmp, model.name)
        model.download(local)
        if not osp.isfile(local):
            raise FileNotFoundError(f'{filename}: PAVI gave no file ({local} not written)')
        return read_checkpoint(local, 'cpu' if map_location is None else map_location,
                               verify='warn')


@CheckpointLoader.register_scheme(prefixes=r'(\S+\:)?s3://')
def load_from_ceph(filename, map_location=None, backend='petrel'):
    """An ``s3://bucket/key`` object, read through fsspec (``s3fs``: ``pip install fastrun[s3]``).

    mmcv reads these with Petrel's client; fastrun reads them as S3 objects, with the
    credentials and endpoint of the environment. Petrel's cluster prefix
    (``cluster:s3://...``) has no S3 meaning and is refused.
    """
    if backend not in ('ceph', 'petrel'):
        raise ValueError(f'Load from Backend {backend} is not supported.')
    if not filename.startswith('s3://'):
        cluster = filename.split(':', 1)[0]
        raise ArgumentError(f"{filename}: the '{cluster}:' prefix names a Petrel cluster, which "
                            "fastrun does not read (its S3 access goes through fsspec); give "
                            "the object as s3://bucket/key with the endpoint in the environment")
    return read_checkpoint(filename, 'cpu' if map_location is None else map_location,
                           verify='warn')


def get_torchvision_models():
    """``{name: url}`` of ``torchvision://`` (see :mod:`fastrun.model_zoo`)."""
    return model_zoo.model_urls('torchvision')


def get_external_models():
    """``{name: url}`` of ``open-mmlab://`` (see :mod:`fastrun.model_zoo`)."""
    return model_zoo.model_urls('open-mmlab')


def get_mmcls_models():
    """``{name: url}`` of ``mmcls://`` (see :mod:`fastrun.model_zoo`)."""
    return model_zoo.model_urls('mmcls')


def get_deprecated_model_names():
    """``{old name: new name}`` of ``open-mmlab://`` (see :mod:`fastrun.model_zoo`)."""
    return model_zoo.deprecated_names()


def _zoo_url(filename):
    try:
        return model_zoo.resolve(filename)
    except KeyError as e:
        raise CheckpointError(e.args[0]) from None


def _load_zoo_target(target, map_location):
    if target.startswith(('http://', 'https://')):
        return load_from_http(target, map_location=map_location)
    if not osp.isfile(target):
        raise FileNotFoundError(f'{target} can not be found.')
    return read_checkpoint(target, 'cpu' if map_location is None else map_location, verify='warn')


@CheckpointLoader.register_scheme(prefixes=('modelzoo://', 'torchvision://'))
def load_from_torchvision(filename, map_location=None):
    """``torchvision://NAME`` (``modelzoo://`` is its deprecated name): a URL of the model zoo
    tables (:mod:`fastrun.model_zoo`), downloaded as :func:`load_from_http` does."""
    return _load_zoo_target(_zoo_url(filename), map_location)


@CheckpointLoader.register_scheme(prefixes=('open-mmlab://', 'openmmlab://'))
def load_from_openmmlab(filename, map_location=None):
    """``open-mmlab://NAME``: an OpenMMLab URL (or a file under ``$MMCV_HOME``) from the tables."""
    return _load_zoo_target(_zoo_url(filename), map_location)


def _backbone_only(checkpoint):
    # mmcls:// checkpoints are whole classifiers; what is asked for is their backbone.
    state_dict = checkpoint.get('state_dict', checkpoint)
    prefix = 'backbone.'
    return {'state_dict': OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                                      if k.startswith(prefix))}


@CheckpointLoader.register_scheme(prefixes='mmcls://')
def load_from_mmcls(filename, map_location=None):
    """``mmcls://NAME``: an MMClassification checkpoint of the tables, reduced to its backbone
    (the ``backbone.`` keys without that prefix), as mmcv does."""
    return _backbone_only(_load_zoo_target(_zoo_url(filename), map_location))


def _load_checkpoint(filename, map_location=None, logger=None):
    """The checkpoint dict ``filename`` names: a path or any scheme of :class:`CheckpointLoader`."""
    return CheckpointLoader.load_checkpoint(filename, map_location, logger)


def _load_checkpoint_with_prefix(prefix, filename, map_location=None):
    """The tensors of ``filename`` under ``prefix`` (``'backbone'``), with the prefix removed.

    What ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)`` loads. A prefix that
    no key starts with is an error naming the file (also an AssertionError, as in mmcv).
    """
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    if not prefix.endswith('.'):
        prefix += '.'
    picked = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not picked:
        raise ArgumentError(f'{prefix} is not in the pretrained model {storage.redact(filename)}')
    return picked
