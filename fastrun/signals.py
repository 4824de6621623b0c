"""Preemption: SIGTERM / SIGINT end a run after the current iteration, with a checkpoint.

While ``Runner.run`` runs in the main thread, :class:`StopOnSignal` replaces the handlers of
SIGTERM and SIGINT. The first signal only sets a flag; the runner reads it after the current
iteration (``runner.stop_training``, which the loop checks anyway), saves a checkpoint of
the exact position, runs ``after_run`` (loggers flush and close) and raises
:class:`Preempted`, a ``SystemExit`` with code ``128 + signum`` (143 for SIGTERM, 130 for
SIGINT): uncaught, the process exits with it, as if killed by the signal but with its work
saved. The first signal also restores the default action of both signals, so a second one
ends the process at once. The previous handlers come back when ``run`` returns.

In a distributed run a signal may reach one rank only: the flag stays local and
:class:`StopSync` all-reduces it every ``interval`` train iterations (a one-number
collective on a CPU group, no device sync), so every rank stops after the same iteration.
"""
import signal
import threading

from .hook import Hook

__all__ = ['Preempted', 'StopOnSignal', 'StopSync', 'SIGNALS']

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
        for s in SIGNALS:
            signal.signal(s, signal.SIG_DFL)  # a second signal ends the process at once
        if not self.local_only:
            self.runner.stop_training = True

    _active = False

    def __enter__(self):
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
    import os
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
