"""ProgressBarHook: a live progress bar per epoch (rich) for terminal runs."""
from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Shows one rich progress bar per train/val epoch; the CLI adds it when stdout is a terminal."""

    def __init__(self, refresh_per_second=4):
        self.refresh_per_second = refresh_per_second
        self._progress = None

    def before_run(self, runner):
        try:
            from rich.progress import Progress
        except ImportError as e:
            raise ImportError('ProgressBarHook needs rich: pip install fastrun[progress]') from e
        self._progress = Progress(refresh_per_second=self.refresh_per_second, transient=False)
        self._progress.start()

    def before_epoch(self, runner):
        total = len(runner.data_loader) if hasattr(runner.data_loader, '__len__') else None
        label = f'{runner.mode} epoch {runner.epoch + 1}' if runner.mode == 'train' else 'val'
        self._task = self._progress.add_task(label, total=total)

    def after_iter(self, runner):
        self._progress.advance(self._task)

    def after_run(self, runner):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
