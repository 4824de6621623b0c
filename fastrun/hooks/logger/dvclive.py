"""DvcliveLoggerHook: the logged values in a DVCLive folder (metrics.json, plots/metrics)."""
import inspect
import os.path as osp

from ...dist import barrier, get_dist_info, master_only
from ...optional import require
from ...registry import HOOKS
from ...state import gather_rng_states
from .base import LoggerHook


def _number(val):
    # 0-d tensors and arrays, numpy scalars -> Python numbers (logging time only, never per step)
    return val.item() if hasattr(val, 'item') else val


@HOOKS.register_module()
class DvcliveLoggerHook(LoggerHook):
    """Logs to DVCLive (rank 0): a ``dvclive.Live(**kwargs)`` started at ``before_run``.

    ``by_epoch`` decides when the hook logs and at which step, as mmcv 1.7 meant it to:

    - ``by_epoch=True`` (default): once per train epoch, after it, at step ``epoch`` (1-based):
      the train values averaged over the last ``interval`` iterations of the epoch
      (``train/<name>``) and the results an evaluation hook put in the log buffer
      (``val/<name>``); a val epoch is averaged and logged at step ``epoch`` too. The other
      logger hooks see the log buffer as if this hook were not there. (mmcv logged only what
      other logger hooks left in the buffer: nothing of the training when alone, and with a
      text logger before it that one logged every iteration.)
    - ``by_epoch=False``: as every logger hook, the train values averaged every ``interval``
      iterations and evaluation results after an epoch, at step ``runner.iter + 1``.

    Each logged value goes to ``<dir>/plots/metrics/<name>.tsv`` (``train/loss`` ->
    ``plots/metrics/train/loss.tsv``); ``<dir>/metrics.json`` holds the latest values and step.
    ``kwargs`` are ``Live``'s options (``dir='dvclive'``, relative to the current directory;
    ``resume``, ``report``, ``save_dvc_exp``, ...). As in mmcv, the ``Live`` is created when the
    hook is built (on rank 0 only: the other ranks write nothing), as ``hook.dvclive``; it is
    ended after the run and stays there; a later ``runner.run`` with the same hook starts a new
    one (which clears ``dir`` unless ``resume=True``). ``dvclive``: a ``Live`` to log to
    instead; it is neither cleared nor ended. The ``Live`` API is dvclive's (``step`` and
    ``log_metric``), or the 0.x one mmcv used (``set_step`` and ``log``) where the class has no
    ``log_metric``.
    ``model_file``: after every train epoch the runner saves a checkpoint to that path (its
    name may hold ``{}`` for the epoch number). Needs ``dvclive`` (``pip install
    fastrun[dvclive]``), checked when the hook is built.
    """

    def __init__(self, model_file=None, interval=10, ignore_last=True, reset_flag=False,
                 by_epoch=True, dvclive=None, **kwargs):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self._live_cls = require('dvclive', 'dvclive').Live
        if dvclive is None:
            # A misspelt option fails now, not after the model and data are set up.
            inspect.signature(self._live_cls).bind(**kwargs)
        self.model_file = model_file
        self.kwargs = kwargs
        #: The ``Live`` logged to: the one given, or the one this hook created (None on ranks
        #: other than 0).
        self.dvclive = dvclive
        self._own_live = dvclive is None
        self._live_ended = False
        self._step = None  # the step last set on a dvclive 0.x Live
        if self._own_live and get_dist_info()[0] == 0:
            self.dvclive = self._live_cls(**kwargs)

    def before_run(self, runner):
        super().before_run(runner)
        if runner.rank != 0:
            return
        # The Live built with the hook serves the first run; an ended one (the runner ends it
        # after each run, crashed or not) is replaced.
        if self._own_live and (self.dvclive is None or self._live_ended):
            self.dvclive = self._live_cls(**self.kwargs)
            self._live_ended = False
        self._step = None

    def _write(self, tags, step):
        live = self.dvclive
        tags = {tag: _number(val) for tag, val in tags.items() if self.is_scalar(val)}
        if live is None or not tags:
            return
        if hasattr(type(live), 'log_metric'):  # dvclive >= 1.0
            live.step = step
            for tag, val in tags.items():
                live.log_metric(tag, val)
            # Writes metrics.json (and dvc.yaml, the report) for this step; the step it then
            # counts up to is never used, each log sets its own.
            live.next_step()
        else:  # dvclive 0.x, the API mmcv was written for
            if step != self._step:  # a train epoch and its val epoch share their step
                live.set_step(step)
                self._step = step
            for tag, val in tags.items():
                live.log(tag, val)

    @master_only
    def log(self, runner):
        step = self.get_epoch(runner) if self.by_epoch else self.get_iter(runner)
        self._write(self.get_loggable_tags(runner), step)

    def _log_epoch(self, runner):
        """The train values of the epoch's last ``interval`` iterations and the evaluation
        results, at step ``epoch``; the log buffer is left as the other loggers expect it."""
        buf = runner.log_buffer
        others_see, was_ready = dict(buf.output), buf.ready
        # Values no train step logged: put there by an evaluation hook.
        evaluated = {k: v for k, v in others_see.items() if k not in buf.val_history} \
            if was_ready else {}
        # note: a collective and the CPU-GPU sync of this log, once per epoch on every rank
        buf.average(self.interval)
        if runner.rank == 0:
            tags = {f'train/{k}': v for k, v in buf.output.items()
                    if k in buf.val_history and k not in ('time', 'data_time')}
            tags.update((f'val/{k}', v) for k, v in evaluated.items())
            tags.update(self.get_lr_tags(runner))
            tags.update(self.get_momentum_tags(runner))
            self._write(tags, self.get_epoch(runner))
        buf.clear_output()
        if not self.reset_flag:  # not the last logger: the ones after it see no change
            buf.output.update(others_see)
            buf.ready = was_ready

    def _save_model(self, runner):
        gather_rng_states(runner)  # a collective: every rank, before rank 0 writes
        if runner.rank == 0:
            runner.save_checkpoint(osp.dirname(self.model_file) or '.',
                                   filename_tmpl=osp.basename(self.model_file),
                                   create_symlink=False)
        barrier()  # no rank reads the file before it is complete

    def after_train_iter(self, runner):
        if not self.by_epoch:
            super().after_train_iter(runner)
        elif self.reset_flag and runner.log_buffer.ready:
            # The last logger clears what the others logged, or they would log it again.
            runner.log_buffer.clear_output()

    def after_train_epoch(self, runner):
        if self.model_file is not None:
            self._save_model(runner)
        if self.by_epoch:
            self._log_epoch(runner)
        else:
            super().after_train_epoch(runner)

    def flush_and_close(self, runner):
        """End the ``Live`` this hook created (writing its summary), once; a given one is left open."""
        if self._own_live and self.dvclive is not None and not self._live_ended:
            self._live_ended = True
            end = getattr(self.dvclive, 'end', None)  # dvclive 0.x wrote its summary at each step
            if end is not None:
                end()

    def after_run(self, runner):
        if runner.rank == 0:
            self.flush_and_close(runner)
