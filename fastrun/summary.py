"""What a run prints at its end: time, time per iteration, the best metric, where files went.

``fastrun train`` (:func:`fastrun.builder.train_model`) logs it after every run that ends
normally; from Python::

    summary = RunSummary(runner, hook_times=True)
    runner.run(data_loaders, workflow)
    summary.log()

Everything is measured outside the iterations: the clock is read when the summary starts and
when it is logged, evaluations reach it through :meth:`EvalHook.add_listener`. Only
``hook_times=True`` adds work per hook call (see :class:`fastrun.profiling.HookTimer`).
"""
import logging
import os
import os.path as osp
import re
import time

from . import storage
from .config_keys import describe_unknown, unknown_top_level_keys
from .hooks.checkpoint import CheckpointHook
from .hooks.evaluation import EvalHook, infer_rule
from .hooks.logger.tensorboard import TensorboardLoggerHook
from .hooks.logger.text import TextLoggerHook
from .profiling import HookTimer
from .runner import IterBasedRunner

__all__ = ['RunSummary', 'format_seconds']


def format_seconds(seconds):
    """Three digits and a unit: ``8.1 µs``, ``645 µs``, ``3.21 ms``, ``12.3 s``; ``0:04:05`` from 100 s."""
    if seconds < 1e-3:
        return f'{seconds * 1e6:.3g} µs'
    if seconds < 1:
        return f'{seconds * 1e3:.3g} ms'
    if seconds < 100:
        return f'{seconds:.3g} s'
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def _shown(path):
    """``path`` as a person would type it: a URL redacted and intact (a staged file as its URL),
    a local path relative to the working directory when inside it."""
    path = os.fspath(path)
    public = storage.shown(path)
    if public != path:
        return public
    absolute, cwd = osp.abspath(path), os.getcwd()
    return osp.relpath(absolute, cwd) if absolute.startswith(cwd + os.sep) else path


