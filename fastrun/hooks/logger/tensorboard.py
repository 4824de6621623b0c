"""TensorboardLoggerHook: scalars (and texts) in TensorBoard event files."""
import os.path as osp

from ...dist import master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook


@HOOKS.register_module()
class TensorboardLoggerHook(LoggerHook):
    """Writes the logged values with ``torch.utils.tensorboard.SummaryWriter`` (rank 0 only).

    Tags are ``train/<name>``, ``val/<name>``, ``learning_rate`` and ``momentum`` (see
    ``get_loggable_tags``), at step ``runner.iter + 1``. ``log_dir`` defaults to
    ``<work_dir>/tf_logs``. Needs the ``tensorboard`` package (``pip install fastrun[tensorboard]``),
    checked when the hook is built. ``writer`` is the ``SummaryWriter`` of the last run, kept
    after the run as in mmcv (closed by then).
    """

    def __init__(self, log_dir=None, interval=10, ignore_last=True, reset_flag=False,
                 by_epoch=True):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        # Fail when the config is read, not after the first epoch has run.
        require('tensorboard', 'tensorboard')
        require('torch.utils.tensorboard', 'tensorboard')
        self.log_dir = log_dir
        #: The writer of the current or last run (None before the first one).
        self.writer = None
        self._writer_open = False

    @master_only
    def before_run(self, runner):
        super().before_run(runner)
        from torch.utils.tensorboard import SummaryWriter
        self.flush_and_close(runner)
        log_dir = self.log_dir
        if log_dir is None:
            if runner.work_dir is None:
                raise ValueError('TensorboardLoggerHook needs log_dir or a runner with a work_dir')
            log_dir = osp.join(runner.work_dir, 'tf_logs')
        self.writer = SummaryWriter(log_dir)
        self._writer_open = True

    @master_only
    def log(self, runner):
        step = self.get_iter(runner)
        for tag, val in self.get_loggable_tags(runner, allow_text=True).items():
            if isinstance(val, str):
                self.writer.add_text(tag, val, step)
            else:
                self.writer.add_scalar(tag, val, step)

    def flush_and_close(self, runner):
        """Flush the pending events to disk and close the writer (once)."""
        if self._writer_open:
            self._writer_open = False
            self.writer.close()

    def after_run(self, runner):
        self.flush_and_close(runner)
