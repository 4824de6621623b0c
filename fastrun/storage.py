"""Where fastrun's files go: local paths, or any fsspec URL (``s3://``, ``gs://``, ``az://``, ...).

Every place that writes, lists, reads or deletes a checkpoint or a log goes through this module,
so a URL is never taken for a local path (``s3://runs/x`` would otherwise become the local
folder ``s3:/runs/x``). Local paths and ``file://`` URLs are the local filesystem, handled as
before; any other URL goes to `fsspec <https://filesystem-spec.readthedocs.io>`_ and the
backend it names (``s3fs``, ``gcsfs``, ``adlfs``: ``pip install fastrun[s3]`` / ``[gcs]`` /
``[azure]``). Options and credentials come from the backends' own sources (environment,
their config files, fsspec's ``FSSPEC_<PROTOCOL>`` variables); fastrun takes none in its
configs and writes URLs into logs without their user info.

Writing a remote file: it is first written whole to a local *staging* copy
(:func:`staging_path`), then :func:`upload` hands it to one background thread per process,
which runs the jobs in the order they were given: a checkpoint's object, then the pointer
``latest.pth`` (:func:`set_pointer`), then the deletions of older checkpoints
(:func:`remove`). How each object is written:

- object stores (S3, Google Cloud Storage, Azure Blob, ``memory://``) write an object whole
  or not at all: the object is written directly;
- other filesystems (sftp, hdfs, ...): written to a temporary name in the same folder, then
  moved into place (atomic where the filesystem's rename is).

Everything else that talks to the store while a run trains runs in that thread too:
:func:`in_upload_thread` queues a function there (``CheckpointHook`` lists the folder and
picks the checkpoints to delete that way), so an outage or a store that hangs never holds
the training loop; only :func:`wait_uploads` at the end of the run waits for the store.

Each failed write is retried with exponential backoff (:data:`UPLOAD_RETRIES`,
:data:`UPLOAD_BACKOFF_S`); when they are spent, the jobs after it (its pointer, deletions)
are dropped, the local copies stay, and :class:`UploadError`, naming the URL, is raised by the
next :func:`upload` or :func:`wait_uploads`. The listing functions show what the folder
holds once the queued jobs are done, so rotation decides on what will be there.

A work dir given as a URL (:func:`local_work_dir`) is a local staging folder mirrored to the
URL: the files written there (logs, the config, event files; not checkpoints, which go
through :func:`upload`) are uploaded after each checkpoint and by :func:`wait_uploads`.
"""
import contextlib
import logging
import os
import os.path as osp
import re
import shutil
import tempfile
import threading
import time
from collections import deque

from .errors import ArgumentError
from .optional import require

__all__ = ['UploadError', 'is_url', 'is_remote', 'redact', 'check_url', 'check_location',
           'check_access',
           'normalize', 'local_path', 'join', 'basename', 'parent', 'staging_path', 'local_work_dir',
           'isfile', 'listdir', 'list_files', 'remove', 'resolve', 'local_copy', 'upload',
           'set_pointer', 'in_upload_thread', 'wait_uploads', 'LATEST', 'LOCK_NAME', 'UPLOAD_RETRIES', 'UPLOAD_BACKOFF_S']

logger_ = logging.getLogger('fastrun')

#: Retries of a failed upload (after the first attempt), with waits of
#: ``UPLOAD_BACKOFF_S * 2**i`` seconds between them.
UPLOAD_RETRIES = 3
UPLOAD_BACKOFF_S = 1.0

#: The name of the file that designates the newest checkpoint of a folder.
LATEST = 'latest.pth'

#: A remote ``latest.pth`` is a small object holding this and the name it points to.
POINTER_MAGIC = b'fastrun-pointer '

