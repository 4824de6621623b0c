"""The Runner: state, counters, hook registration and the workflow loop (mmcv 1.x semantics).

Building from config files, checkpoint I/O, logging and distributed set-up live in their own
modules; the per-iteration loop and the hook dispatch live in the core (``fastrun._core``).
"""
import logging
import os
import os.path as osp
import platform
import re
import shutil
import signal
import time
import warnings
from collections import OrderedDict

import torch

from . import _core
from . import resume as _resume
from .checkpoint import (CheckpointError, CheckpointWriteError, load_state_dict, mismatch_message,
                         read_checkpoint, to_plain)
from .checkpoint import load_checkpoint as _load_checkpoint
from .checkpoint import save_checkpoint as _save_checkpoint
from .dist import get_dist_info, is_module_wrapper
from .errors import ArgumentError, ArgumentKeyError, ArgumentTypeError
from .hook import DISPATCH_NAMES, STAGES, Hook, stage_method
from .log import get_logger
from .log_buffer import LogBuffer
from .priority import Priority, get_priority
from .registry import HOOKS, RUNNERS, build_from_cfg
from .sampler import ResumableSampler, sampler_of, start_after
from .signals import Preempted, StopOnSignal, StopSync

_IDX = {name: i for i, name in enumerate(DISPATCH_NAMES)}
#: ``Runner(logger=...)`` left out: fastrun's logger (an explicit None raises, as in mmcv).
_DEFAULT_LOGGER = object()
_BEFORE_TRAIN_ITER, _AFTER_TRAIN_ITER = _IDX['before_train_iter'], _IDX['after_train_iter']
_BEFORE_VAL_ITER, _AFTER_VAL_ITER = _IDX['before_val_iter'], _IDX['after_val_iter']


class _HookList(list):
    """The runner's hook list; any change rebuilds the dispatch tables (never per call)."""

    def __init__(self, on_change):
        super().__init__()
        self._on_change = on_change

    def _changed(name):
        def method(self, *args, **kwargs):
            out = getattr(list, name)(self, *args, **kwargs)
            self._on_change()
            return out
        method.__name__ = name
        return method

    for _name in ('append', 'extend', 'insert', 'pop', 'remove', 'clear', 'sort', 'reverse',
                  '__setitem__', '__delitem__', '__iadd__'):
        locals()[_name] = _changed(_name)
    del _name, _changed


class IterLoader:
    """An endless iterator over a data loader that counts epochs (``set_epoch`` on its sampler).

    ``epoch`` / ``consumed`` start it where a checkpoint left it: in loader epoch ``epoch``,
    after its first ``consumed`` batches (see :func:`fastrun.sampler.start_after`).
    """

    def __init__(self, dataloader, epoch=0, consumed=0):
        self._dataloader = dataloader
        self._epoch = epoch
        #: Batches drawn in the current loader epoch (a checkpoint records it).
        self.consumed = consumed
        sampler = sampler_of(dataloader)
        if epoch and hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(epoch)
        self.iter_loader = iter(start_after(dataloader, consumed)[0])

    @property
    def epoch(self):
        return self._epoch

    def __next__(self):
        try:
            batch = next(self.iter_loader)
        except StopIteration:
            self._epoch += 1
            self.consumed = 0
            sampler = sampler_of(self._dataloader)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self._epoch)
            self.iter_loader = iter(self._dataloader)
            batch = next(self.iter_loader)
        self.consumed += 1
        return batch

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._dataloader)


