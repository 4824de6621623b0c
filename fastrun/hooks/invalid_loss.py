"""CheckInvalidLossHook: stop training when the loss becomes NaN or infinite."""
import torch

from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """Every ``interval`` train iterations, raise FloatingPointError if the loss is not finite.

    The check reads the loss on the host, a device sync, hence only every ``interval``
    iterations (mmdet's hook, default 50). The error names the iteration at which the bad loss
    was seen (a NaN may have appeared up to ``interval - 1`` iterations earlier).
    """

    def __init__(self, interval=50):
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f'CheckInvalidLossHook: interval must be a positive int, got {interval!r}')
        self.interval = interval

    def after_train_iter(self, runner):
        if not self.every_n_iters(runner, self.interval):
            return
        loss = runner.outputs['loss']
        # note: a CPU-GPU sync point, once every `interval` iterations
        if not bool(torch.isfinite(loss).all()):
            epoch_len = len(runner.data_loader) if hasattr(runner.data_loader, '__len__') else '?'
            raise FloatingPointError(
                f'loss became {"NaN" if bool(torch.isnan(loss).any()) else "infinite"} at train '
                f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, iteration '
                f'{runner.inner_iter + 1}/{epoch_len} of the epoch; counts start at 1)')