_URL = re.compile(r'^([A-Za-z][A-Za-z0-9+.\-]*)(://|::)')
_LOCAL_PROTOCOLS = ('file', 'local')
# fsspec protocols whose writes are whole objects (nothing partial is ever visible).
_OBJECT_STORES = frozenset(('s3', 's3a', 'gs', 'gcs', 'az', 'abfs', 'abfss', 'memory'))
# protocol -> (module of its fsspec backend, the fastrun extra that installs it)
_EXTRAS = {'s3': ('s3fs', 's3'), 's3a': ('s3fs', 's3'), 'gs': ('gcsfs', 'gcs'),
           'gcs': ('gcsfs', 'gcs'), 'az': ('adlfs', 'azure'), 'abfs': ('adlfs', 'azure'),
           'abfss': ('adlfs', 'azure'), 'adl': ('adlfs', 'azure'), 'http': ('aiohttp', 'http'),
           'https': ('aiohttp', 'http')}
# mmcv 1.x FileClient backends without an fsspec equivalent, and what they are.
_MMCV_ONLY = {'petrel': "SenseTime's Petrel client, with its own credentials file",
              'ceph': "mmcv's deprecated Ceph client", 'memcached': 'a memcached cache',
              'lmdb': 'an LMDB database', 'http': 'reads over HTTP(S), never writes'}
# fsspec protocols whose first path component is a bucket (container) that must exist.
_BUCKETED = frozenset(('s3', 's3a', 'gs', 'gcs', 'az', 'abfs', 'abfss'))
# fsspec protocols fastrun reads from but cannot write to.
_READ_ONLY = frozenset(('http', 'https'))
# Temporary files of interrupted writes (never mirrored).
_TEMPORARY_SUFFIXES = ('.tmp', '.tmp-link')
#: The file in a work dir naming the run that owns it (:mod:`fastrun.workdir`); never mirrored.
LOCK_NAME = '.fastrun.lock'


class UploadError(OSError):
    """A file that could not be uploaded after the retries; its local copy was kept."""


# --------------------------------------------------------------------------- names
def is_url(path):
    """True for ``scheme://...`` (and fsspec chains ``a::b://...``), local or not."""
    return isinstance(path, str) and _URL.match(path) is not None


def _protocol(url):
    return _URL.match(url).group(1).lower()


def is_remote(path):
    """True for a URL that is not the local filesystem (``file://`` and plain paths are local)."""
    return is_url(path) and _protocol(path) not in _LOCAL_PROTOCOLS


_USERINFO = re.compile(r'([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@')


def redact(text):
    """``text`` with the user info of any URL in it (``user:secret@``) replaced by ``***@``."""
    return _USERINFO.sub(r'\1***@', str(text))


_HALF_URL = re.compile(r'^([A-Za-z][A-Za-z0-9+.\-]+):/(?!/)')


def local_path(path):
    """The local path of ``path``: a plain path as it is, a ``file://`` URL without its scheme.

    ``s3:/bucket`` (a URL missing a ``/``) is refused rather than made a local folder ``s3:``.
    """
    path = os.fspath(path)
    if is_remote(path):
        raise ArgumentError(f'{redact(path)} is not a local path')
    half = _HALF_URL.match(path)
    if half:
        raise ArgumentError(f"{redact(path)!r} looks like a URL missing a '/' "
                            f"({half.group(1)}://...); it is not taken as a local folder")
    if is_url(path):
        from fsspec.implementations.local import LocalFileSystem
        return LocalFileSystem._strip_protocol(path)
    return path


def normalize(path):
    """An absolute local path, or the URL without a trailing ``/``: the form compared and joined."""
    path = os.fspath(path)
    if is_remote(path):
        scheme, rest = path.split('://', 1) if '://' in path else (path, '')
        return f'{scheme}://{rest.rstrip("/")}' if rest.rstrip('/') else path
    return osp.abspath(local_path(path))


def join(folder, *names):
    """``folder/name``: ``os.path.join`` for local folders, ``/`` for URLs."""
    if is_remote(folder):
        return '/'.join([folder.rstrip('/')] + [n.strip('/') for n in names])
    return osp.join(local_path(folder), *names)