class Runner:
    """Trains ``model`` through hooks; epoch-based with ``max_epochs``, iter-based with ``max_iters``.

    State (read-only properties unless noted):

    - ``model``, ``optimizer`` (an Optimizer, a dict of them, or None), ``batch_processor``
    - ``work_dir``: absolute path of the output folder, or None; ``logger``; ``meta`` (writable):
      dict saved in checkpoints (``hook_msgs`` among others); ``timestamp``: ``%Y%m%d_%H%M%S``
    - ``mode``: ``'train'`` or ``'val'`` during a phase, else None
    - ``epoch``: train epochs completed (increments after ``after_train_epoch``)
    - ``iter``: train iterations completed (increments after ``after_train_iter``)
    - ``inner_iter``: index of the current iteration within the epoch
    - ``max_epochs`` / ``max_iters``: the training length (``max_iters`` is derived per epoch
      in epoch-based runs, as in mmcv)
    - ``data_loader``: the loader of the running phase; ``data_batch``: the current batch
      (only during an iteration); ``outputs``: what the last step returned
    - ``stop_training`` (writable): set to True to end the run after the current iteration
      (SIGTERM / SIGINT set it too, see :mod:`fastrun.signals`)
    - ``step_context`` (writable): None, or a callable giving the context each step runs in (AMP)
    - ``log_buffer``: the values logged since the last log (tensors stay on their device)
    - ``hooks``: the registered hooks in call order; ``rank`` / ``world_size``

    Preemption: during :meth:`run` (main thread), SIGTERM or SIGINT end the run after the
    current iteration; the runner saves a checkpoint of that exact point (mid-epoch too: see
    :meth:`runner_state`), runs ``after_run`` and raises :class:`~fastrun.signals.Preempted`
    (``SystemExit(128 + signum)``). A failing hook or step closes every logger that has
    ``flush_and_close`` before the error propagates.
    """

    #: Distributed runs: train iterations between two checks whether a rank got a signal.
    stop_check_interval = 10

    #: The phases a workflow may name.
    phases = ('train', 'val')

    def __new__(cls, *args, **kwargs):
        if cls is Runner:
            if kwargs.get('max_iters') is not None and kwargs.get('max_epochs') is None:
                cls = IterBasedRunner
            else:
                cls = EpochBasedRunner
        return super().__new__(cls)

    def __init__(self, model, batch_processor=None, optimizer=None, work_dir=None,
                 logger=_DEFAULT_LOGGER, meta=None, max_iters=None, max_epochs=None):
        if batch_processor is not None:
            if not callable(batch_processor):
                raise TypeError(f'batch_processor must be callable, got {type(batch_processor).__name__}')
            warnings.warn('batch_processor is deprecated, please implement train_step() and '
                          'val_step() in the model instead.', DeprecationWarning, stacklevel=2)
            inner = model.module if is_module_wrapper(model) else model  # as mmcv: the wrapped model
            if hasattr(inner, 'train_step') or hasattr(inner, 'val_step'):
                raise RuntimeError('batch_processor and model.train_step()/model.val_step() '
                                   'cannot be both available.')
        elif not hasattr(model, 'train_step'):
            hint = ('; wrap it with fastrun.parallel.MMDataParallel / MMDistributedDataParallel, '
                    'whose train_step runs the wrapped model\'s'
                    if is_module_wrapper(model) and hasattr(model.module, 'train_step') else
                    '; give the model train_step/val_step methods or pass a batch_processor')
            raise ArgumentTypeError(f'{type(model).__name__} has no train_step(){hint}')
        if isinstance(optimizer, dict):
            for name, optim in optimizer.items():
                if not isinstance(optim, torch.optim.Optimizer):
                    raise TypeError(f'optimizer must be a dict of torch.optim.Optimizers, '
                                    f'but optimizer["{name}"] is a {type(optim).__name__}')
        elif optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f'optimizer must be a torch.optim.Optimizer object or dict or None, '
                            f'but got {type(optimizer).__name__}')
        if logger is _DEFAULT_LOGGER:
            logger = get_logger()
        elif not isinstance(logger, logging.Logger):  # None too, as mmcv
            raise TypeError(f'logger must be a logging.Logger object, but got {type(logger).__name__}')
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f'meta must be a dict or None, but got {type(meta).__name__}')
        if isinstance(work_dir, (str, os.PathLike)):
            work_dir = osp.abspath(work_dir)
            os.makedirs(work_dir, exist_ok=True)
        elif work_dir is not None:
            raise TypeError(f'"work_dir" must be a str or None, got {type(work_dir).__name__}')
        if max_epochs is not None and max_iters is not None:
            raise ValueError('Only one of `max_epochs` or `max_iters` can be set.')

        self.model = model
        self.batch_processor = batch_processor
        self.optimizer = optimizer
        self.logger = logger
        self.meta = meta
        self.work_dir = work_dir
        self._model_name = type(getattr(model, 'module', model)).__name__
        self._rank, self._world_size = get_dist_info()
        self.timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
        self.mode = None
        self._epoch = 0
        self._iter = 0
        self._inner_iter = 0
        self._max_epochs = max_epochs
        self._max_iters = max_iters
        self.data_loader = None
        self.outputs = {}
        self.log_buffer = LogBuffer()
        self._dispatch = _core.impl.Dispatcher(DISPATCH_NAMES)
        self._hooks = _HookList(self._rebuild_tables)
        #: ``(stage, fn) -> fn`` wrappers applied to every table entry, by key (profilers).
        self._annotators = {}
        #: The NVTX annotator while NVTX ranges are on (``enable_nvtx``), else None.
        self._nvtx = None
        #: A zero-argument callable returning a context manager entered around every step
        #: (AMP hooks set ``lambda: torch.autocast(...)``); read when each phase starts.
        self.step_context = None
        #: Set by a hook (early stopping, a signal) to end the run after the current iteration.
        self.stop_training = False
        #: The file this run resumed from (checkpoint rotation never deletes it).
        self._resumed_from = None
        # What a resume left for run() to restore: runner_state of the checkpoint, and weights
        # the model did not have yet (buffers hooks create at before_run, such as EMA's).
        self._resume_state = None
        self._pending_weights = None
        self._pending_loaders = None
        self._pending_log = None
        #: Batches of the current train epoch completed (epoch-based; a resume sets it).
        self._epoch_pos = 0
        self._epoch_ended = False
        self._stopper = None
        self._stop_sync = None
        #: The loaders whose position a checkpoint records (set by run()).
        self._state_loaders = []
        #: Each rank's RNG state, gathered by a checkpoint hook before rank 0 writes.
        self._rank_rng_states = None
        if os.environ.get('FASTRUN_NVTX', '') not in ('', '0'):
            self.enable_nvtx()

    # ---------------------------------------------------------------- state
    model_name = property(lambda self: self._model_name, doc='Class name of the (unwrapped) model.')
    rank = property(lambda self: self._rank, doc='Rank of this process (0 without distribution).')
    world_size = property(lambda self: self._world_size, doc='Number of processes.')
    hooks = property(lambda self: self._hooks, doc='The registered hooks, in call order.')
    epoch = property(lambda self: self._epoch, doc='Train epochs completed.')
    iter = property(lambda self: self._iter, doc='Train iterations completed.')
    inner_iter = property(lambda self: self._inner_iter, doc='Iteration index within the epoch.')
    max_epochs = property(lambda self: self._max_epochs, doc='Number of train epochs to run.')
    max_iters = property(lambda self: self._max_iters, doc='Number of train iterations to run.')

    def _param_groups(self, what, pick):
        if isinstance(self.optimizer, torch.optim.Optimizer):
            return [pick(g) for g in self.optimizer.param_groups]
        if isinstance(self.optimizer, dict):
            return {name: [pick(g) for g in optim.param_groups] for name, optim in self.optimizer.items()}
        raise RuntimeError(f'{what} is not applicable because optimizer does not exist.')

    def current_lr(self):
        """The lr of each param group (a dict of lists for a dict of optimizers)."""
        return self._param_groups('lr', lambda g: g['lr'])

    def current_momentum(self):
        """The momentum (or Adam's ``betas[0]``) of each param group; 0 where there is none."""
        def pick(g):
            if 'momentum' in g:
                return g['momentum']
            if 'betas' in g:
                return g['betas'][0]
            return 0
        return self._param_groups('momentum', pick)

    # ---------------------------------------------------------------- hooks
    def _rebuild_tables(self):
        tables = []
        for name in DISPATCH_NAMES:
            fns = [fn for fn in (stage_method(h, name) for h in self._hooks) if fn is not None]
            for annotate in self._annotators.values():
                fns = [annotate(name, fn) for fn in fns]
            if self._nvtx is not None:
                fns = self._nvtx.bracket(name, fns)
            tables.append(tuple(fns))
        self._dispatch.set_tables(tables)

    def set_annotation(self, annotate, key='default'):
        """Wrap every table entry with ``annotate(stage, fn)``; None removes the wrapper of ``key``.

        The wrapped tables are built here, once; the loop never checks whether profiling is on.
        """
        if annotate is None:
            self._annotators.pop(key, None)
        else:
            self._annotators[key] = annotate
        self._rebuild_tables()

    def enable_nvtx(self, enabled=True):
        """NVTX ranges around every stage, hook call, batch fetch and step (for Nsight Systems)."""
        if enabled:
            from .profiling import NvtxAnnotator
            self._nvtx = NvtxAnnotator()
            self.set_annotation(self._nvtx, key='nvtx')
        else:
            self._nvtx = None
            self.set_annotation(None, key='nvtx')

    def register_hook(self, hook, priority='NORMAL'):
        """Insert ``hook`` by priority; among equal priorities, first registered runs first."""
        if not isinstance(hook, Hook):
            raise ArgumentTypeError(f'hook must be a fastrun.Hook, got {type(hook).__name__}')
        priority = get_priority(priority)
        hook.priority = priority
        pos = len(self._hooks)
        while pos > 0 and self._hooks[pos - 1].priority > priority:
            pos -= 1
        self._hooks.insert(pos, hook)

    def register_hook_from_cfg(self, hook_cfg):
        """Build a hook from ``dict(type=..., priority=..., **kwargs)`` and register it."""
        hook_cfg = dict(hook_cfg)
        priority = hook_cfg.pop('priority', 'NORMAL')
        self.register_hook(build_from_cfg(hook_cfg, HOOKS), priority=priority)

    def call_hook(self, fn_name):
        """Call stage ``fn_name`` of every hook that implements it, in priority order."""
        i = _IDX.get(fn_name)
        if i is not None:
            self._dispatch.call_index(i, self)
        else:  # a name outside the stage vocabulary: mmcv calls it on every hook
            for hook in self._hooks:
                getattr(hook, fn_name)(self)

    def get_hook_info(self):
        """The hooks of each stage, in call order with their priorities (printed before a run)."""
        infos = []
        for stage in STAGES:
            hooks = [h for h in self._hooks if stage_method(h, stage) is not None]
            if hooks:
                lines = []
                for h in hooks:
                    try:
                        pri = Priority(h.priority).name
                    except ValueError:
                        pri = h.priority
                    lines.append(f'({pri:<12}) {type(h).__name__:<35}')
                infos.append(f'{stage}:\n' + '\n'.join(lines) + '\n -------------------- ')
        return '\n'.join(infos)

    def _register(self, config, default_type, priority, default_args=None):
        if config is None:
            return
        if isinstance(config, dict):
            cfg = dict(config)
            cfg.setdefault('type', default_type)
            hook = build_from_cfg(cfg, HOOKS, default_args)
        else:
            hook = config
        self.register_hook(hook, priority=priority)

    @staticmethod
    def _policy_type(config, suffix):
        # 'step' -> 'StepLrUpdaterHook'; names with capitals ('CosineAnnealing') are kept.
        if not isinstance(config, dict):
            return config
        if 'policy' not in config:
            raise ArgumentKeyError(f'{suffix} config needs a "policy" key, got {config}')
        cfg = dict(config)
        policy = cfg.pop('policy')
        if policy == policy.lower():
            policy = policy.title()
        cfg['type'] = policy + suffix
        return cfg

    def register_lr_hook(self, lr_config):
        self._register(self._policy_type(lr_config, 'LrUpdaterHook'), None, 'VERY_HIGH')

    def register_momentum_hook(self, momentum_config):
        self._register(self._policy_type(momentum_config, 'MomentumUpdaterHook'), None, 'HIGH')

    def register_optimizer_hook(self, optimizer_config):
        self._register(optimizer_config, 'OptimizerHook', 'ABOVE_NORMAL')

    def register_checkpoint_hook(self, checkpoint_config):
        self._register(checkpoint_config, 'CheckpointHook', 'NORMAL')

    def register_timer_hook(self, timer_config):
        self._register(timer_config, 'IterTimerHook', 'LOW')

    def register_profiler_hook(self, profiler_config):
        self._register(profiler_config, 'ProfilerHook', 'NORMAL')

    def register_logger_hooks(self, log_config):
        if log_config is None:
            return
        for info in log_config['hooks']:
            self._register(info, None, 'VERY_LOW', default_args=dict(interval=log_config['interval']))

    def register_custom_hooks(self, custom_config):
        if custom_config is None:
            return
        for item in custom_config if isinstance(custom_config, (list, tuple)) else [custom_config]:
            if isinstance(item, dict):
                self.register_hook_from_cfg(item)
            else:
                self.register_hook(item, priority='NORMAL')

    def register_training_hooks(self, lr_config, optimizer_config=None, checkpoint_config=None,
                                log_config=None, momentum_config=None,
                                timer_config=dict(type='IterTimerHook'), custom_hooks_config=None):
        """Register the default runtime hooks at the spec's priorities, then the custom hooks."""
        self.register_lr_hook(lr_config)
        self.register_momentum_hook(momentum_config)
        self.register_optimizer_hook(optimizer_config)
        self.register_checkpoint_hook(checkpoint_config)
        self.register_timer_hook(timer_config)
        self.register_logger_hooks(log_config)
        self.register_custom_hooks(custom_hooks_config)

    # ---------------------------------------------------------------- the step
    def run_iter(self, data_batch, train_mode, **kwargs):
        """One step: ``model.train_step`` / ``val_step`` (or the batch processor); log its values."""
        if self.batch_processor is not None:
            outputs = self.batch_processor(self.model, data_batch, train_mode=train_mode, **kwargs)
        elif train_mode:
            outputs = self.model.train_step(data_batch, self.optimizer, **kwargs)
        else:
            outputs = self.model.val_step(data_batch, self.optimizer, **kwargs)
        if not isinstance(outputs, dict):
            raise TypeError('"batch_processor()" or "model.train_step()" and "model.val_step()" '
                            f'must return a dict, got {type(outputs).__name__}')
        if 'log_vars' in outputs:
            self.log_buffer.update(outputs['log_vars'], outputs.get('num_samples', 1))
        self.outputs = outputs

    def _stepper(self, train_mode, kwargs):
        # Chosen once per phase, so a step without AMP pays for no context manager.
        run_iter, ctx = self.run_iter, self.step_context
        if ctx is not None:
            def step(batch):
                with ctx():
                    run_iter(batch, train_mode, **kwargs)
        elif kwargs:
            def step(batch):
                run_iter(batch, train_mode, **kwargs)
        else:
            def step(batch):
                run_iter(batch, train_mode)
        return step if self._nvtx is None else self._nvtx.wrap_step(step, 'step')

    def _feed(self, loader):
        # The loader the core iterates: the runner's own, or one with NVTX ranges on each fetch.
        return loader if self._nvtx is None else self._nvtx.wrap_loader(loader)

    # ---------------------------------------------------------------- running
    def _check_workflow(self, data_loaders, workflow):
        if not isinstance(workflow, (list, tuple)) or not workflow:
            raise ArgumentError(f'workflow must be a non-empty list of (phase, n) pairs, got {workflow!r}')
        for flow in workflow:
            if not (isinstance(flow, (list, tuple)) and len(flow) == 2):
                raise ArgumentError(f'each workflow entry must be a (phase, n) pair, got {flow!r}')
            phase, n = flow
            if phase not in self.phases:
                raise ArgumentError(f'unknown workflow phase {phase!r} in {workflow!r}; '
                                    f'allowed phases: {", ".join(self.phases)}')
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ArgumentError(f'workflow entry {flow!r}: n must be a positive int')
        if not isinstance(data_loaders, (list, tuple)) or len(data_loaders) != len(workflow):
            raise ArgumentError(f'data_loaders ({len(data_loaders) if isinstance(data_loaders, (list, tuple)) else data_loaders!r}) '
                                f'and workflow ({len(workflow)} entries) must have the same length')

    def _log_start(self, workflow, unit, total):
        self.logger.info('Start running, host: %s, work_dir: %s', platform.node(), self.work_dir)
        self.logger.info('Hooks will be executed in the following order:\n%s', self.get_hook_info())
        self.logger.info('workflow: %s, max: %d %s', workflow, total, unit)

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, out_dir, filename_tmpl='epoch_{}.pth', save_optimizer=True,
                        meta=None, create_symlink=True):
        """Save model, optimizer, meta and :meth:`runner_state` to ``out_dir/filename_tmpl``.

        The file is written atomically (a temporary file, fsync, rename) with a checksum; then
        ``latest.pth`` is pointed at it (a symlink, or a copy where there are none), also by an
        atomic rename. A model holding NaN/inf is not saved (FloatingPointError); a failed
        write raises :class:`~fastrun.checkpoint.CheckpointWriteError` and leaves the earlier
        files and ``latest.pth`` as they were.
        """
        if meta is None:
            meta = {}
        elif not isinstance(meta, dict):
            raise TypeError(f'meta should be a dict or None, but got {type(meta).__name__}')
        if self.meta is not None:
            meta = dict(self.meta, **meta)
        meta.update(self._checkpoint_counters())
        filename = filename_tmpl.format(self._checkpoint_index())
        filepath = osp.join(out_dir, filename)
        _save_checkpoint(self.model, filepath, optimizer=self.optimizer if save_optimizer else None,
                         meta=meta, extra={'runner_state': self.runner_state()})
        if create_symlink:
            dst = osp.join(out_dir, 'latest.pth')
            tmp = dst + '.tmp-link'
            try:
                if osp.lexists(tmp):
                    os.remove(tmp)
                try:
                    os.symlink(filename, tmp)
                except OSError:  # no symlinks here: a copy, still atomic through the rename
                    shutil.copy(filepath, tmp)
                os.replace(tmp, dst)
            except OSError as e:
                if osp.lexists(tmp):
                    os.remove(tmp)
                raise CheckpointWriteError(e.errno, f'{filepath} was saved, but {dst} could not '
                                                    f'be pointed at it ({e}); it still points to the '
                                                    f'previous checkpoint') from e
        return filepath

    def runner_state(self):
        """What continuing exactly from this point needs; saved in checkpoints as ``runner_state``.

        ``epoch`` / ``iter`` / ``inner_iter``: epochs, iterations and batches of the current
        epoch completed (called during a train iteration, that iteration counts as done);
        ``rng``: the RNG states, one per rank; ``loaders``: the sampler seed and epoch of the
        loaders (and, iter-based, their epoch and batches drawn); ``log_buffer``: the last
        values the loggers average; ``hooks``: ``state_dict()`` of each hook defining one.
        Outside :meth:`run` there is no position in a loop: the counters are mmcv's meta ones
        (what ``resume`` of an mmcv checkpoint would set).
        """
        if self._stopper is None:
            counters = self._checkpoint_counters()
            epoch, it, inner = counters['epoch'], counters['iter'], 0
        else:
            epoch, it, inner = self._position()
        rngs, self._rank_rng_states = self._rank_rng_states, None
        loaders = []
        for loader in self._state_loaders:
            if isinstance(loader, IterLoader):
                loaders.append(dict(_resume.loader_state(loader._dataloader), epoch=loader.epoch,
                                    consumed=loader.consumed))
            else:
                loaders.append(_resume.loader_state(loader))
        from .hooks.logger.base import LoggerHook  # the runner module imports no hook at load time
        window = max((h.interval for h in self._hooks if isinstance(h, LoggerHook)
                      and isinstance(h.interval, int)), default=0)
        # Plain types only (a hook's NumPy number becomes a float, an object is an error here),
        # so the file loads with torch.load(weights_only=True).
        return to_plain(dict(epoch=epoch, iter=it, inner_iter=inner,
                             rng=rngs if rngs is not None else [_resume.rng_state()],
                             loaders=loaders,
                             log_buffer=_resume.log_buffer_state(self.log_buffer, window),
                             hooks=_resume.hook_states(self._hooks)))

    def _position(self):
        """(epochs, iterations, batches of the current epoch) completed at this point."""
        in_iter = self.mode == 'train' and 'data_batch' in self.__dict__
        return self._epoch, self._iter + in_iter, 0

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')], weights_only=True):
        """Load the model weights of ``filename``; return the checkpoint dict.

        Mismatching keys are reported (first few of each kind); ``strict=True`` raises instead.
        ``weights_only=False`` unpickles any object: only for files you trust.
        """
        return _load_checkpoint(self.model, filename, map_location, strict, self.logger,
                                revise_keys=revise_keys, weights_only=weights_only)

    def resume(self, checkpoint, resume_optimizer=True, map_location='default', weights_only=True):
        """Restore weights, optimizer state, counters, ``meta`` and the run state from ``checkpoint``.

        With a fastrun checkpoint the run continues exactly where it was saved (mid-epoch
        too): data order, RNG states, log averages and hook states (``load_state_dict`` of
        each hook registered now). Weights the model does not have yet (buffers a hook
        creates at ``before_run``, such as EMA's) are loaded once ``before_run`` has run. An
        mmcv 1.x checkpoint restores weights, optimizer and its ``epoch``/``iter`` meta.
        """
        if map_location == 'default':
            if torch.cuda.is_available():
                device = torch.cuda.current_device()
                map_location = lambda storage, loc: storage.cuda(device)  # noqa: E731
            else:
                map_location = 'cpu'
        filename = checkpoint
        # A file named by the user may have been edited on purpose: a mismatch only warns.
        checkpoint = read_checkpoint(filename, map_location, weights_only=weights_only,
                                     verify='warn', logger=self.logger)
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
            raise CheckpointError(f'{filename}: not a training checkpoint (no state_dict); use '
                                  f'load_from for bare weights')
        state_dict = checkpoint['state_dict']
        revised = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
        revised._metadata = getattr(state_dict, '_metadata', OrderedDict())
        report = load_state_dict(self.model, revised, logger=self.logger, quiet=True)
        self._pending_weights = OrderedDict((k, revised[k]) for k in report['unexpected']) or None
        if report['missing'] or report['mismatched']:
            self.logger.warning('resume from %s: %s', filename, _resume_mismatch(report))
        meta = checkpoint.get('meta', {})
        state = checkpoint.get('runner_state')
        if isinstance(state, dict):
            self._epoch, self._iter = state['epoch'], state['iter']
            self._epoch_pos = state.get('inner_iter', 0)
            self._restore_counters(meta)
            self._resume_state = state
            self._pending_loaders = state.get('loaders') or None
        else:  # mmcv 1.x, or an older fastrun file: counters from the meta
            self._epoch = meta.get('epoch', 0)
            self._iter = meta.get('iter', 0)
            self._epoch_pos = 0
            self._restore_counters(meta)
            self._resume_state = None
            self._pending_loaders = None
        # As mmcv: the run continues with the checkpoint's meta (hook_msgs, fp16 scaler state...),
        # but what describes this run (its config, name, seed) stays this run's.
        # A checkpoint's config_file is never taken: it names a file PaviLoggerHook runs as a
        # config, and nothing read from a checkpoint may choose code to run.
        current = self.meta or {}
        self.meta = {k: v for k, v in meta.items() if k != 'config_file'}
        self.meta.update({k: current[k] for k in ('config', 'config_file', 'config_dict', 'exp_name',
                                                  'seed', 'world_size') if k in current})
        self.meta.setdefault('hook_msgs', {})
        self._resumed_from = filename if isinstance(filename, str) else None
        if 'optimizer' in checkpoint and resume_optimizer:
            self._load_optimizer(checkpoint['optimizer'], filename)
        if isinstance(state, dict) and state.get('hooks'):
            _resume.load_hook_states(self._hooks, state['hooks'], self.logger)
        self.logger.info('resumed epoch %d, iter %d%s (from %s)', self.epoch, self.iter,
                         f', {self._epoch_pos} batches into epoch {self.epoch + 1}'
                         if self._epoch_pos else '', filename)
        return checkpoint

    def _load_optimizer(self, state, filename):
        try:
            if isinstance(self.optimizer, torch.optim.Optimizer):
                self.optimizer.load_state_dict(state)
            elif isinstance(self.optimizer, dict):
                for k in self.optimizer:
                    self.optimizer[k].load_state_dict(state[k])
            else:
                raise TypeError('Optimizer should be dict or torch.optim.Optimizer '
                                f'but got {type(self.optimizer).__name__}')
        except (ValueError, KeyError) as e:
            raise CheckpointError(f'{filename}: its optimizer state does not fit this run\'s '
                                  f'optimizer ({type(e).__name__}: {e}); was it saved by another '
                                  f'model or optimizer configuration?') from e

    def _restore_counters(self, meta):
        pass

    # ---------------------------------------------------------------- the guarded run
    def _run_guarded(self, loop, finish=None):
        """``before_run``, ``loop()``, ``finish()``, ``after_run``, with the signal handlers installed.

        A signal ends the loop after the current iteration; a checkpoint of that point is
        saved right after the loop and :class:`Preempted` raised after ``after_run``. Any error
        closes the loggers (``flush_and_close``) before it propagates.
        """
        stopper = StopOnSignal(self, local_only=self._world_size > 1)
        sync = None
        if self._world_size > 1:
            sync = StopSync(stopper, self.stop_check_interval)
            self.register_hook(sync, 'LOWEST')
        self._stopper, self._stop_sync = stopper, sync
        saved = signum = None
        try:
            with stopper:
                self.call_hook('before_run')
                self._apply_pending_weights()
                loop()
                signum = self._stop_signum()
                if signum is not None and self._finished():
                    signum = None  # the work is done: nothing to resume
                if signum is not None:
                    saved = self._save_on_stop(signum)
                if finish is not None:
                    finish()
                self.call_hook('after_run')
        except BaseException:
            self._close_loggers()
            raise
        finally:
            self._stopper = self._stop_sync = None
            if sync is not None:
                self._hooks.remove(sync)
        if signum is not None:
            raise Preempted(signum, saved)

    def _stop_signum(self):
        """The signal that stopped the loop, or None (agreed by all ranks when distributed)."""
        if not self.stop_training:
            return None
        if self._stop_sync is not None:
            return self._stop_sync.signum
        return self._stopper.signum if self._stopper is not None else None

    def _close_loggers(self):
        for hook in self._hooks:
            close = getattr(hook, 'flush_and_close', None)
            if callable(close):
                try:
                    close(self)
                except Exception as e:  # the original error matters more
                    self.logger.error('%s.flush_and_close failed: %s', type(hook).__name__, e)

    def _apply_pending_weights(self):
        pending, self._pending_weights = self._pending_weights, None
        if pending:
            report = load_state_dict(self.model, pending, logger=self.logger, quiet=True)
            if report['unexpected'] or report['mismatched']:
                self.logger.warning('resume: %s', _resume_mismatch(report))

    def _restore_rng(self):
        """Set the RNGs as the checkpoint had them (right before the first resumed iteration)."""
        state, self._resume_state = self._resume_state, None
        if state is None:
            return
        rngs = state.get('rng') or []
        if rngs:
            if len(rngs) != self._world_size:
                self.logger.warning('resume: the checkpoint holds the RNG states of %d processes, '
                                    'this run has %d; random draws will differ from the run it '
                                    'continues', len(rngs), self._world_size)
            _resume.set_rng_state(rngs[self._rank] if self._rank < len(rngs) else rngs[0])
        self._pending_log = state.get('log_buffer') or None

    def _restore_log(self):
        pending, self._pending_log = self._pending_log, None
        if pending:
            _resume.load_log_buffer_state(self.log_buffer, pending)

    def _save_on_stop(self, signum):
        """Save the checkpoint of a run stopped by ``signum``; its path (None if not saved)."""
        epoch, it, inner = self._position()
        self.logger.warning('%s received: stopped after epoch %d, iter %d%s; saving a checkpoint',
                            signal.Signals(signum).name, epoch, it,
                            f' ({inner} batches into epoch {epoch + 1})' if inner else '')
        for hook in self._hooks:
            save = getattr(hook, 'save_on_stop', None)
            if callable(save):
                return save(self)
        if self.work_dir is None:
            self.logger.warning('no work_dir and no checkpoint hook: nothing saved')
            return None
        path = osp.join(self.work_dir, self.stop_checkpoint_name())
        gather_rng_states(self)
        if self._rank == 0:
            name = osp.basename(path).replace('{', '{{').replace('}', '}}')
            self.save_checkpoint(self.work_dir, filename_tmpl=name)
        if self._world_size > 1:
            import torch.distributed as dist
            dist.barrier()
        return path

    def stop_checkpoint_name(self, tmpl=None):
        """The file name of a checkpoint saved at the current position (``tmpl`` has one ``{}``)."""
        raise NotImplementedError

    def _finished(self):
        raise NotImplementedError


