"""ClearMLLoggerHook: the logged values as scalars of a ClearML task."""
from ...dist import master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook


def _number(val):
    # 0-d tensors and arrays, numpy scalars -> Python numbers (logging time only, never per step)
    return val.item() if hasattr(val, 'item') else val


@HOOKS.register_module()
class ClearMLLoggerHook(LoggerHook):
    """Logs to a ClearML task (rank 0): ``clearml.Task.init(**init_kwargs)`` at ``before_run``.

    ``Task.init`` is called as mmcv calls it; when a task with other names already runs in this
    process (the script's own ``Task.init``), ClearML refuses a second one: that task is logged
    to instead, with a warning. Each value is ``task_logger.report_scalar(tag, tag, value,
    runner.iter + 1)``. ``hook.clearml``, ``hook.task`` and ``hook.task_logger`` are the module,
    the task and its logger, as in mmcv. As in mmcv the task is not closed after the run (its
    reports are flushed): ClearML completes it when the process exits, so the script can go
    on using ``Task.current_task()``. ``Task.init`` installs ClearML's own SIGTERM/SIGINT and
    exception handlers; offline mode (``Task.set_offline(True)``) needs no server.
    Needs ``clearml`` (``pip install fastrun[clearml]``), checked when the hook is built.
    """

    def __init__(self, init_kwargs=None, interval=10, ignore_last=True, reset_flag=False,
                 by_epoch=True):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.clearml = require('clearml', 'clearml')
        self.init_kwargs = init_kwargs
        #: The ClearML task logged to and its logger (None before the first run).
        self.task = None
        self.task_logger = None

    def before_run(self, runner):
        super().before_run(runner)
        if runner.rank != 0:
            return
        task_cls = self.clearml.Task
        try:
            self.task = task_cls.init(**(self.init_kwargs or {}))
        except self.clearml.errors.UsageError as e:
            # Task.init with other names than the running task's: log to that task instead.
            self.task = task_cls.current_task()
            if self.task is None:
                raise
            runner.logger.warning('ClearMLLoggerHook: logging to the task already running in '
                                  'this process (%s); init_kwargs unused: %s', self.task.name, e)
        self.task_logger = self.task.get_logger()

    @master_only
    def log(self, runner):
        if self.task_logger is None:
            return
        step = self.get_iter(runner)
        for tag, val in self.get_loggable_tags(runner).items():
            if self.is_scalar(val):
                self.task_logger.report_scalar(tag, tag, _number(val), step)

    def flush_and_close(self, runner):
        """Send (or, offline, write) what was reported; the task itself stays open."""
        if self.task is not None:
            self.task.flush(wait_for_uploads=True)

    def after_run(self, runner):
        if runner.rank == 0:
            self.flush_and_close(runner)
