"""CheckInvalidLossHook: stop training when the loss becomes NaN or infinite, or skip those steps."""
import torch

from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """A NaN or infinite loss raises FloatingPointError (``action='raise'``) or is skipped.

    ``raise``: every ``interval`` train iterations the loss is read on the host, a device sync,
    hence only every ``interval`` iterations (mmdet's hook, default 50). The error names the
    iteration at which the bad loss was seen (a NaN may have appeared up to ``interval - 1``
    iterations earlier).

    ``skip``: every train step's loss is checked right after the step (a device sync per
    iteration: the price of this mode). A non-finite one is dropped before any
    ``after_train_iter`` hook sees it: its logged values are removed, the loss handed to the
    optimizer hook is a zero with no gradient, so the parameters and the optimizer state stay
    as they were (with a float16 ``GradScaler`` the loss is left alone: the scaler skips that
    step itself). Each skipped step is logged as a warning; ``nonfinite_skipped`` (1 for a
    skipped step, else 0) goes to the log buffer, so the logged value is the fraction skipped
    in the interval; ``skipped`` holds the total. It wraps ``runner.step_context`` at
    ``before_run``, so it must come after an AMP optimizer hook there (the default NORMAL
    priority does).
    """

    def __init__(self, interval=50, action='raise'):
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f'CheckInvalidLossHook: interval must be a positive int, got {interval!r}')
        if action not in ('raise', 'skip'):
            raise ValueError(f"CheckInvalidLossHook: action must be 'raise' or 'skip', got {action!r}")
        self.interval = interval
        self.action = action
        self.skipped = 0
        if action == 'skip':
            self.before_run = self._wrap_step
            self.after_run = self._unwrap_step

    def after_train_iter(self, runner):
        if self.action == 'skip' or not self.every_n_iters(runner, self.interval):
            return
        loss = runner.outputs['loss']
        # note: a CPU-GPU sync point, once every `interval` iterations
        if not bool(torch.isfinite(loss).all()):
            epoch_len = len(runner.data_loader) if hasattr(runner.data_loader, '__len__') else '?'
            raise FloatingPointError(
                f'loss became {"NaN" if bool(torch.isnan(loss).any()) else "infinite"} at train '
                f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, iteration '
                f'{runner.inner_iter + 1}/{epoch_len} of the epoch; counts start at 1)')

    # ------------------------------------------------------------------ skip mode
    def _wrap_step(self, runner):
        inner = runner.step_context
        self._previous_context = inner
        runner.step_context = lambda: _SkipNonFinite(self, runner, inner)

    def _unwrap_step(self, runner):
        runner.step_context = self._previous_context

    def _after_step(self, runner):
        if runner.mode != 'train':
            return
        outputs = runner.outputs
        loss = outputs.get('loss')
        if loss is None:
            return
        # note: a CPU-GPU sync point every iteration, the price of skip mode
        bad = not bool(torch.isfinite(loss).all())
        if bad:
            self.skipped += 1
            buffer = runner.log_buffer
            for key in outputs.get('log_vars', {}):
                if buffer.val_history.get(key):  # the values of this step are not logged
                    buffer.val_history[key].pop()
                    buffer.n_history[key].pop()
            runner.logger.warning(
                'non-finite loss at train iteration %d (epoch %d, iteration %d of the epoch): '
                'step skipped (%d so far)', runner.iter + 1, runner.epoch + 1,
                runner.inner_iter + 1, self.skipped)
            if not _scaler_skips(runner):
                outputs['loss'] = torch.zeros((), device=loss.device, requires_grad=True)
        runner.log_buffer.update({'nonfinite_skipped': float(bad)})


def _scaler_skips(runner):
    # A float16 GradScaler skips a step whose gradients are not finite (and needs gradients).
    for hook in runner.hooks:
        scaler = getattr(hook, 'scaler', None)
        if scaler is not None and callable(getattr(scaler, 'is_enabled', None)) and scaler.is_enabled():
            return True
    return False


class _SkipNonFinite:
    """The step context of skip mode: the previous context, then the loss check."""

    def __init__(self, hook, runner, inner):
        self.hook = hook
        self.runner = runner
        self.inner = inner() if inner is not None else None

    def __enter__(self):
        if self.inner is not None:
            self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        suppress = self.inner.__exit__(*exc) if self.inner is not None else False
        if exc[0] is None:
            self.hook._after_step(self.runner)
        return suppress
