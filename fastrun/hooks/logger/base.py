"""LoggerHook: when to average the log buffer and hand it to a logger (mmcv 1.x semantics)."""
import numbers
import os
import os.path as osp

import numpy as np
import torch

from ...hook import Hook


class LoggerHook(Hook):
    """Base class of the logger hooks; a subclass implements ``log(runner)``.

    Train values are averaged over the last ``interval`` iterations (inner iterations of the
    epoch when ``by_epoch``, else runner iterations) and logged; the last, shorter stretch of an
    epoch is logged too unless ``ignore_last``. A val epoch is averaged and logged as a whole.
    ``reset_flag`` clears the averaged output after logging; ``before_run`` sets it on the last
    logger hook, so several loggers all see the same output before it is cleared.

    Logged values become Python numbers only in ``log_buffer.average()``, the one host-device
    sync of a log interval: iterations that do not log only compare counters.
    """

    def __init__(self, interval=10, ignore_last=True, reset_flag=False, by_epoch=True):
        self.interval = interval
        self.ignore_last = ignore_last
        self.reset_flag = reset_flag
        self.by_epoch = by_epoch

    def log(self, runner):
        """Write ``runner.log_buffer.output`` somewhere."""
        raise NotImplementedError(f'{type(self).__name__} must implement log(runner)')

    def flush_and_close(self, runner):
        """Flush and close what the logger has open; safe to call more than once.

        ``after_run`` calls it; a runner whose run dies calls it so that nothing already
        logged is lost. The base class holds nothing.
        """

    @staticmethod
    def is_scalar(val, include_np=True, include_torch=True):
        """True for a number, a 0-d numpy array, or a one-element tensor."""
        if isinstance(val, numbers.Number):
            return True
        if include_np and isinstance(val, np.ndarray) and val.ndim == 0:
            return True
        # mmcv tested ``len(val) == 1``, which raises on 0-d tensors; numel covers both.
        return include_torch and isinstance(val, torch.Tensor) and val.numel() == 1

    def get_mode(self, runner):
        """'train' or 'val'; values logged in train mode without ``time`` (eval results) are 'val'."""
        if runner.mode == 'train':
            return 'train' if 'time' in runner.log_buffer.output else 'val'
        if runner.mode == 'val':
            return 'val'
        raise ValueError(f"runner mode should be 'train' or 'val', but got {runner.mode}")

    def get_epoch(self, runner):
        """The 1-based epoch being logged (a val epoch follows the train epoch it evaluates)."""
        if runner.mode == 'train':
            return runner.epoch + 1
        if runner.mode == 'val':
            return runner.epoch
        raise ValueError(f"runner mode should be 'train' or 'val', but got {runner.mode}")

    def get_iter(self, runner, inner_iter=False):
        """The 1-based iteration: within the epoch if ``inner_iter`` and ``by_epoch``, else global."""
        if self.by_epoch and inner_iter:
            return runner.inner_iter + 1
        return runner.iter + 1

    @staticmethod
    def _first_of_each(values, name):
        if isinstance(values, dict):
            return {f'{name}/{k}': v[0] for k, v in values.items()}
        return {name: values[0]}

    def get_lr_tags(self, runner):
        """``{'learning_rate': lr}`` of the first param group (``learning_rate/<name>`` per optimizer).

        Empty when the runner has no optimizer (mmcv raised there).
        """
        if runner.optimizer is None:
            return {}
        return self._first_of_each(runner.current_lr(), 'learning_rate')

    def get_momentum_tags(self, runner):
        """``{'momentum': m}`` of the first param group (``momentum/<name>`` per optimizer)."""
        if runner.optimizer is None:
            return {}
        return self._first_of_each(runner.current_momentum(), 'momentum')

    def get_loggable_tags(self, runner, allow_scalar=True, allow_text=False, add_mode=True,
                          tags_to_skip=('time', 'data_time')):
        """The averaged output as ``{'<mode>/<name>': value}``, plus the lr and momentum tags."""
        tags = {}
        mode = self.get_mode(runner) if add_mode else None
        for var, val in runner.log_buffer.output.items():
            if var in tags_to_skip:
                continue
            if not allow_scalar and self.is_scalar(val):
                continue
            if not allow_text and isinstance(val, str):
                continue
            tags[f'{mode}/{var}' if add_mode else var] = val
        tags.update(self.get_lr_tags(runner))
        tags.update(self.get_momentum_tags(runner))
        return tags

    def before_run(self, runner):
        for hook in reversed(runner.hooks):
            if isinstance(hook, LoggerHook):
                hook.reset_flag = True
                break

    def before_epoch(self, runner):
        runner.log_buffer.clear()  # the values of the last epoch

    def _log_ready(self, runner):
        if runner.log_buffer.ready:
            self.log(runner)
            if self.reset_flag:
                runner.log_buffer.clear_output()

    def after_train_iter(self, runner):
        if self.by_epoch:
            due = self.every_n_inner_iters(runner, self.interval)
        else:
            due = self.every_n_iters(runner, self.interval)
        if due or (not self.ignore_last and self.end_of_epoch(runner)):
            # note: the CPU-GPU sync of logging, once per interval (inside average()).
            # At the end of an epoch this averages ``interval`` values, as mmcv: some were
            # logged already, but the number is steadier than a one-iteration average.
            runner.log_buffer.average(self.interval)
        # Also ready when another hook (an evaluation) put its results in the output.
        self._log_ready(runner)

    def after_train_epoch(self, runner):
        self._log_ready(runner)

    def after_val_epoch(self, runner):
        runner.log_buffer.average()
        self.log(runner)
        if self.reset_flag:
            runner.log_buffer.clear_output()


def files_with_suffix(root, suffix):
    """Paths, relative to ``root``, of the files under it whose name ends with ``suffix``.

    Hidden files and folders are skipped, as mmcv's ``scandir`` does.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        for name in sorted(filenames):
            if not name.startswith('.') and name.endswith(suffix):
                found.append(osp.relpath(osp.join(dirpath, name), root))
    return found