def basename(path):
    """The last component of a path or URL (trailing separators ignored)."""
    if is_remote(path):
        return path.rstrip('/').rsplit('/', 1)[-1]
    return osp.basename(local_path(path).rstrip(osp.sep))


def parent(path):
    """The folder holding ``path``: an absolute local folder, or the URL up to the last ``/``."""
    path = os.fspath(path)
    if is_remote(path):
        return _parent(normalize(path))
    return osp.dirname(osp.abspath(local_path(path)))


def _parent(url):
    return url.rstrip('/').rsplit('/', 1)[0]


# --------------------------------------------------------------------------- checks
def check_url(url):
    """Raise a clear error if the backend of ``url`` is unknown or not installed; no I/O.

    A missing backend names its extra (``pip install fastrun[s3]``); an unknown protocol
    (``open-mmlab://``, a typo) is an :class:`~fastrun.errors.ArgumentError`.
    """
    if not is_remote(url):
        return
    import fsspec
    for protocol in re.findall(r'([A-Za-z][A-Za-z0-9+.\-]*)(?=://|::)', url):
        protocol = protocol.lower()
        if protocol in _EXTRAS:
            module, extra = _EXTRAS[protocol]
            require(module, extra)
        try:
            fsspec.get_filesystem_class(protocol)
        except ValueError:
            raise ArgumentError(f'{redact(url)}: unknown storage protocol {protocol!r}; fastrun '
                                f'writes local paths and fsspec URLs (s3://, gs://, az://, '
                                f'memory://, file://, ...)') from None
        except ImportError as e:
            raise ImportError(f'{redact(url)}: the {protocol}:// backend is not installed: {e}') from e


def check_location(out_dir, file_client_args=None, owner=None):
    """Check an output folder and mmcv's ``file_client_args`` for it before anything is written.

    ``file_client_args`` (mmcv's FileClient) maps to fsspec where fsspec has the backend:
    ``None`` takes the backend from ``out_dir`` (local path or URL); ``dict(backend='disk')`` is
    the local filesystem, so ``out_dir`` must be a local path. mmcv's other backends have no
    fsspec equivalent (``petrel``: Petrel's own client and credentials file; ``http`` only reads)
    and raise :class:`~fastrun.errors.ArgumentError` with the fix: an fsspec URL as
    ``out_dir``, credentials in the environment. Missing backends raise ImportError naming the
    extra (:func:`check_url`). ``owner`` (a hook's name) starts the messages.
    """
    who = f'{owner}: ' if owner else ''
    if file_client_args is not None:
        if not isinstance(file_client_args, dict):
            raise ArgumentError(f'{who}file_client_args must be a dict or None, got '
                                f'{type(file_client_args).__name__}')
        args = dict(file_client_args)
        backend = args.pop('backend', None)
        prefix = args.pop('prefix', None)
        if backend is None and prefix is not None:  # mmcv infers the backend from the prefix
            backend = {'s3': 'petrel', 'http': 'http', 'https': 'http'}.get(prefix, prefix)
        backend = 'disk' if backend is None else backend
        if backend != 'disk':
            what = _MMCV_ONLY.get(backend, 'not a FileClient backend fastrun knows')
            raise ArgumentError(
                f"{who}file_client_args backend {backend!r} ({what}) has no fsspec "
                f"equivalent; give out_dir as an fsspec URL (s3://bucket/path, gs://..., az://...) "
                f"with the credentials in the environment, and drop file_client_args (see "
                f"docs/storage.md)")
        if args:
            raise ArgumentError(f"{who}file_client_args for the 'disk' backend takes no "
                                f"options, got {', '.join(sorted(args))}; storage options and "
                                f"credentials come from the environment (see "
                                f"docs/storage.md)")
        if out_dir is not None and is_remote(os.fspath(out_dir)):
            raise ArgumentError(f"{who}out_dir={redact(out_dir)!r} is a URL but "
                                f"file_client_args names the local disk; drop file_client_args "
                                f"to write to the URL")
    if out_dir is not None and not is_remote(os.fspath(out_dir)):
        local_path(out_dir)  # 's3:/bucket' (a URL missing a '/') is refused, never a folder
    if out_dir is not None and is_remote(os.fspath(out_dir)):
        url = os.fspath(out_dir)
        check_url(url)
        if _protocol(url) in _READ_ONLY:
            raise ArgumentError(f'{who}{redact(url)}: {_protocol(url)}:// is read-only (checkpoints '
                                f'and logs are written there); use s3://, gs://, az://...')


