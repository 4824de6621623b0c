"""Preemption: SIGTERM / SIGINT end a run after the current iteration, with a checkpoint.

While ``Runner.run`` runs in the main thread, :class:`StopOnSignal` replaces the handlers of
SIGTERM and SIGINT. The first signal only sets a flag; the runner reads it after the current
iteration (``runner.stop_training``, which the loop checks anyway), saves a checkpoint of
the exact position, runs ``after_run`` (loggers flush and close) and raises
:class:`Preempted`, a ``SystemExit`` with code ``128 + signum`` (143 for SIGTERM, 130 for
SIGINT): uncaught, the process exits with it, as if killed by the signal but with its work
saved. The first signal also restores the default action of both signals, so a second one
ends the process at once. Not in a process torchrun started (``TORCHELASTIC_RUN_ID`` set):
torchrun forwards the signal it gets to its workers, which often got it already from the
cluster manager, so there a repeated signal is ignored; torchrun itself kills the workers
still running ``--shutdown-timeout`` seconds (default 30) after it forwarded one. The previous
handlers come back when ``run`` returns.

In a distributed run a signal may reach one rank only: the flag stays local and
:class:`StopSync` all-reduces it every ``interval`` train iterations (a one-number
collective on a CPU group, no device sync), so every rank stops after the same iteration.

:class:`Preemption` is what the runner enters around one ``run``: it installs the handlers,
registers :class:`StopSync` when distributed, and after the loop saves the checkpoint
(:func:`save_on_stop`, through the same capture as every checkpoint, see :mod:`fastrun.state`).
"""
import os
import signal
import threading

from . import storage
from .hook import Hook
from .hook_order import priority_of
from .state import gather_rng_states

__all__ = ['Preempted', 'Preemption', 'StopOnSignal', 'StopSync', 'SIGNALS', 'save_on_stop']

#: The signals that stop a run with a checkpoint.
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(SystemExit):
    """The run was stopped by a signal after saving a checkpoint; ``code`` is ``128 + signum``.

    ``signum`` is the signal, ``checkpoint`` the file written (None when there was nowhere to
    write). A ``SystemExit``: a script that does not catch it exits with ``code``.
    """

    def __init__(self, signum, checkpoint=None):
        super().__init__(128 + signum)
        self.signum = signum
        self.checkpoint = checkpoint

    def __str__(self):
        name = signal.Signals(self.signum).name
        where = f'; resume from {self.checkpoint}' if self.checkpoint else ''
        return f'stopped by {name} (exit code {self.code}){where}'


class StopOnSignal:
    """Context manager: while active (main thread only), SIGTERM/SIGINT ask ``runner`` to stop.

    ``signum`` is the first signal received, or None. With ``local_only`` (distributed runs)
    the handler does not touch ``runner.stop_training``: :class:`StopSync` decides for all
    ranks together.
    """

    def __init__(self, runner, local_only=False):
        self.runner = runner
        self.local_only = local_only
        self.signum = None
        self._previous = None
        self._replaced = {}

    def _handle(self, signum, frame):
        # Runs in the main thread between two bytecodes: set flags only, log nothing (the
        # logging lock may be held by the interrupted code).
        if not self._active:
            # Someone (a tracking library, say) recorded this handler while the run was on and
            # put it back afterwards: behave as the handler this one replaced.
            return _call_previous(self._replaced.get(signum), signum, frame)
        if self.signum is None:
            self.signum = signum
        elif self._launched:
            return  # torchrun's copy of a signal this process got already: the stop is on
        if not self._launched:
            for s in SIGNALS:
                signal.signal(s, signal.SIG_DFL)  # a second signal ends the process at once
        if not self.local_only:
            self.runner.stop_training = True

    _active = False
    _launched = False

    def __enter__(self):
        # Started by torchrun: it forwards signals (and kills what outlives its shutdown timeout).
        self._launched = 'TORCHELASTIC_RUN_ID' in os.environ
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.getsignal(s) for s in SIGNALS}
            self._replaced = dict(self._previous)
            self._active = True
            for s in SIGNALS:
                signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        self._active = False
        if self._previous is not None:
            for s, handler in self._previous.items():
                signal.signal(s, handler if handler is not None else signal.SIG_DFL)
            self._previous = None
        return False


def _call_previous(handler, signum, frame):
    if callable(handler):
        return handler(signum, frame)
    if handler == signal.SIG_IGN:
        return None
    # SIG_DFL (or unknown): the default action, as if no handler had been installed
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