#: mmcv 1.x's name for the runner base class.
BaseRunner = Runner


@RUNNERS.register_module()
class EpochBasedRunner(Runner):
    """Runs workflows of epochs: ``[('train', 1), ('val', 1)]`` until ``max_epochs`` train epochs."""

    def run(self, data_loaders, workflow, max_epochs=None, **kwargs):
        """Run ``workflow`` (a list of ``(phase, epochs)``) over ``data_loaders`` (one per entry)."""
        self._check_workflow(data_loaders, workflow)
        if max_epochs is not None:
            self._max_epochs = max_epochs
        if self._max_epochs is None:
            raise ArgumentError('max_epochs must be set (Runner(..., max_epochs=N) or run(..., max_epochs=N))')
        self._state_loaders = []
        for (mode, _), loader in zip(workflow, data_loaders):
            if mode == 'train':
                self._max_iters = self._max_epochs * len(loader)
                self._state_loaders = [loader]
                break
        self._log_start(workflow, 'epochs', self._max_epochs)

        def loop():
            self._restore_rng()
            while self._epoch < self._max_epochs and not self.stop_training:
                for (mode, epochs), loader in zip(workflow, data_loaders):
                    for _ in range(epochs):
                        if self.stop_training or (mode == 'train' and self._epoch >= self._max_epochs):
                            break
                        getattr(self, mode)(loader, **kwargs)
        self._run_guarded(loop)

    def train(self, data_loader, **kwargs):
        """One train epoch over ``data_loader`` (its remaining batches after a mid-epoch resume).

        A :class:`~fastrun.sampler.ResumableSampler` gets ``set_epoch(epoch)`` first. When a
        signal cuts the epoch short, ``after_train_epoch`` is not called and the epoch stays
        open: the checkpoint saved then continues it.
        """
        self.model.train()
        self.mode = 'train'
        self.data_loader = data_loader
        self._max_iters = self._max_epochs * len(data_loader)
        self._epoch_ended = False
        pending, self._pending_loaders = self._pending_loaders, None
        if pending:
            _resume.load_loader_state(data_loader, pending[0])
        sampler = sampler_of(data_loader)
        if isinstance(sampler, ResumableSampler):
            sampler.set_epoch(self._epoch)
        start = min(self._epoch_pos, len(data_loader))
        loader, exact = start_after(data_loader, start)
        if not exact:
            self.logger.warning('resume: skipping the first %d batches of epoch %d by loading them; '
                                'the data order matches the interrupted run only if the loader\'s '
                                'order is fixed (use fastrun.sampler.ResumableSampler)', start,
                                self._epoch + 1)
        self.call_hook('before_train_epoch')
        if start:
            self._restore_log()  # after before_train_epoch: the loggers clear the buffer there
        self._pending_log = None
        end = self._dispatch.run_epoch(self, self._feed(loader), _BEFORE_TRAIN_ITER,
                                       _AFTER_TRAIN_ITER, self._stepper(True, kwargs), True, start)
        self._epoch_pos = end
        if end < len(data_loader) and self._stop_signum() is not None:
            return
        self._epoch_ended = True
        self.call_hook('after_train_epoch')
        self._epoch_ended = False
        self._epoch += 1
        self._epoch_pos = 0

    @torch.no_grad()
    def val(self, data_loader, **kwargs):
        """One val epoch over ``data_loader``: no gradients, model in eval mode, counters kept."""
        self.model.eval()
        self.mode = 'val'
        self.data_loader = data_loader
        self.call_hook('before_val_epoch')
        end = self._dispatch.run_epoch(self, self._feed(data_loader), _BEFORE_VAL_ITER,
                                       _AFTER_VAL_ITER, self._stepper(False, kwargs), False)
        if self._stop_signum() is not None and end < len(data_loader):
            return  # cut by a signal: no val results from part of the data
        self.call_hook('after_val_epoch')

    def _position(self):
        if self.mode == 'train' and 'data_batch' in self.__dict__:
            return self._epoch, self._iter + 1, self._inner_iter + 1
        if self._epoch_ended:  # at after_train_epoch: the epoch is complete
            return self._epoch + 1, self._iter, 0
        return self._epoch, self._iter, self._epoch_pos

    def stop_checkpoint_name(self, tmpl='epoch_{}.pth'):
        """``epoch_N.pth`` at the end of epoch N, ``epoch_N_iter_K.pth`` after K batches of epoch N."""
        epoch, _, inner = self._position()
        return tmpl.format(epoch) if inner == 0 else tmpl.format(f'{epoch + 1}_iter_{inner}')

    def _finished(self):
        return self._epoch >= self._max_epochs

    def _checkpoint_counters(self):
        return dict(epoch=self._epoch + 1, iter=self._iter)

    def _checkpoint_index(self):
        return self._epoch + 1


