"""WandbLoggerHook: the logged values in a Weights & Biases run."""
import os
import os.path as osp
import warnings

from ...dist import master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook, files_with_suffix


@HOOKS.register_module()
class WandbLoggerHook(LoggerHook):
    """Logs to a W&B run started with ``wandb.init(**init_kwargs)`` at ``before_run`` (rank 0).

    The calls are mmcv's, on the ``wandb`` module (``hook.wandb``): ``wandb.init``,
    ``wandb.define_metric`` for each entry of ``define_metric_cfg`` (``{'val/accuracy_top-1':
    'max'}``; one W&B rejects is skipped with a warning), ``wandb.log(tags, step=runner.iter + 1,
    commit=commit)`` at each log (with ``with_step=False`` the step goes in the ``global_step``
    value instead), and after the run ``wandb.log_artifact`` of the files of ``work_dir`` ending
    with ``out_suffix`` (``log_artifact``) and ``wandb.join()``. A run that fails is finished with
    exit code 1. ``hook.run`` is the run ``wandb.init`` returned.

    W&B's files go to ``<work_dir>/wandb``, not to ``./wandb`` of the current directory, unless
    ``init_kwargs`` has a ``dir`` (or ``settings``) or ``WANDB_DIR`` is set (the global setting
    is put back right after ``wandb.init``); the artifact leaves W&B's own ``wandb/`` folder out. ``WANDB_MODE=offline`` works without a network. Needs the ``wandb``
    package (``pip install fastrun[wandb]``), checked when the hook is built.
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
        #: The W&B run of the current or last ``runner.run`` (None before the first one).
        self.run = None
        self._running = False

    def _user_chose_dir(self):
        kwargs = self.init_kwargs or {}
        return 'dir' in kwargs or 'settings' in kwargs or bool(os.environ.get('WANDB_DIR'))

    def _init(self, runner):
        """``wandb.init(**init_kwargs)``, with the run's files in the work dir unless chosen."""
        wandb = self.wandb
        if runner.work_dir is None or self._user_chose_dir():
            return wandb.init(**(self.init_kwargs or {}))
        # W&B reads WANDB_DIR once per process: the global setting is the per-run seam that
        # leaves the init call as mmcv made it.
        previous = wandb.setup().settings.root_dir
        wandb.setup(settings=wandb.Settings(root_dir=runner.work_dir))
        try:
            return wandb.init(**(self.init_kwargs or {}))
        finally:
            wandb.setup(settings=wandb.Settings(root_dir=previous))

    @master_only
    def before_run(self, runner):
        super().before_run(runner)
        self.flush_and_close(runner)  # a run an earlier, crashed runner.run left open
        self.run = self._init(runner)
        self._running = True
        for metric, summary in (self.define_metric_cfg or {}).items():
            try:
                self.wandb.define_metric(metric, summary=summary)
            except self.wandb.Error as e:
                warnings.warn(f'define_metric_cfg: metric={metric}, summary={summary} '
                              f'is skipped: {e}')

    @master_only
    def log(self, runner):
        if not self._running:
            return
        tags = self.get_loggable_tags(runner)
        if not tags:
            return
        if self.with_step:
            self.wandb.log(tags, step=self.get_iter(runner), commit=self.commit)
        else:
            tags['global_step'] = self.get_iter(runner)
            self.wandb.log(tags, commit=self.commit)

    def flush_and_close(self, runner):
        """Finish the W&B run, marked as failed (``after_run`` finishes it as a success first)."""
        if self._running:
            self._running = False
            self.wandb.finish(exit_code=1)

    @master_only
    def after_run(self, runner):
        if not self._running:
            return
        try:
            if self.log_artifact and runner.work_dir is not None:
                suffix = (self.out_suffix if isinstance(self.out_suffix, str)
                          else tuple(self.out_suffix))
                files = [f for f in files_with_suffix(runner.work_dir, suffix)
                         if f.split(os.sep, 1)[0] != 'wandb']  # W&B's own run files
                if files:
                    artifact = self.wandb.Artifact(name='artifacts', type='model')
                    for rel in files:
                        artifact.add_file(osp.join(runner.work_dir, rel), name=rel)
                    self.wandb.log_artifact(artifact)
        except BaseException:
            self.flush_and_close(runner)
            raise
        self._running = False
        self.wandb.join()  # mmcv's call: finish the run as a success
