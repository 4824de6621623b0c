"""IterTimerHook: per-iteration ``time`` and ``data_time`` in the log."""
import time

from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class IterTimerHook(Hook):
    """Logs the wall time of each iteration (``time``) and the part spent waiting for data."""

    def before_epoch(self, runner):
        self.t = time.time()

    def before_iter(self, runner):
        runner.log_buffer.update({'data_time': time.time() - self.t})

    def after_iter(self, runner):
        runner.log_buffer.update({'time': time.time() - self.t})
        self.t = time.time()
