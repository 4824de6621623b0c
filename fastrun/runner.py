"""The Runner: state, counters, hook registration and the workflow loop (mmcv 1.x semantics).

Building from config files, checkpoint I/O, logging and distributed set-up live in their own
modules; the per-iteration loop and the hook dispatch live in the core (``fastrun._core``).
"""
import logging
import os
import os.path as osp
import platform
import shutil
import time

import torch

from . import _core
from .checkpoint import load_checkpoint as _load_checkpoint
from .checkpoint import save_checkpoint as _save_checkpoint
from .dist import get_dist_info
from .hook import DISPATCH_NAMES, STAGES, Hook, stage_method
from .log import get_logger
from .log_buffer import LogBuffer
from .priority import Priority, get_priority
from .registry import HOOKS, RUNNERS, build_from_cfg

_IDX = {name: i for i, name in enumerate(DISPATCH_NAMES)}
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
    """An endless iterator over a data loader that counts epochs (``set_epoch`` on its sampler)."""

    def __init__(self, dataloader):
        self._dataloader = dataloader
        self.iter_loader = iter(dataloader)
        self._epoch = 0

    @property
    def epoch(self):
        return self._epoch

    def __next__(self):
        try:
            return next(self.iter_loader)
        except StopIteration:
            self._epoch += 1
            sampler = getattr(self._dataloader, 'sampler', None)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self._epoch)
            self.iter_loader = iter(self._dataloader)
            return next(self.iter_loader)

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
    - ``step_context`` (writable): None, or a callable giving the context each step runs in (AMP)
    - ``log_buffer``: the values logged since the last log (tensors stay on their device)
    - ``hooks``: the registered hooks in call order; ``rank`` / ``world_size``
    """

    #: The phases a workflow may name.
    phases = ('train', 'val')

    def __new__(cls, *args, **kwargs):
        if cls is Runner:
            if kwargs.get('max_iters') is not None and kwargs.get('max_epochs') is None:
                cls = IterBasedRunner
            else:
                cls = EpochBasedRunner
        return super().__new__(cls)

    def __init__(self, model, batch_processor=None, optimizer=None, work_dir=None, logger=None,
                 meta=None, max_iters=None, max_epochs=None):
        if batch_processor is not None:
            if not callable(batch_processor):
                raise TypeError(f'batch_processor must be callable, got {type(batch_processor).__name__}')
            if hasattr(model, 'train_step') or hasattr(model, 'val_step'):
                raise RuntimeError('batch_processor and model.train_step()/model.val_step() '
                                   'cannot be both available.')
        elif not hasattr(model, 'train_step'):
            raise TypeError(f'{type(model).__name__} has no train_step(); give the model '
                            'train_step/val_step methods or pass a batch_processor')
        if isinstance(optimizer, dict):
            for name, optim in optimizer.items():
                if not isinstance(optim, torch.optim.Optimizer):
                    raise TypeError(f'optimizer must be a dict of torch.optim.Optimizers, '
                                    f'but optimizer["{name}"] is a {type(optim).__name__}')
        elif optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f'optimizer must be a torch.optim.Optimizer object or dict or None, '
                            f'but got {type(optimizer).__name__}')
        if logger is None:
            logger = get_logger()
        elif not isinstance(logger, logging.Logger):
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
            raise TypeError(f'hook must be a fastrun.Hook, got {type(hook).__name__}')
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
            raise KeyError(f'{suffix} config needs a "policy" key, got {config}')
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
            raise ValueError(f'workflow must be a non-empty list of (phase, n) pairs, got {workflow!r}')
        for flow in workflow:
            if not (isinstance(flow, (list, tuple)) and len(flow) == 2):
                raise ValueError(f'each workflow entry must be a (phase, n) pair, got {flow!r}')
            phase, n = flow
            if phase not in self.phases:
                raise ValueError(f'unknown workflow phase {phase!r} in {workflow!r}; '
                                 f'allowed phases: {", ".join(self.phases)}')
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f'workflow entry {flow!r}: n must be a positive int')
        if not isinstance(data_loaders, (list, tuple)) or len(data_loaders) != len(workflow):
            raise ValueError(f'data_loaders ({len(data_loaders) if isinstance(data_loaders, (list, tuple)) else data_loaders!r}) '
                             f'and workflow ({len(workflow)} entries) must have the same length')

    def _log_start(self, workflow, unit, total):
        self.logger.info('Start running, host: %s, work_dir: %s', platform.node(), self.work_dir)
        self.logger.info('Hooks will be executed in the following order:\n%s', self.get_hook_info())
        self.logger.info('workflow: %s, max: %d %s', workflow, total, unit)

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, out_dir, filename_tmpl='epoch_{}.pth', save_optimizer=True,
                        meta=None, create_symlink=True):
        """Save model, optimizer and meta to ``out_dir/filename_tmpl`` and point latest.pth at it."""
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
                         meta=meta)
        if create_symlink:
            dst = osp.join(out_dir, 'latest.pth')
            tmp = dst + '.tmp-link'
            try:
                if osp.lexists(tmp):
                    os.remove(tmp)
                os.symlink(filename, tmp)
            except OSError:  # no symlinks here: a copy, still atomic through the rename
                shutil.copy(filepath, tmp)
            os.replace(tmp, dst)
        return filepath

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):
        """Load the model weights of ``filename``; return the checkpoint dict."""
        return _load_checkpoint(self.model, filename, map_location, strict, self.logger,
                                revise_keys=revise_keys)

    def resume(self, checkpoint, resume_optimizer=True, map_location='default'):
        """Restore weights, optimizer state, counters and ``meta`` from ``checkpoint``."""
        if map_location == 'default':
            if torch.cuda.is_available():
                device = torch.cuda.current_device()
                map_location = lambda storage, loc: storage.cuda(device)  # noqa: E731
            else:
                map_location = 'cpu'
        filename = checkpoint
        checkpoint = self.load_checkpoint(filename, map_location=map_location)
        meta = checkpoint.get('meta', {})
        self._epoch = meta.get('epoch', 0)
        self._iter = meta.get('iter', 0)
        self._restore_counters(meta)
        # As mmcv: the run continues with the checkpoint's meta (hook_msgs, fp16 scaler state...),
        # but what describes this run (its config, name, seed) stays this run's.
        current = self.meta or {}
        self.meta = dict(meta)
        self.meta.update({k: current[k] for k in ('config', 'exp_name', 'seed', 'world_size') if k in current})
        self.meta.setdefault('hook_msgs', {})
        #: The file this run resumed from (checkpoint rotation never deletes it).
        self._resumed_from = filename if isinstance(filename, str) else None
        if 'optimizer' in checkpoint and resume_optimizer:
            if isinstance(self.optimizer, torch.optim.Optimizer):
                self.optimizer.load_state_dict(checkpoint['optimizer'])
            elif isinstance(self.optimizer, dict):
                for k in self.optimizer:
                    self.optimizer[k].load_state_dict(checkpoint['optimizer'][k])
            else:
                raise TypeError('Optimizer should be dict or torch.optim.Optimizer '
                                f'but got {type(self.optimizer).__name__}')
        self.logger.info('resumed epoch %d, iter %d', self.epoch, self.iter)
        return checkpoint

    def _restore_counters(self, meta):
        pass


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
            raise ValueError('max_epochs must be set (Runner(..., max_epochs=N) or run(..., max_epochs=N))')
        for (mode, _), loader in zip(workflow, data_loaders):
            if mode == 'train':
                self._max_iters = self._max_epochs * len(loader)
                break
        self._log_start(workflow, 'epochs', self._max_epochs)
        self.call_hook('before_run')
        while self._epoch < self._max_epochs and not self.stop_training:
            for (mode, epochs), loader in zip(workflow, data_loaders):
                for _ in range(epochs):
                    if self.stop_training or (mode == 'train' and self._epoch >= self._max_epochs):
                        break
                    getattr(self, mode)(loader, **kwargs)
        self.call_hook('after_run')

    def train(self, data_loader, **kwargs):
        """One train epoch over ``data_loader``."""
        self.model.train()
        self.mode = 'train'
        self.data_loader = data_loader
        self._max_iters = self._max_epochs * len(data_loader)
        self.call_hook('before_train_epoch')
        self._dispatch.run_epoch(self, self._feed(data_loader), _BEFORE_TRAIN_ITER, _AFTER_TRAIN_ITER,
                                 self._stepper(True, kwargs), True)
        self.call_hook('after_train_epoch')
        self._epoch += 1

    @torch.no_grad()
    def val(self, data_loader, **kwargs):
        """One val epoch over ``data_loader``: no gradients, model in eval mode, counters kept."""
        self.model.eval()
        self.mode = 'val'
        self.data_loader = data_loader
        self.call_hook('before_val_epoch')
        self._dispatch.run_epoch(self, self._feed(data_loader), _BEFORE_VAL_ITER, _AFTER_VAL_ITER,
                                 self._stepper(False, kwargs), False)
        self.call_hook('after_val_epoch')

    def _checkpoint_counters(self):
        return dict(epoch=self._epoch + 1, iter=self._iter)

    def _checkpoint_index(self):
        return self._epoch + 1


@RUNNERS.register_module()
class IterBasedRunner(Runner):
    """Runs workflows of iterations: ``[('train', 1000), ('val', 100)]`` until ``max_iters``."""

    def run(self, data_loaders, workflow, max_iters=None, **kwargs):
        """Run ``workflow`` (a list of ``(phase, iters)``) over ``data_loaders`` (one per entry)."""
        self._check_workflow(data_loaders, workflow)
        if max_iters is not None:
            self._max_iters = max_iters
        if self._max_iters is None:
            raise ValueError('max_iters must be set (Runner(..., max_iters=N) or run(..., max_iters=N))')
        self._log_start(workflow, 'iters', self._max_iters)
        self.call_hook('before_run')
        iter_loaders = [IterLoader(x) for x in data_loaders]
        self.call_hook('before_epoch')
        while self._iter < self._max_iters and not self.stop_training:
            for (mode, iters), loader in zip(workflow, iter_loaders):
                self._inner_iter = 0
                if self.stop_training or (mode == 'train' and self._iter >= self._max_iters):
                    break
                self._run_iters(mode, loader, iters, **kwargs)
        self.call_hook('after_epoch')
        self.call_hook('after_run')

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


def build_runner(cfg, default_args=None):
    """Build a runner from ``dict(type='EpochBasedRunner', max_epochs=N)`` and the model etc."""
    cfg = dict(cfg)
    cfg.pop('constructor', None)
    return build_from_cfg(cfg, RUNNERS, default_args)
