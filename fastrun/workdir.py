"""Who owns a work dir: one run at a time, and log names that never collide.

Two runs writing into one work dir mix their checkpoints, ``latest.pth``, best files and logs
without an error. So a run owns its work dir while it runs: :func:`own` writes the lock file
``.fastrun.lock`` there (created exclusively: of two runs starting together one wins), holding
the owner's pid, host and start time. A second run gets :class:`WorkDirInUse` (one line naming
the owner); a lock left by a process of this host that is gone (killed outright) is taken over
with a warning. The lock is removed when the run ends (:func:`release`; at the latest when the
process exits). One process is one owner: the command line and the runner it starts share
the lock, and a process may run several runs one after the other in one work dir.

A work dir given as a URL is locked twice: its local staging folder as above (runs of this host),
and, best-effort, the store: a lock object ``<url>/.fastrun.lock`` with the same fields and a
heartbeat the owner rewrites every :data:`HEARTBEAT_S` seconds from a background thread. An
object store has no exclusive create, so the lock object is written, then read back after
:data:`SETTLE_S`: of two runs that wrote it at once, the one whose object is not there gives
up. A lock object is stale when its process is gone (same host), or when its heartbeat is older
than :data:`STALE_S` (the owner was killed on another machine): then it is taken over with a
warning. A lock object is never mirrored or listed as a checkpoint.

:func:`unique_stamp` gives a run its log name: the start time (``%Y%m%d_%H%M%S``), with
``_2``, ``_3``... when a run of the same second left its logs in the folder already.
"""
import atexit
import json
import logging
import os
import os.path as osp
import socket
import threading
import time
import uuid

from . import storage

__all__ = ['WorkDirInUse', 'own', 'release', 'release_all', 'unique_stamp', 'LOCK_NAME',
           'HEARTBEAT_S', 'STALE_S', 'SETTLE_S']

logger_ = logging.getLogger('fastrun')

#: The lock file's name (in the work dir, and as an object in a URL work dir).
LOCK_NAME = storage.LOCK_NAME
#: How often the owner of a URL work dir rewrites the heartbeat of its lock object.
HEARTBEAT_S = 60.0
#: A lock object whose heartbeat is older than this is stale (its run is gone).
STALE_S = 300.0
#: How long after writing its lock object a run reads it back to see whether it won.
SETTLE_S = 0.5


class WorkDirInUse(OSError):
    """The work dir is owned by another run; names the owner (``filename``: the work dir)."""


class _Lock:
    """The locks this process holds on one work dir (local file, and the URL's object)."""

    def __init__(self, local, url, info):
        self.local, self.url, self.info = local, url, info
        self.count = 0
        self.stop = threading.Event()
        self.heartbeat = None


_held = {}  # local folder -> _Lock
_guard = threading.Lock()


def _host():
    return socket.gethostname()


def _new_info():
    return dict(pid=os.getpid(), host=_host(), started=time.strftime('%Y-%m-%d %H:%M:%S'),
                token=uuid.uuid4().hex, heartbeat=time.time())


def _describe(owner):
    return (f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}, started "
            f"{owner.get('started', '?')}")


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, TypeError):
        return True  # someone else's process (or nothing fastrun can check): taken as alive
    return True


def _parse(data):
    try:
        owner = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return owner if isinstance(owner, dict) else None


def _ours(owner):
    # The same process: the command line and the runner it starts share one lock.
    return owner.get('host') == _host() and owner.get('pid') == os.getpid()


def _in_use(where, owner, lock_path):
    return WorkDirInUse(
        16, f'in use by another run ({_describe(owner)}; lock file {storage.redact(lock_path)}): '
            f'wait for it to end or give another work dir; if that run is gone, delete the lock '
            f'file', storage.redact(where))


def own(local, url=None, logger=None):
    """Make this process the owner of the work dir ``local`` (and of ``url``, its URL, if any).

    Raises :class:`WorkDirInUse` if another live run owns it; takes a stale lock over with a
    warning (through ``logger``, default fastrun's). Calls nest: each needs its :func:`release`.
    """
    log = logger or logger_
    local = osp.abspath(local)
    with _guard:
        lock = _held.get(local)
        if lock is None:
            info = _new_info()
            _own_local(local, info, log)
            lock = _Lock(local, storage.normalize(url) if url else None, info)
            if lock.url is not None:
                try:
                    _own_remote(lock, log)
                except BaseException:
                    _remove_local(local, info)
                    raise
            _held[local] = lock
        lock.count += 1
    return lock


def release(lock):
    """Give up one :func:`own` of ``lock``; the last one removes the lock file (and object)."""
    if lock is None:
        return
    with _guard:
        lock.count -= 1
        if lock.count > 0 or _held.get(lock.local) is not lock:
            return
        del _held[lock.local]
    _drop(lock)


def release_all():
    """Give up every work dir this process owns (the end of a command, the process's exit)."""
    with _guard:
        locks = list(_held.values())
        _held.clear()
    for lock in locks:
        _drop(lock)