@RUNNERS.register_module(name='Runner')
class DeprecatedRunner(EpochBasedRunner):
    """``type='Runner'`` in a config: mmcv 1.x's deprecated name of EpochBasedRunner (it warns)."""

    def __init__(self, *args, **kwargs):
        warnings.warn('Runner was deprecated, please use EpochBasedRunner instead',
                      DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


@RUNNERS.register_module()
class IterBasedRunner(Runner):
    """Runs workflows of iterations: ``[('train', 1000), ('val', 100)]`` until ``max_iters``."""

    def run(self, data_loaders, workflow, max_iters=None, **kwargs):
        """Run ``workflow`` (a list of ``(phase, iters)``) over ``data_loaders`` (one per entry).

        After a resume, with one train entry of ``n`` iterations, the first train phase runs
        the ``n - iter % n`` iterations left of it, so the phases fall where they did.
        """
        self._check_workflow(data_loaders, workflow)
        if max_iters is not None:
            self._max_iters = max_iters
        if self._max_iters is None:
            raise ArgumentError('max_iters must be set (Runner(..., max_iters=N) or run(..., max_iters=N))')
        self._log_start(workflow, 'iters', self._max_iters)
        train_lengths = [n for mode, n in workflow if mode == 'train']

        def loop():
            pending, self._pending_loaders = self._pending_loaders, None
            iter_loaders = []
            for i, loader in enumerate(data_loaders):
                state = pending[i] if pending and i < len(pending) else None
                if state:
                    _resume.load_loader_state(loader, state)
                    iter_loaders.append(IterLoader(loader, state.get('epoch', 0), state.get('consumed', 0)))
                else:
                    iter_loaders.append(IterLoader(loader))
            self._state_loaders = iter_loaders
            self.call_hook('before_epoch')
            self._restore_rng()
            self._restore_log()
            left = 0
            if self._iter and len(train_lengths) == 1:
                left = -self._iter % train_lengths[0]
            while self._iter < self._max_iters and not self.stop_training:
                for (mode, iters), loader in zip(workflow, iter_loaders):
                    self._inner_iter = 0
                    if self.stop_training or (mode == 'train' and self._iter >= self._max_iters):
                        break
                    if mode == 'train' and left:
                        iters, left = left, 0
                    self._run_iters(mode, loader, iters, **kwargs)
        self._run_guarded(loop, finish=lambda: self.call_hook('after_epoch'))

    def _run_iters(self, mode, loader, n, **kwargs):
        train = mode == 'train'
        self.model.train(train)
        self.mode = mode
        self.data_loader = loader
        before, after = (_BEFORE_TRAIN_ITER, _AFTER_TRAIN_ITER) if train else (_BEFORE_VAL_ITER, _AFTER_VAL_ITER)
        with torch.set_grad_enabled(train and torch.is_grad_enabled()):
            return self._dispatch.run_iters(self, self._feed(loader), n, before, after,
                                            self._stepper(train, kwargs), train, self._max_iters)

    def train(self, data_loader, **kwargs):
        """One train iteration drawn from ``data_loader`` (an IterLoader), as mmcv's."""
        self._run_iters('train', data_loader, 1, **kwargs)

    def val(self, data_loader, **kwargs):
        """One val iteration drawn from ``data_loader`` (an IterLoader), as mmcv's."""
        self._run_iters('val', data_loader, 1, **kwargs)

    def stop_checkpoint_name(self, tmpl='iter_{}.pth'):
        """``iter_N.pth`` after N iterations."""
        return tmpl.format(self._position()[1])

    def _finished(self):
        return self._iter >= self._max_iters

    def _checkpoint_counters(self):
        return dict(iter=self._iter + 1, epoch=self._epoch + 1)

    def _checkpoint_index(self):
        return self._iter + 1

    def save_checkpoint(self, out_dir, filename_tmpl='iter_{}.pth', meta=None, save_optimizer=True,
                        create_symlink=True):
        return super().save_checkpoint(out_dir, filename_tmpl, save_optimizer, meta, create_symlink)

    def _restore_counters(self, meta):
        self._inner_iter = meta.get('iter', 0)

    def register_training_hooks(self, lr_config, optimizer_config=None, checkpoint_config=None,
                                log_config=None, momentum_config=None, custom_hooks_config=None,
                                timer_config=dict(type='IterTimerHook')):
        """As the epoch-based version, with ``by_epoch=False`` defaults (mmcv's iter-based rule)."""
        def iterwise(cfg):
            if isinstance(cfg, dict):
                cfg = dict(cfg)
                cfg.setdefault('by_epoch', False)
            return cfg
        if log_config is not None:
            log_config = dict(log_config, hooks=[iterwise(h) for h in log_config['hooks']])
        super().register_training_hooks(
            iterwise(lr_config), optimizer_config, iterwise(checkpoint_config), log_config,
            iterwise(momentum_config), timer_config, custom_hooks_config)


def _resume_mismatch(report):
    return mismatch_message(report).replace('The model and loaded state dict do not match exactly\n', '')


def gather_rng_states(runner):
    """Collect every rank's RNG state for the next checkpoint (a collective when distributed).

    Call it on every rank before rank 0 saves: :meth:`Runner.runner_state` then stores one
    state per rank, and each rank of a resumed run restores its own.
    """
    if runner.world_size > 1:
        import torch.distributed as dist
        states = [None] * runner.world_size
        dist.all_gather_object(states, _resume.rng_state())
        runner._rank_rng_states = states


def build_runner(cfg, default_args=None):
    """Build a runner from ``dict(type='EpochBasedRunner', max_epochs=N)`` and the model etc."""
    cfg = dict(cfg)
    cfg.pop('constructor', None)
    return build_from_cfg(cfg, RUNNERS, default_args)
