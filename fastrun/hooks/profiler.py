"""ProfilerHook: ``torch.profiler`` over the first epochs or iterations, hooks named in the trace."""
import functools
import os.path as osp
import warnings

import torch
from torch import profiler as _profiler

from ..dist import master_only
from ..errors import ArgumentTypeError
from ..hook import Hook
from ..registry import HOOKS

_ACTIVITIES = {'cpu': _profiler.ProfilerActivity.CPU, 'cuda': _profiler.ProfilerActivity.CUDA}


def _annotate(stage, fn):
    """``fn`` wrapped in a ``record_function`` range named ``<stage>/<HookClass>``."""
    owner = getattr(fn, '__self__', None)
    name = f'{stage}/{type(owner).__name__ if owner is not None else getattr(fn, "__qualname__", "fn")}'
    record = _profiler.record_function

    @functools.wraps(fn)  # keeps __wrapped__, so errors raised inside still name the hook
    def annotated(runner):
        with record(name):
            return fn(runner)
    return annotated


@HOOKS.register_module()
class ProfilerHook(Hook):
    """Profiles training with ``torch.profiler`` from ``before_run`` on (mmcv 1.x ``ProfilerHook``).

    Profiling stops after the first ``profile_iters`` train epochs (``by_epoch=True``) or train
    iterations (``by_epoch=False``), or at ``after_run`` at the latest; ``profiler.step()`` is
    called after every train iteration (for ``schedule``). While it records, every hook call
    is a ``record_function`` range named ``<stage>/<HookClass>`` (e.g.
    ``after_train_iter/OptimizerHook``), through the runner's annotation seam: the dispatch
    tables are rebuilt with wrapped entries once, when profiling starts, and plain again when it
    stops, so nothing is checked per call. Runs on rank 0 only.

    Args:
        by_epoch (bool): count ``profile_iters`` in epochs (True) or iterations.
        profile_iters (int): how many epochs / iterations to profile, >= 1.
        activities (list[str]): ``'cpu'`` and/or ``'cuda'``; ``'cuda'`` is dropped with one
            warning when CUDA is not available.
        schedule (dict, optional): arguments of ``torch.profiler.schedule``.
        on_trace_ready (callable | dict, optional): a handler ``f(prof)``, or
            ``dict(type='tb_trace', dir_name=...)`` (TensorBoard trace files; a relative
            ``dir_name`` is under ``work_dir``, default ``work_dir/tf_tracing_logs``; viewing
            them needs the torch-tb-profiler plugin), or ``dict(type='log_trace', **table_args)``
            (logs ``prof.key_averages().table(**table_args)``).
        record_shapes, profile_memory, with_stack, with_flops (bool): ``torch.profiler`` options.
        json_trace_path (str, optional): export a Chrome trace (JSON) there when profiling stops.
    """

    def __init__(self, by_epoch=True, profile_iters=1, activities=['cpu', 'cuda'], schedule=None,
                 on_trace_ready=None, record_shapes=False, profile_memory=False, with_stack=False,
                 with_flops=False, json_trace_path=None):
        if not isinstance(by_epoch, bool):
            raise ArgumentTypeError(f'ProfilerHook: by_epoch must be a bool, got {by_epoch!r}')
        if not isinstance(profile_iters, int) or profile_iters < 1:
            raise ValueError(f'ProfilerHook: profile_iters must be an int >= 1, got {profile_iters!r}')
        if not isinstance(activities, (list, tuple)):
            raise ValueError(f'ProfilerHook: activities must be a list, got {type(activities).__name__}')
        for activity in activities:
            if str(activity).lower() not in _ACTIVITIES:
                raise ValueError(f'ProfilerHook: activity must be "cpu" or "cuda", got {activity!r}')
        if not (on_trace_ready is None or callable(on_trace_ready) or isinstance(on_trace_ready, dict)):
            raise ValueError('ProfilerHook: on_trace_ready must be a callable, a dict or None, '
                             f'got {type(on_trace_ready).__name__}')
        if isinstance(on_trace_ready, dict) and on_trace_ready.get('type') not in ('tb_trace', 'log_trace'):
            raise ValueError('ProfilerHook: on_trace_ready type must be "log_trace" or "tb_trace", '
                             f'got {on_trace_ready.get("type")!r}')
        self.by_epoch = by_epoch
        self.profile_iters = profile_iters
        self.activities = [a.lower() for a in activities]
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.json_trace_path = json_trace_path
        self.profiler = None

    def _trace_handler(self, runner):
        cfg = self.on_trace_ready
        if not isinstance(cfg, dict):
            return cfg
        cfg = dict(cfg)
        kind = cfg.pop('type')
        if kind == 'log_trace':
            return lambda prof: runner.logger.info('\n' + prof.key_averages().table(**cfg))
        dir_name = cfg.get('dir_name', 'tf_tracing_logs')
        if not osp.isabs(dir_name) and runner.work_dir is not None:
            dir_name = osp.join(runner.work_dir, dir_name)
        cfg['dir_name'] = dir_name
        runner.logger.info(f'tracing files of ProfilerHook will be saved to {dir_name}.')
        return _profiler.tensorboard_trace_handler(**cfg)

    @master_only
    def before_run(self, runner):
        limit = runner.max_epochs if self.by_epoch else runner.max_iters
        if limit is not None and limit < self.profile_iters:
            raise ValueError(f'ProfilerHook: profile_iters ({self.profile_iters}) is greater than '
                             f'the run ({limit} {"epochs" if self.by_epoch else "iterations"})')
        activities = list(dict.fromkeys(self.activities))
        if 'cuda' in activities and not torch.cuda.is_available():
            warnings.warn('ProfilerHook: CUDA is not available, profiling CPU activity only')
            activities.remove('cuda')
        self.profiler = _profiler.profile(
            activities=[_ACTIVITIES[a] for a in activities],
            schedule=_profiler.schedule(**self.schedule) if self.schedule is not None else None,
            on_trace_ready=self._trace_handler(runner),
            record_shapes=self.record_shapes, profile_memory=self.profile_memory,
            with_stack=self.with_stack, with_flops=self.with_flops)
        self.profiler.__enter__()
        runner.set_annotation(_annotate)
        runner.logger.info('profiler is profiling...')

    def _stop(self, runner):
        runner.set_annotation(None)
        runner.logger.info('profiler may take a few minutes...')
        prof, self.profiler = self.profiler, None
        prof.__exit__(None, None, None)
        if self.json_trace_path is not None:
            prof.export_chrome_trace(self.json_trace_path)

    @master_only
    def after_train_iter(self, runner):
        if self.profiler is None:
            return
        self.profiler.step()
        if not self.by_epoch and runner.iter + 1 >= self.profile_iters:
            self._stop(runner)

    @master_only
    def after_train_epoch(self, runner):
        if self.profiler is not None and self.by_epoch and runner.epoch + 1 >= self.profile_iters:
            self._stop(runner)

    @master_only
    def after_run(self, runner):
        if self.profiler is not None:  # a run shorter than profile_iters, or stopped early
            self._stop(runner)