class StopSync(Hook):
    """Makes every rank stop after the same iteration when a signal reached some of them.

    Every ``interval`` train iterations, the ranks all-reduce (max) the signal number each has
    received, 0 for none; a non-zero result sets ``runner.stop_training`` on all of them. The
    runner registers it for the duration of a distributed run.
    """

    def __init__(self, stopper, interval=10):
        self.stopper = stopper
        self.interval = interval
        self.signum = None
        self._group = None

    def before_run(self, runner):
        import torch.distributed as dist
        # A gloo group for the flag: checking it never waits for the device (NCCL would).
        self._group = None if dist.get_backend() == 'gloo' else dist.new_group(backend='gloo')

    def after_train_iter(self, runner):
        if (runner.iter + 1) % self.interval:
            return
        self.check(runner)

    def check(self, runner):
        """All-reduce the local signal flag now (a collective: every rank calls it)."""
        import torch
        import torch.distributed as dist
        flag = torch.tensor([self.stopper.signum or 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        signum = int(flag.item())
        if signum:
            self.signum = signum
            runner.stop_training = True
        return signum


class Preemption:
    """The preemption side of one ``runner.run``: a context manager around ``before_run`` … ``after_run``.

    Entering installs the signal handlers (:class:`StopOnSignal`), registers :class:`StopSync`
    at ``LOWEST`` priority in a distributed run, and makes itself ``runner.run_state.preemption``;
    leaving undoes the three. After the loop, :meth:`save_if_stopped` saves the checkpoint of a
    run a signal cut short; after leaving, :meth:`raise_if_stopped` raises :class:`Preempted`.
    """

    def __init__(self, runner):
        self.runner = runner
        distributed = runner.world_size > 1
        self.stopper = StopOnSignal(runner, local_only=distributed)
        self.sync = StopSync(self.stopper, runner.stop_check_interval) if distributed else None
        #: The signal that stopped an unfinished run and the checkpoint saved then (path or None).
        self.stopped_by = self.saved = None

    def __enter__(self):
        if self.sync is not None:
            self.runner.register_hook(self.sync, priority_of('stop_sync'))
        self.runner.run_state.preemption = self
        try:
            self.stopper.__enter__()
        except BaseException:
            self._undo()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.stopper.__exit__(*exc)
        finally:
            self._undo()
        return False

    def _undo(self):
        self.runner.run_state.preemption = None
        if self.sync is not None:
            self.runner.hooks.remove(self.sync)

    @property
    def signum(self):
        """The signal that stopped the loop, or None (agreed by all ranks when distributed)."""
        if not self.runner.stop_training:
            return None
        return (self.sync if self.sync is not None else self.stopper).signum

    def save_if_stopped(self):
        """After the loop: save the checkpoint of a run a signal stopped before its end."""
        signum = self.signum
        if signum is not None and not self.runner._finished():  # a finished run has nothing to resume
            self.stopped_by = signum
            self.saved = save_on_stop(self.runner, signum)

    def raise_if_stopped(self):
        """Raise :class:`Preempted` if :meth:`save_if_stopped` saved a stopped run."""
        if self.stopped_by is not None:
            raise Preempted(self.stopped_by, self.saved)


def save_on_stop(runner, signum):
    """Save the checkpoint of a run stopped by ``signum`` at its exact position; its path, or None.

    A hook with ``save_on_stop(runner)`` (``CheckpointHook``) saves it, named as its files are;
    without one, the runner saves ``work_dir/<runner.stop_checkpoint_name()>``. Every rank calls
    it; rank 0 writes.
    """
    epoch, it, inner = runner.position()
    # Once per run: every rank stops at this point, rank 0 says so (the others log it for
    # debugging only; their warnings would print it once per process).
    log = runner.logger.warning if runner.rank == 0 else runner.logger.debug
    log('%s received: stopped after epoch %d, iter %d%s; saving a checkpoint',
                          signal.Signals(signum).name, epoch, it,
                          f' ({inner} batches into epoch {epoch + 1})' if inner else '')
    for hook in runner.hooks:
        save = getattr(hook, 'save_on_stop', None)
        if callable(save):
            return save(runner)
    if runner.work_dir is None:
        runner.logger.warning('no work_dir and no checkpoint hook: nothing saved')
        return None
    # The work dir as given: a URL work dir gets its checkpoint there, not in the staging folder.
    work_dir = getattr(runner, 'work_url', None) or runner.work_dir
    path = storage.join(work_dir, runner.stop_checkpoint_name())
    gather_rng_states(runner)
    if runner.rank == 0:
        name = storage.basename(path).replace('{', '{{').replace('}', '}}')
        runner.save_checkpoint(work_dir, filename_tmpl=name)
    if runner.world_size > 1:
        import torch.distributed as dist
        dist.barrier()
    return path
