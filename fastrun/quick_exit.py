"""Ending the ``fastrun`` command without the interpreter's teardown.

With torch (and ``torch._dynamo``, which ``torch.optim`` imports) loaded, the interpreter's own
exit takes 1-1.5 s after the last log line: a few full garbage collections over ~300,000
objects, the clearing of every module, and libtorch deregistering its kernels. None of it
writes anything. :func:`quick_exit` does what the exit does that matters for what a run leaves
behind, then ends the process at once.
"""
import _io
import atexit
import gc
import io
import os
import sys
import threading

__all__ = ['quick_exit']


_IOBASE = getattr(_io, '_IOBase', None) or io.IOBase  # the C base of every file object


def _close_open_files():
    # What the interpreter's teardown would do to a file object still open (a hook that never
    # closed its file): its finalizer closes it, writing what is buffered. A wrapper is closed
    # before what it wraps (text over gzip over a buffered writer over the raw file), or its
    # last bytes would find its inner file closed. Only types are checked and references
    # followed (gc.get_referents): no attribute of an arbitrary object is read.
    std = {id(f) for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__, sys.stdin,
                           sys.__stdin__) if f is not None}
    files = [obj for obj in gc.get_objects()
             if issubclass(type(obj), _IOBASE) and id(obj) not in std]
    ids = {id(f) for f in files}
    inner = {}
    for f in files:
        found = []
        for ref in gc.get_referents(f):
            refs = gc.get_referents(ref) if type(ref) is dict else (ref,)  # a Python wrapper's attributes
            found += [id(r) for r in refs if id(r) in ids]
        inner[id(f)] = found
    depth = dict.fromkeys(ids, 0)  # 0: wrapped by no other open file
    for _ in range(len(files)):
        changed = False
        for f in files:
            for i in inner[id(f)]:
                if depth[i] <= depth[id(f)]:
                    depth[i] = depth[id(f)] + 1
                    changed = True
        if not changed:
            break
    for f in sorted(files, key=lambda f: depth[id(f)]):
        try:
            if not f.closed:
                f.close()
        except Exception:  # a broken file must not keep the others from being written
            pass


def quick_exit(code=0):
    """End the process with ``code`` after everything an ordinary exit writes is written.

    In the order of the interpreter's exit: non-daemon threads are joined (and executors shut
    down), ``atexit`` handlers run (``logging.shutdown`` flushing and closing the log files,
    W&B and MLflow finishing their runs, ``torch.distributed`` shutting down, data loader
    workers stopped), files still open are closed (flushing their buffers; each wrapper before
    the file it wraps, which the interpreter's own teardown does not promise), standard output
    and error are flushed; then ``os._exit``. Skipped: finalizers of objects other than files,
    and the C-level exit handlers. A native profiler that saves its data at process exit needs
    those: under Nsight Systems / Nsight Compute (``CUDA_INJECTION64_PATH`` set), or with
    ``FASTRUN_FULL_EXIT=1``, this is an ordinary ``sys.exit``.
    """
    if (os.environ.get('FASTRUN_FULL_EXIT', '') not in ('', '0')
            or os.environ.get('CUDA_INJECTION64_PATH')):
        sys.exit(code)
    shutdown = getattr(threading, '_shutdown', None)  # what the interpreter calls first at exit
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    _close_open_files()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    os._exit(0 if code is None else code if isinstance(code, int) else 1)