def check_access(url):
    """Fail now, naming ``url``, if it cannot be reached: no such bucket (container), no
    credentials, no permission to list it. A local path passes.

    One listing (and, on S3 / GCS / Azure, one bucket lookup): hooks call it in ``before_run``,
    so a wrong URL fails before training instead of at the first upload.
    """
    if not is_remote(url):
        return
    fs, path = _fs(url)
    bucket = path.lstrip('/').split('/', 1)[0]
    try:
        if _protocols(fs) & _BUCKETED and not fs.exists(bucket):
            raise FileNotFoundError(f'{redact(url)}: the bucket {bucket!r} does not exist or is '
                                    f'not visible with the credentials in the environment')
        _ls(url)
    except FileNotFoundError:
        raise
    except Exception as e:  # the backends raise their own types (botocore, google.auth...)
        raise PermissionError(f'{redact(url)} cannot be reached ({type(e).__name__}: '
                              f'{redact(e)}); check the credentials in the environment '
                              f"(see docs/storage.md)") from e


# --------------------------------------------------------------------------- local folders
def _staging_root():
    root = os.environ.get('FASTRUN_STAGING_DIR')
    if not root:
        owner = os.getuid() if hasattr(os, 'getuid') else os.environ.get('USERNAME', 'user')
        root = osp.join(tempfile.gettempdir(), f'fastrun-staging-{owner}')
    return root


def staging_path(url):
    """The local path where the file (or folder) ``url`` is written before it is uploaded.

    ``$FASTRUN_STAGING_DIR/<protocol>/<bucket>/<path>``; the staging root defaults to
    ``fastrun-staging-<uid>`` in the temporary folder (``$TMPDIR``, often a job's local disk).
    """
    url = normalize(url)
    scheme, rest = url.split('://', 1) if '://' in url else (url, '')
    rest = rest.split('@', 1)[-1] if '@' in rest.split('/', 1)[0] else rest  # no user info
    parts = [re.sub(r'[^A-Za-z0-9._=-]', '_', p) for p in rest.split('/') if p not in ('', '.', '..')]
    return osp.join(_staging_root(), re.sub(r'[^A-Za-z0-9]', '_', scheme), *parts)


def local_work_dir(work_dir, mirror=False):
    """``(local folder, URL or None)`` of a work dir given as a path or a URL; the folder exists.

    A local path (or ``file://``) is its own folder. A URL gets its staging folder
    (:func:`staging_path`); ``mirror``: the files written there are uploaded to the URL after
    each checkpoint and by :func:`wait_uploads` (one process of a distributed run mirrors).
    """
    work_dir = os.fspath(work_dir)
    if not is_remote(work_dir):
        local = normalize(work_dir)
        os.makedirs(local, exist_ok=True)
        return local, None
    url = normalize(work_dir)
    check_location(url)
    local = staging_path(url)
    os.makedirs(local, exist_ok=True)
    if mirror:
        _uploads.mirror(local, url)
    return local, url


def shown(path):
    """The name a person is shown for ``path``: a URL redacted and intact, a file staged for a
    mirrored work dir as the URL it is uploaded to, any other path as it is."""
    path = os.fspath(path)
    if is_url(path):
        return redact(path)
    absolute = osp.abspath(path)
    for local, url in _uploads.mirrors().items():
        if absolute == local or absolute.startswith(local + os.sep):
            rel = osp.relpath(absolute, local)
            return redact(url if rel == '.' else join(url, *rel.split(os.sep)))
    return path


