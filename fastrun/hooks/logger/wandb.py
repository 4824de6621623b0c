"""WandbLoggerHook: the logged values in a Weights & Biases run."""
import os.path as osp
import warnings

from ...dist import master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook, files_with_suffix


@HOOKS.register_module()
class WandbLoggerHook(LoggerHook):
    """Logs to a W&B run started with ``wandb.init(**init_kwargs)`` at ``before_run`` (rank 0).

    Each log is ``run.log(tags, step=runner.iter + 1, commit=commit)``; with ``with_step=False``
    the step goes in the ``global_step`` value instead. ``define_metric_cfg`` maps metric names
    to a summary (``{'val/accuracy_top-1': 'max'}``); one W&B rejects is skipped with a warning.
    After the run, the files of ``work_dir`` ending with ``out_suffix`` are logged as an artifact
    (``log_artifact``) and the run is finished. ``WANDB_MODE=offline`` works without a network.
    Needs the ``wandb`` package (``pip install fastrun[wandb]``), checked when the hook is built.
    """

    def __init__(self, init_kwargs=None, interval=10, ignore_last=True, reset_flag=False,
                 commit=True, by_epoch=True, with_step=True, log_artifact=True,
                 out_suffix=('.log.json', '.log', '.py'), define_metric_cfg=None):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.wandb = require('wandb', 'wandb')
        self.init_kwargs = init_kwargs
        self.commit = commit
        self.with_step = with_step
        self.log_artifact = log_artifact
        self.out_suffix = out_suffix
        self.define_metric_cfg = define_metric_cfg
        #: The W&B run of the current ``runner.run`` (None before it and after it ends).
        self.run = None

    @master_only
    def before_run(self, runner):
        super().before_run(runner)
        self.flush_and_close(runner)  # a run an earlier, crashed runner.run left open
        self.run = self.wandb.init(**(self.init_kwargs or {}))
        for metric, summary in (self.define_metric_cfg or {}).items():
            try:
                self.run.define_metric(metric, summary=summary)
            except self.wandb.Error as e:
                warnings.warn(f'define_metric_cfg: metric={metric}, summary={summary} '
                              f'is skipped: {e}')

    @master_only
    def log(self, runner):
        if self.run is None:
            return
        tags = self.get_loggable_tags(runner)
        if not tags:
            return
        if self.with_step:
            self.run.log(tags, step=self.get_iter(runner), commit=self.commit)
        else:
            tags['global_step'] = self.get_iter(runner)
            self.run.log(tags, commit=self.commit)

    def _finish(self, exit_code):
        run, self.run = self.run, None
        if run is not None:
            run.finish(exit_code=exit_code)

    def flush_and_close(self, runner):
        """Finish the W&B run, marked as failed (``after_run`` finishes it as a success first)."""
        self._finish(exit_code=1)

    @master_only
    def after_run(self, runner):
        if self.run is None:
            return
        exit_code = 1
        try:
            if self.log_artifact and runner.work_dir is not None:
                suffix = (self.out_suffix if isinstance(self.out_suffix, str)
                          else tuple(self.out_suffix))
                files = files_with_suffix(runner.work_dir, suffix)
                if files:
                    artifact = self.wandb.Artifact(name='artifacts', type='model')
                    for rel in files:
                        artifact.add_file(osp.join(runner.work_dir, rel), name=rel)
                    self.run.log_artifact(artifact)
            exit_code = 0
        finally:
            self._finish(exit_code)
