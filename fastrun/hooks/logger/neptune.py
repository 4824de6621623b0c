"""NeptuneLoggerHook: the logged values in a Neptune run."""
from ...dist import master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook


def _number(val):
    # 0-d tensors and arrays, numpy scalars -> Python numbers (logging time only, never per step)
    return val.item() if hasattr(val, 'item') else val


def _neptune_api():
    """The module with Neptune's run API: ``neptune`` (>= 1.0), else ``neptune.new`` (0.x, mmcv's)."""
    neptune = require('neptune', 'neptune')
    if hasattr(neptune, 'init_run'):
        return neptune
    # neptune-client 0.x: ``neptune`` is the legacy API, the run API lives in ``neptune.new``.
    return require('neptune.new', 'neptune')


@HOOKS.register_module()
class NeptuneLoggerHook(LoggerHook):
    """Logs to a Neptune run started with ``neptune.init_run(**init_kwargs)`` (rank 0).

    ``init_kwargs``: ``project`` (else ``NEPTUNE_PROJECT``), ``api_token`` (else
    ``NEPTUNE_API_TOKEN``, the better place for it), ``name``, ``mode`` (``'offline'`` and
    ``'debug'`` need no server)... Each log appends every value to its series
    (``run['train/loss'].log(value, step=runner.iter + 1)``); with ``with_step=False`` the values
    go without a step and the step is appended to a ``global_step`` series instead (mmcv's
    code for that case raised). The run is stopped after the run. Unlike the other loggers,
    ``reset_flag`` defaults to True, as in mmcv: it clears the log output after logging it, so
    logger hooks listed after it in ``log_config`` miss the evaluation results. Needs
    ``neptune`` (``pip install fastrun[neptune]``; neptune-client's ``neptune.new`` works too),
    checked when the hook is built. ``hook.neptune`` is that module; the run is started with
    its ``init`` (mmcv's call, neptune-client 0.x) or, where there is none, ``init_run``;
    ``hook.run`` is the run, kept after the run as in mmcv (stopped by then).
    """

    def __init__(self, init_kwargs=None, interval=10, ignore_last=True, reset_flag=True,
                 with_step=True, by_epoch=True):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.neptune = _neptune_api()
        self.init_kwargs = init_kwargs
        self.with_step = with_step
        #: The Neptune run of the current or last ``runner.run`` (None before the first one).
        self.run = None
        self._running = False

    def before_run(self, runner):
        super().before_run(runner)
        if runner.rank == 0:
            self.flush_and_close(runner)  # a run an earlier, crashed runner.run left open
            start = getattr(self.neptune, 'init', None) or self.neptune.init_run
            self.run = start(**(self.init_kwargs or {}))
            self._running = True

    @master_only
    def log(self, runner):
        run = self.run
        if not self._running:
            return
        step = self.get_iter(runner)
        tags = self.get_loggable_tags(runner)
        for tag, val in tags.items():
            if not self.is_scalar(val):
                continue
            if self.with_step:
                run[tag].log(_number(val), step=step)
            else:
                run[tag].log(_number(val))
        if tags and not self.with_step:
            run['global_step'].log(step)

    def flush_and_close(self, runner):
        """Stop the Neptune run (waiting until its data is written or sent), once."""
        if self._running:
            self._running = False
            self.run.stop()

    def after_run(self, runner):
        if runner.rank == 0:
            self.flush_and_close(runner)