# --------------------------------------------------------------------------- fsspec access
def _fs(url):
    check_url(url)
    import fsspec.core
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        raise ImportError(f'{redact(url)}: {e}') from e


def _protocols(fs):
    return set(fs.protocol) if isinstance(fs.protocol, (tuple, list)) else {fs.protocol}


def _write(fs, path, local=None, data=None):
    # One object: whole on object stores; elsewhere a temporary name moved into place.
    if _protocols(fs) & _OBJECT_STORES:
        if data is None and 'memory' in _protocols(fs):
            with open(local, 'rb') as f:  # memory's put_file shows the object while it grows
                data = f.read()
        if data is not None:
            fs.pipe_file(path, data)
        else:
            fs.put_file(local, path)
        return
    folder, name = path.rstrip('/').rsplit('/', 1) if '/' in path else ('', path)
    tmp = f'{folder}/.{name}.{os.getpid()}_{threading.get_ident()}.tmp'
    fs.makedirs(folder, exist_ok=True)
    if data is not None:
        fs.pipe_file(tmp, data)
    else:
        fs.put_file(local, tmp)
    fs.mv(tmp, path)


def _mtime_ns(entry):
    # The modification time of an fsspec listing entry; keys differ by backend.
    for key in ('mtime', 'LastModified', 'last_modified', 'updated', 'created', 'modified'):
        value = entry.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return int(value * 1e9)
        if isinstance(value, str):
            from datetime import datetime
            try:
                value = datetime.fromisoformat(value.replace('Z', '+00:00'))
            except ValueError:
                continue
        if hasattr(value, 'timestamp'):
            return int(value.timestamp() * 1e9)
    return 0


def _ls(url):
    fs, path = _fs(url)
    fs.invalidate_cache(path)  # others (and the upload thread) write here: list what is there now
    try:
        return fs.ls(path, detail=True)
    except FileNotFoundError:
        return []


# --------------------------------------------------------------------------- queries
def isfile(path):
    """True if ``path`` is a file (for a URL: once the queued uploads and deletions are done)."""
    path = os.fspath(path)
    if not is_remote(path):
        return osp.isfile(local_path(path))
    url = normalize(path)
    pending = _uploads.pending(url)
    if pending is not None:
        return pending[0] != 'delete'
    fs, p = _fs(url)
    return fs.isfile(p)


def listdir(folder):
    """The names in ``folder`` (for a URL: as they will be once the queued jobs are done)."""
    folder = os.fspath(folder)
    if not is_remote(folder):
        return os.listdir(local_path(folder))
    url = normalize(folder)
    names = {e['name'].rstrip('/').rsplit('/', 1)[-1] for e in _ls(url)}
    for target, (kind, _) in _uploads.pending_in(url).items():
        (names.discard if kind == 'delete' else names.add)(basename(target))
    return sorted(names)


def list_files(folder, suffix=''):
    """``[(name, mtime_ns)]`` of the files in ``folder`` whose names end with ``suffix``.

    Queued uploads count as present (with the local copy's time), queued deletions as gone.
    """
    folder = os.fspath(folder)
    out = {}
    if not is_remote(folder):
        local = local_path(folder)
        if not osp.isdir(local):
            return []
        for name in os.listdir(local):
            path = osp.join(local, name)
            if name.endswith(suffix) and osp.isfile(path):
                out[name] = os.stat(path).st_mtime_ns
        return sorted(out.items())
    url = normalize(folder)
    for entry in _ls(url):
        name = entry['name'].rstrip('/').rsplit('/', 1)[-1]
        if entry.get('type') != 'directory' and name.endswith(suffix):
            out[name] = _mtime_ns(entry)
    for target, (kind, local) in _uploads.pending_in(url).items():
        name = basename(target)
        if kind == 'delete':
            out.pop(name, None)
        elif name.endswith(suffix):
            out[name] = time.time_ns() if kind == 'pointer' else _local_mtime(local)
    return sorted(out.items())