atexit.register(release_all)


def _drop(lock):
    if lock.info['pid'] != os.getpid():
        return  # a forked child exiting: the lock is its parent's
    lock.stop.set()
    if lock.url is not None:
        _remove_remote(lock)
    _remove_local(lock.local, lock.info)


# ---------------------------------------------------------------- the local lock file
def _own_local(local, info, log):
    path = osp.join(local, LOCK_NAME)
    data = json.dumps(info).encode()
    for _ in range(20):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            return
        try:
            with open(path, 'rb') as f:
                owner = _parse(f.read())
        except FileNotFoundError:
            continue  # released meanwhile: try again
        if owner is None:  # being written by a run starting at this moment
            if time.time() - _mtime(path) < 5:
                time.sleep(0.05)
                continue
            owner = {}
        if owner and not _ours(owner) and (owner.get('host') != _host() or _alive(owner.get('pid'))):
            raise _in_use(local, owner, path)
        if owner and not _ours(owner):
            log.warning('work dir %s: taking over the lock of a run that is gone (%s)', local,
                        _describe(owner))
        elif not owner:
            log.warning('work dir %s: taking over an unreadable lock file', local)
        # Out of the way by a rename: of two runs taking it over, one renames, both retry the
        # exclusive create, one wins.
        try:
            os.replace(path, f'{path}.{os.getpid()}.stale')
            os.remove(f'{path}.{os.getpid()}.stale')
        except FileNotFoundError:
            pass
    raise _in_use(local, {}, path)


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _remove_local(local, info):
    path = osp.join(local, LOCK_NAME)
    try:
        with open(path, 'rb') as f:
            owner = _parse(f.read())
        if owner is not None and owner.get('token') == info['token']:
            os.remove(path)
    except OSError:
        pass


# ---------------------------------------------------------------- the URL's lock object
def _fs(url):
    return storage._fs(url)


def _read_remote(fs, path):
    try:
        return _parse(fs.cat_file(path))
    except FileNotFoundError:
        return None


def _own_remote(lock, log):
    target = storage.join(lock.url, LOCK_NAME)
    fs, path = _fs(target)
    owner = _read_remote(fs, path)
    if owner is not None and owner.get('token') != lock.info['token'] and not _ours(owner):
        age = time.time() - float(owner.get('heartbeat') or 0)
        gone = owner.get('host') == _host() and not _alive(owner.get('pid'))
        if not gone and age < STALE_S:
            raise _in_use(lock.url, owner, target)
        why = 'its process is gone' if gone else f'no heartbeat for {age:.0f} s'
        log.warning('work dir %s: taking over the lock object of a run that is gone (%s; %s)',
                    storage.redact(lock.url), _describe(owner), why)
    fs.pipe_file(path, json.dumps(lock.info).encode())
    time.sleep(SETTLE_S)
    owner = _read_remote(fs, path)
    if owner is not None and owner.get('token') != lock.info['token']:
        raise _in_use(lock.url, owner, target)  # another run wrote it after this one: it owns it
    lock.heartbeat = threading.Thread(target=_beat, args=(lock, fs, path), daemon=True,
                                      name='fastrun-lock-heartbeat')
    lock.heartbeat.start()


def _beat(lock, fs, path):
    # Rewrites the heartbeat while the run owns the work dir; never raises (best effort).
    while not lock.stop.wait(HEARTBEAT_S):
        try:
            owner = _read_remote(fs, path)
            if owner is not None and owner.get('token') != lock.info['token']:
                logger_.warning('work dir %s: another run (%s) took over the lock object',
                                storage.redact(lock.url), _describe(owner))
                return
            lock.info['heartbeat'] = time.time()
            fs.pipe_file(path, json.dumps(lock.info).encode())
        except Exception as e:  # an outage: the next beat tries again
            logger_.debug('lock heartbeat of %s failed: %s', storage.redact(lock.url), e)


def _remove_remote(lock):
    target = storage.join(lock.url, LOCK_NAME)
    try:
        fs, path = _fs(target)
        owner = _read_remote(fs, path)
        if owner is not None and owner.get('token') == lock.info['token']:
            fs.rm(path)
    except Exception as e:  # the store is down: the object goes stale (heartbeat), no harm
        logger_.warning('work dir %s: could not remove the lock object (%s: %s); the next run '
                        'takes it over once its heartbeat is %d s old', storage.redact(lock.url),
                        type(e).__name__, storage.redact(e), STALE_S)


# ---------------------------------------------------------------- log names
def unique_stamp(folder, stamp, suffixes=('.log', '.log.json')):
    """``stamp``, or ``stamp_2``, ``stamp_3``... : the first for which no ``<name><suffix>``
    is in the local folder ``folder`` (a run of the same second left its logs there)."""
    name, n = stamp, 1
    while any(osp.exists(osp.join(folder, name + s)) for s in suffixes):
        n += 1
        name = f'{stamp}_{n}'
    return name