class RunSummary:
    """Collects what the end of ``runner``'s run reports; :meth:`log` writes it (rank 0 only).

    Started by creating it, just before ``runner.run``. ``config``: the run's config, whose
    top-level keys fastrun does not read are listed. ``hook_times=True`` times every hook
    call through the runner's annotation seam (a :class:`~fastrun.profiling.HookTimer`) and
    adds a table of the time each hook took at each stage.
    """

    def __init__(self, runner, hook_times=False, config=None):
        self.runner = runner
        #: ``[(key, closest known key)]``: top-level keys of ``config`` fastrun does not read,
        #: repeated at the end so that a setting that did not apply is seen.
        self.unknown_keys = unknown_top_level_keys(config) if config is not None else []
        self.timer = HookTimer() if hook_times else None
        if self.timer is not None:
            runner.set_annotation(self.timer, key='hook_times')
        #: ``(epoch or iteration, unit, metrics)`` of each evaluation of the run.
        self.evaluations = []
        self._eval_hooks = [h for h in runner.hooks if isinstance(h, EvalHook)]
        for hook in self._eval_hooks:
            hook.add_listener(self._evaluated)
        self._start_iter = runner.iter
        self._start_epoch = runner.epoch
        self._start = time.perf_counter()

    def _evaluated(self, runner, metrics):
        hook = self._eval_hooks[0] if self._eval_hooks else None
        by_epoch = hook is None or hook.by_epoch
        # The number the best checkpoint's name carries (best_<metric>_epoch_<N>.pth).
        self.evaluations.append((runner.epoch + 1 if by_epoch else runner.iter + 1,
                                 'epoch' if by_epoch else 'iteration', dict(metrics)))

    # ---------------------------------------------------------------- the parts

    def _best(self):
        """``(metric, value, at, unit, rule)`` of the best evaluation, or None."""
        if not self.evaluations:
            return None
        hook = self._eval_hooks[0]
        key, rule = hook.key_indicator, hook.rule
        if not key or key == 'auto' or key not in self.evaluations[-1][2]:
            key, rule = next(iter(self.evaluations[-1][2]), None), None
        if key is None:
            return None
        if rule is None:
            try:
                rule = infer_rule(key, hook.greater_keys, hook.less_keys)
            except ValueError:
                return None  # no rule says which value is best: only the last one is shown
        scored = [(metrics[key], at, unit) for at, unit, metrics in self.evaluations
                  if isinstance(metrics.get(key), (int, float))]
        if not scored:
            return None
        pick = max if rule == 'greater' else min
        value, at, unit = pick(scored, key=lambda s: s[0])  # the first of equal values
        kept = self._kept_best(hook, key)
        if kept is not None:
            # The best across a resume, as the checkpoints carry it: the first evaluation that
            # reached it (a later tie, in this run or the one resumed from, does not move it).
            value, at, unit = kept
        return key, value, at, unit, rule

    def _kept_best(self, hook, key):
        """``(value, at, unit)`` of ``runner.meta['hook_msgs']``'s best (``save_best``), or None.

        The evaluation hook moves it only for a strictly better score, and a resumed run starts
        from the checkpoint's, so it names the first epoch (iteration) with the best value.
        """
        msgs = (self.runner.meta or {}).get('hook_msgs') or {}
        score, path = msgs.get('best_score'), msgs.get('best_ckpt')
        if not isinstance(score, (int, float)) or not isinstance(path, str):
            return None
        match = re.fullmatch(rf'best_{re.escape(key)}_(epoch|iter)_(\d+)\.pth', storage.basename(path))
        if match is None:
            return None
        return float(score), int(match.group(2)), 'epoch' if match.group(1) == 'epoch' else 'iteration'

    def _checkpoints(self):
        """The lines naming the checkpoints' folder (and where ``latest.pth`` points), the best."""
        hook = next((h for h in self.runner.hooks if isinstance(h, CheckpointHook)), None)
        folder = getattr(hook, 'save_dir', None) or (self.runner.work_dir if hook else None)
        lines = []
        if folder:
            latest = osp.join(folder, 'latest.pth')
            link = f' (latest.pth -> {os.readlink(latest)})' if osp.islink(latest) else ''
            sep = '/' if storage.is_url(folder) or storage.shown(folder) != folder else os.sep
            lines.append(f'Checkpoints: {_shown(folder).rstrip("/")}{sep}{link}')
        best = ((self.runner.meta or {}).get('hook_msgs') or {}).get('best_ckpt')
        if best:
            lines.append(f'Best checkpoint: {_shown(best)}')
        return lines

    def _logs(self):
        files = []
        for handler in self.runner.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                files.append(handler.baseFilename)
        for hook in self.runner.hooks:
            if isinstance(hook, TextLoggerHook) and hook.json_log_path:
                files.append(hook.json_log_path)
            elif isinstance(hook, TensorboardLoggerHook) and getattr(hook, 'writer', None):
                files.append(f'{hook.writer.log_dir}{os.sep} (TensorBoard)')
        return ', '.join(_shown(f) for f in dict.fromkeys(files)) or None

    def hook_table(self, total):
        """The lines of the hook-time table (empty without ``hook_times``)."""
        if self.timer is None:
            return []
        rows = self.timer.rows()
        in_hooks = sum(r[3] for r in rows)
        share = f', {in_hooks / total:.0%} of the run' if total > 0 else ''
        lines = [f'Time in hooks: {format_seconds(in_hooks)}{share}']
        width_stage = max([len('stage')] + [len(r[0]) for r in rows])
        width_hook = max([len('hook')] + [len(r[1]) for r in rows])
        lines.append(f'{"stage":<{width_stage}}  {"hook":<{width_hook}}  {"calls":>7}  '
                     f'{"total":>9}  {"per call":>9}')
        for stage, name, calls, seconds in rows:
            lines.append(f'{stage:<{width_stage}}  {name:<{width_hook}}  {calls:>7}  '
                         f'{format_seconds(seconds):>9}  {format_seconds(seconds / calls):>9}')
        return lines

    def lines(self):
        """The summary, one string per line (the clock stops here)."""
        total = time.perf_counter() - self._start
        runner = self.runner
        iters = runner.iter - self._start_iter
        epochs = runner.epoch - self._start_epoch
        done = '' if isinstance(runner, IterBasedRunner) else f'{epochs} epoch{"s" * (epochs != 1)}, '
        done += f'{iters} iteration{"s" * (iters != 1)}'
        if iters:
            done += (f', {format_seconds(total / iters)} per iteration, evaluations and '
                     'checkpoints included')
        lines = [f'Run finished in {format_seconds(total)}: {done}']
        limit, at, key = ((runner.max_iters, runner.iter, 'max_iters')
                          if isinstance(runner, IterBasedRunner) else
                          (runner.max_epochs, runner.epoch, 'max_epochs'))
        start = self._start_iter if isinstance(runner, IterBasedRunner) else self._start_epoch
        if not iters and limit is not None and start >= limit:
            unit = 'iteration' if isinstance(runner, IterBasedRunner) else 'epoch'
            lines = [f'Nothing to train: the run resumed at {unit} {at}, and {key} is {limit} '
                     f'(raise {key} to train further)']
        best = self._best()
        if best is not None:
            key, value, at, unit, rule = best
            last = self.evaluations[-1][2].get(key)
            lines.append(f'Best {key}: {value:.4f} at {unit} {at} (of {len(self.evaluations)} '
                         f'evaluations; the last: {last:.4f})')
        elif self.evaluations:
            last = ', '.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                             for k, v in self.evaluations[-1][2].items())
            lines.append(f'Last evaluation ({self.evaluations[-1][1]} {self.evaluations[-1][0]}): '
                         f'{last}')
        lines += self._checkpoints()
        logs = self._logs()
        if logs:
            lines.append(f'Logs: {logs}')
        if self.unknown_keys:
            lines.append(f'Config keys fastrun did not use: {describe_unknown(self.unknown_keys)}')
        return lines + self.hook_table(total)

    def log(self):
        """Log the summary through ``runner.logger`` (rank 0) and return its lines.

        The hook timer is taken out of the runner's tables: a later run is not timed.
        """
        lines = self.lines()
        if self.timer is not None:
            self.runner.set_annotation(None, key='hook_times')
        if self.runner.rank == 0:
            self.runner.logger.info('\n'.join(lines))
        return lines