def _local_mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return time.time_ns()


def read_pointer(data):
    """The file name a pointer object's bytes name, or None if they are not a pointer."""
    if not data.startswith(POINTER_MAGIC):
        return None
    name = data[len(POINTER_MAGIC):].decode('utf-8', 'replace').strip()
    return name if name and '/' not in name and name not in ('.', '..') else None


def resolve(path):
    """The file ``path`` designates: symlinks followed (local), a ``latest.pth`` pointer
    object followed to its checkpoint (URL, or a pointer copied to a local disk).
    """
    path = os.fspath(path)
    if not is_remote(path):
        real = osp.realpath(local_path(path))
        if osp.basename(real) == LATEST and osp.isfile(real) and os.stat(real).st_size < 1024:
            with open(real, 'rb') as f:
                target = read_pointer(f.read(1024))
            if target is not None:
                return osp.join(osp.dirname(real), target)
        return real
    url = normalize(path)
    if basename(url) != LATEST:
        return url
    pending = _uploads.pending(url)
    if pending is not None and pending[0] == 'pointer':
        return join(_parent(url), pending[1])
    if pending is not None and pending[0] == 'delete':
        return url
    fs, p = _fs(url)
    try:
        head = fs.cat_file(p, start=0, end=1024)
    except (FileNotFoundError, OSError):
        return url
    target = read_pointer(head)
    return join(_parent(url), target) if target is not None else url


@contextlib.contextmanager
def local_copy(path):
    """A local file holding the content of ``path`` while the block runs (``path`` itself if local).

    A URL whose upload is queued reads its local copy; otherwise the object is downloaded to
    a temporary file, removed afterwards. A missing file raises FileNotFoundError.
    """
    path = os.fspath(path)
    if not is_remote(path):
        yield local_path(path)
        return
    url = normalize(path)
    root = _staging_root()
    os.makedirs(root, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.download-', suffix='-' + basename(url), dir=root)
    os.close(fd)
    try:
        pending = _uploads.pending(url)
        if pending is None or pending[0] != 'put' or not _link_or_copy(pending[1], tmp):
            fs, p = _fs(url)
            if not fs.isfile(p):
                raise FileNotFoundError(f'no such file: {redact(url)}')
            fs.get_file(p, tmp)
        yield tmp
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


def _link_or_copy(src, dst):
    # A hard link keeps the bytes even if the upload ends meanwhile and removes ``src``.
    try:
        os.remove(dst)
        os.link(src, dst)
        return True
    except FileNotFoundError:
        return False  # uploaded and removed already: read the object
    except OSError:
        try:
            shutil.copyfile(src, dst)
            return True
        except FileNotFoundError:
            return False


# --------------------------------------------------------------------------- changes
def remove(path):
    """Delete the file ``path`` (no error if it is gone); for a URL, after the queued jobs."""
    path = os.fspath(path)
    if not is_remote(path):
        try:
            os.remove(local_path(path))
        except FileNotFoundError:
            pass
        return
    _uploads.submit('delete', normalize(path), None)


def upload(local, url, remove_local=False):
    """Copy the local file ``local`` to ``url``; remove ``local`` after that if ``remove_local``.

    To a URL the copy runs in the background thread, after the jobs given before; the local
    file must not change until then (write a new file and rename it over, as checkpoints do).
    A local destination is copied now (through a temporary file and a rename).
    """
    url = os.fspath(url)
    if not is_remote(url):
        dst = local_path(url)
        os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
        if osp.abspath(dst) != osp.abspath(local):
            tmp = f'{dst}.{os.getpid()}.tmp'
            shutil.copyfile(local, tmp)
            os.replace(tmp, dst)
            if remove_local:
                os.remove(local)
        return
    _uploads.submit('put', normalize(url), (local, _identity(local), remove_local))


def set_pointer(latest, target_name):
    """Make ``latest`` (a URL) a pointer object naming ``target_name``, after the queued jobs."""
    _uploads.submit('pointer', normalize(latest), target_name)


def in_upload_thread(url, fn, action):
    """Run ``fn()`` in the upload thread, once the jobs queued before it are done.

    For work on the store at ``url`` that the training loop must not wait for (listing a
    folder, choosing what to delete). ``fn`` is retried as an upload is; when the retries are
    spent a warning names ``action`` and ``url`` (nothing was lost: the run goes on). After a
    failed upload it is skipped, as every job building on it.
    """
    _uploads.submit('call', None, (fn, action, url))


def wait_uploads(raise_errors=True):
    """Upload the mirrored work dirs' files and wait until every queued job is done.

    Raises the :class:`UploadError` of a failed upload (``raise_errors=False``: logs it).
    Call it before the process exits; ``Runner.run`` does before it returns.
    """
    if _uploads.busy():  # a run that wrote nothing to a URL starts no thread here
        _uploads.submit('sync', None, None, check=False)
    _uploads.wait(raise_errors)


def _identity(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size


# --------------------------------------------------------------------------- the upload thread
class _Uploads:
    """The jobs of one process, run in order by one background thread.

    ``_pending`` maps each URL a queued job will change to ``(kind, value)`` (the newest
    job's), so listings from the main thread see the folder as it will be. The thread is not
    a daemon: the interpreter waits for it before exiting, so a script that saved a
    checkpoint and returns still uploads it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs = deque()
        self._pending = {}
        self._thread = None
        self._running = False
        self._error = None
        self._mirrors = {}
        self._synced = {}

    def mirror(self, local, url):
        with self._lock:
            self._mirrors[osp.abspath(local)] = url

    def mirrors(self):
        """``{local folder: URL}`` of the work dirs mirrored so far."""
        with self._lock:
            return dict(self._mirrors)

    def busy(self):
        """True while jobs run or a work dir is mirrored (then there may be files to upload)."""
        with self._lock:
            return self._running or bool(self._mirrors)

    def pending(self, url):
        with self._lock:
            entry = self._pending.get(url)
            return None if entry is None else entry[:2]

    def pending_in(self, folder):
        with self._lock:
            return {u: e[:2] for u, e in self._pending.items() if _parent(u) == folder}

    def submit(self, kind, url, value, check=True):
        with self._lock:
            if check and self._error is not None:
                error, self._error = self._error, None
                raise error
            job = (kind, url, value)
            if url is not None:
                shown = value[0] if kind == 'put' else value
                self._pending[url] = (kind, shown, job)
            self._jobs.append(job)
            if not self._running:
                self._running = True
                self._thread = threading.Thread(target=self._work, name='fastrun-uploads')
                self._thread.start()

    def wait(self, raise_errors=True):
        with self._lock:
            while self._running:
                self._changed.wait()
            error, self._error = self._error, None
        if error is not None:
            if raise_errors:
                raise error
            logger_.error('%s', error)

    def _work(self):
        while True:
            with self._lock:
                if not self._jobs:
                    self._running = False
                    self._changed.notify_all()
                    return
                job = self._jobs.popleft()
                skip = self._error is not None  # after a failure: nothing that builds on it
            try:
                if not skip:
                    self._run(*job)
            except Exception as e:
                self._failed(e)
            finally:
                with self._lock:
                    if job[1] is not None and self._pending.get(job[1], (None, None, None))[2] is job:
                        del self._pending[job[1]]
            if not self._jobs:  # the last job of a save: the work dirs' files follow
                try:
                    self._sync_mirrors()
                except Exception as e:
                    self._failed(e)

    def _failed(self, error):
        # Kept for the next upload() or wait_uploads(); anything else than an UploadError is
        # our own bug, reported the same way so that it is never lost with the thread.
        if not isinstance(error, UploadError):
            error = UploadError(f'upload thread: {type(error).__name__}: {redact(error)}')
        with self._lock:
            self._error = self._error or error

    def _run(self, kind, url, value):
        if kind == 'put':
            local, identity, remove_local = value
            try:
                if _identity(local) != identity:
                    return  # rewritten since: the job queued with the new file uploads it
            except FileNotFoundError:
                return
            fs, path = _fs(url)
            _retry(lambda: _write(fs, path, local=local), url, local)
            if remove_local:
                try:
                    if _identity(local) == identity:
                        os.remove(local)
                except OSError:
                    pass
        elif kind == 'pointer':
            fs, path = _fs(url)
            _retry(lambda: _write(fs, path, data=POINTER_MAGIC + value.encode() + b'\n'), url)
        elif kind == 'delete':
            fs, path = _fs(url)
            try:
                _retry(lambda: _remove_object(fs, path), url)
            except UploadError as e:  # nothing is lost: the file stays, the run goes on
                logger_.warning('could not delete %s: %s', redact(url), e)
        elif kind == 'call':
            fn, action, where = value
            try:
                _retry(fn, where, action=action)
            except UploadError as e:  # nothing is lost: what it would delete stays, the run goes on
                logger_.warning('%s', e)
        elif kind == 'sync':
            pass  # the mirrors are synced once the queue is empty

    def _sync_mirrors(self):
        with self._lock:
            mirrors = dict(self._mirrors)
            if self._error is not None:
                return
        for local, url in mirrors.items():
            for rel, identity in _mirrored_files(local):
                if self._synced.get((local, rel)) == identity:
                    continue
                target = join(url, *rel.split(os.sep))
                fs, path = _fs(target)
                _retry(lambda: _write(fs, path, local=osp.join(local, rel)), target,
                       osp.join(local, rel))  # raises UploadError: kept by _work
                self._synced[(local, rel)] = identity


def _mirrored_files(local):
    # The files of a work dir that go to its URL: all but checkpoints (uploaded on their own)
    # and temporaries.
    for root, dirs, files in os.walk(local):
        for name in files:
            if name.endswith(('.pth',) + _TEMPORARY_SUFFIXES) or name == LOCK_NAME:
                continue
            path = osp.join(root, name)
            try:
                yield osp.relpath(path, local), _identity(path)
            except OSError:
                continue


def _remove_object(fs, path):
    try:
        fs.rm(path)
    except FileNotFoundError:
        pass


def _retry(fn, url, local=None, action=None):
    # UPLOAD_RETRIES more attempts after the first, waiting 1x, 2x, 4x... UPLOAD_BACKOFF_S.
    # ``action``: what fn does at url, for the messages (default: an upload).
    attempts = 1 + max(0, int(UPLOAD_RETRIES))
    for i in range(attempts):
        try:
            return fn()
        except Exception as e:  # the backends raise their own types (botocore, aiohttp...)
            last = e
            if i + 1 < attempts:
                delay = UPLOAD_BACKOFF_S * 2 ** i
                logger_.warning('%s %s failed (%s: %s); retrying in %g s', action or 'upload to',
                                redact(url), type(e).__name__, _one_line(e), delay)
                time.sleep(delay)
    if action is not None:
        raise UploadError(f'cannot {action} {redact(url)} after {attempts} attempts '
                          f'({type(last).__name__}: {_one_line(last)}); what is there stays as it '
                          f'is') from last
    kept = f'; the local copy is kept at {local}' if local else ''
    raise UploadError(f'cannot upload to {redact(url)} after {attempts} attempts '
                      f'({type(last).__name__}: {_one_line(last)}){kept}; the files uploaded '
                      f'before are unchanged') from last


def _one_line(error):
    # A backend's message (botocore's spans lines) as one line, without user info.
    return ' '.join(redact(error).split())


_uploads = _Uploads()
