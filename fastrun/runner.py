"""The Runner: counters, hook registration and dispatch, the workflow loop (mmcv 1.x semantics).

Beside it: the run's state and checkpoints (``fastrun.state``), preemption (``fastrun.signals``),
hooks from runtime configs (``fastrun.runtime_hooks``); building from config files, logging and
distributed set-up have their own modules; the per-iteration loop and the hook dispatch run in
the core (``fastrun._core``).
"""
import logging
import os
import platform
import time
import warnings

import torch

from . import _core, storage, workdir
from .checkpoint import load_checkpoint as _load_checkpoint
from .datacheck import explain_data_error
from .dist import get_dist_info, is_module_wrapper
from .errors import ArgumentError, ArgumentTypeError
from .hook import DISPATCH_NAMES, Hook, is_hook
from .log import get_logger
from .log_buffer import LogBuffer
from . import hook_order
from .priority import get_priority
from .registry import RUNNER_BUILDERS, RUNNERS, build_from_cfg
from .runtime_hooks import HookList, RuntimeHooksMixin
from .sampler import IterLoader, ResumableSampler, sampler_of, start_after
from .signals import Preemption
from .state import RunState, load_loader_state

_IDX = {name: i for i, name in enumerate(DISPATCH_NAMES)}
#: ``Runner(logger=...)`` left out: fastrun's logger (an explicit None raises, as in mmcv).
_DEFAULT_LOGGER = object()
_BEFORE_TRAIN_ITER, _AFTER_TRAIN_ITER = _IDX['before_train_iter'], _IDX['after_train_iter']
_BEFORE_VAL_ITER, _AFTER_VAL_ITER = _IDX['before_val_iter'], _IDX['after_val_iter']


class Runner(RuntimeHooksMixin):
    """Trains ``model`` through hooks; epoch-based with ``max_epochs``, iter-based with ``max_iters``.

    ``Runner(...)`` builds an :class:`EpochBasedRunner`, or an :class:`IterBasedRunner` when
    only ``max_iters`` is given (:func:`runner_class`); ``type(Runner(...))`` is that subclass.
    Configs name the subclass (``runner=dict(type='EpochBasedRunner', ...)``).

    State (read-only properties unless noted):

    - ``model``, ``optimizer`` (an Optimizer, a dict of them, or None), ``batch_processor``
    - ``work_dir``: absolute path of the output folder, or None; ``work_url``: the URL it was
      given as (it is then a local staging folder mirrored there, :mod:`fastrun.storage`) or
      None; ``logger``; ``meta`` (writable): saved in checkpoints; ``timestamp``: ``%Y%m%d_%H%M%S``
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
    - ``run_state``: what checkpoints and resumes carry beyond the counters
      (:class:`fastrun.state.RunState`: data positions, RNG states, what a resume left pending)

    Preemption (:mod:`fastrun.signals`): during :meth:`run` (main thread), SIGTERM or SIGINT
    end the run after the current iteration, with a checkpoint of that exact point, then
    ``after_run`` and :class:`~fastrun.signals.Preempted`. A failing hook or step closes every
    logger that has ``flush_and_close`` before the error propagates.
    """

    #: Distributed runs: train iterations between two checks whether a rank got a signal.
    stop_check_interval = 10

    #: The phases a workflow may name.
    phases = ('train', 'val')

    def __new__(cls, *args, **kwargs):
        # Runner(...) itself is never built: it stands for one of its two subclasses, chosen by
        # runner_class (mmcv 1.x's BaseRunner is abstract; its old `Runner` is epoch-based).
        if cls is Runner:
            cls = runner_class(kwargs.get('max_epochs'), kwargs.get('max_iters'))
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
        self.work_url = None
        if isinstance(work_dir, (str, os.PathLike)):  # a URL: a local staging folder mirrored there
            work_dir, self.work_url = storage.local_work_dir(work_dir, mirror=get_dist_info()[0] == 0)
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
        self._hooks = HookList(self.rebuild_tables)
        #: ``(stage, fn) -> fn`` wrappers applied to every table entry, by key (profilers).
        self._annotators = {}
        #: The NVTX annotator while NVTX ranges are on (``enable_nvtx``), else None.
        self._nvtx = None
        #: A zero-argument callable returning a context manager entered around every step
        #: (AMP hooks set ``lambda: torch.autocast(...)``); read when each phase starts.
        self.step_context = None
        #: Set by a hook (early stopping, a signal) to end the run after the current iteration.
        self.stop_training = False
        self._state = RunState()
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
    run_state = property(lambda self: self._state, doc='The run state (fastrun.state.RunState).')

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
    def rebuild_tables(self):
        """Rebuild the dispatch tables: every stage's hook methods in order, the run state's
        checkpoint writer among them, wrapped by the annotators. Changing ``hooks`` calls it;
        call it after changing anything else the tables are built from."""
        tables = []
        for name in DISPATCH_NAMES:
            fns = self._state.stage_table(name, self._hooks)  # + the writer of stage-end saves
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
        self.rebuild_tables()

    def enable_nvtx(self, enabled=True):
        """NVTX ranges around every stage, hook call, batch fetch and step (for Nsight Systems)."""
        if enabled:
            from .profiling import NvtxAnnotator
            self._nvtx = NvtxAnnotator()
            self.set_annotation(self._nvtx, key='nvtx')
        else:
            self._nvtx = None
            self.set_annotation(None, key='nvtx')

    def register_hook(self, hook, priority=hook_order.REGISTER_DEFAULT.name):
        """Insert ``hook`` by priority (default ``NORMAL``); among equal priorities, first
        registered runs first (:func:`fastrun.hook_order.insert_position`).

        ``hook`` is a :class:`fastrun.Hook`, or a subclass of mmcv 1.x's ``Hook`` (code that
        still imports mmcv): its tables are built from what it overrides in the same way.
        """
        if not isinstance(hook, Hook) and not is_hook(hook):
            raise ArgumentTypeError(f'hook must be a fastrun.Hook (or an mmcv.runner.Hook), '
                                    f'got {type(hook).__name__}')
        priority = get_priority(priority)
        pos = hook_order.insert_position([h.priority for h in self._hooks], priority)
        hook.priority = priority
        self._hooks.insert(pos, hook)

    def call_hook(self, fn_name):
        """Call stage ``fn_name`` of every hook that implements it, in priority order."""
        i = _IDX.get(fn_name)
        if i is not None:
            self._dispatch.call_index(i, self)
        else:  # a name outside the stage vocabulary: mmcv calls it on every hook
            for hook in self._hooks:
                getattr(hook, fn_name)(self)

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

    def _say_if_done(self, unit, done, key, total):
        # A resume from a checkpoint at the end of the schedule trains nothing: said, not silent.
        if done >= total and self._state.resumed_from is not None:
            self.logger.warning('resume: %s is at %s %d and %s is %d: nothing left to train '
                                '(raise %s to train further)', storage.redact(self._state.resumed_from),
                                unit, done, key, total, key)

    def _log_start(self, workflow, unit, total):
        #: The ``(phase, n)`` pairs of the running workflow (read by hooks, e.g. the text logger).
        self.workflow = [tuple(flow) for flow in workflow]
        where = storage.redact(self.work_url or self.work_dir)
        self.logger.info('Start running, host: %s, work_dir: %s', platform.node(), where)
        self.logger.info('Hooks will be executed in the following order:\n%s', self.get_hook_info())
        self.logger.info('workflow: %s, max: %d %s', workflow, total, unit)

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, out_dir, filename_tmpl='epoch_{}.pth', save_optimizer=True,
                        meta=None, create_symlink=True):
        """Write a checkpoint of this point, then point ``latest.pth`` at it (:meth:`.RunState.save`)."""
        return self._state.save(self, out_dir, filename_tmpl, save_optimizer, meta, create_symlink)

    def runner_state(self):
        """What continuing exactly from this point needs (see :meth:`fastrun.state.RunState.capture`)."""
        return self._state.capture(self)

    # ------------------------------------------------- the run state's view of the counters
    # What fastrun.state.RunState reads and sets (its RunnerProtocol); the counters themselves
    # live in _epoch / _iter / _inner_iter (mmcv's names), moved by the dispatch core.
    def position(self):
        """``(epochs, iterations, batches of the current epoch)`` completed at this point:
        where a checkpoint saved now continues from (in a train iteration, it counts as done)."""
        # hasattr, never self.__dict__ (reading it slows later attribute access on CPython
        # 3.11+): the core sets data_batch for an iteration and deletes it after.
        in_iter = self.mode == 'train' and hasattr(self, 'data_batch')
        return self._epoch, self._iter + in_iter, 0

    def checkpoint_counters(self):
        """mmcv's ``epoch`` / ``iter`` meta of a checkpoint saved now (a dict)."""
        raise NotImplementedError

    def checkpoint_index(self):
        """The number a checkpoint saved now puts into its ``filename_tmpl``."""
        raise NotImplementedError

    def set_counters(self, epoch, iter, meta):
        """Set the counters a resume read: ``epoch`` / ``iter`` completed; ``meta``: the
        checkpoint's meta (the iter-based runner sets ``inner_iter`` from it, as mmcv)."""
        self._epoch, self._iter = epoch, iter

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')], weights_only=True):
        """Load the model weights of ``filename``; return the checkpoint dict.

        Mismatching keys are reported (first few of each kind); ``strict=True`` raises instead.
        ``weights_only=False`` unpickles any object: only for files you trust.
        """
        return _load_checkpoint(self.model, filename, map_location, strict, self.logger,
                                revise_keys=revise_keys, weights_only=weights_only)

    def resume(self, checkpoint, resume_optimizer=True, map_location='default', weights_only=True):
        """Continue from the file ``checkpoint`` exactly where it was saved; the checkpoint dict.

        Weights, optimizer, counters, ``meta``, data order, RNG states, log averages and hook
        states: see :meth:`fastrun.state.RunState.restore`. An mmcv 1.x checkpoint restores
        weights, optimizer and its ``epoch``/``iter`` meta.
        """
        return self._state.restore(self, checkpoint, resume_optimizer, map_location, weights_only)

    # ---------------------------------------------------------------- the guarded run
    def _run_guarded(self, loop, finish=None):
        """``before_run``, ``loop()``, ``finish()``, ``after_run``, under the signal guard.

        A signal ends the loop after the current iteration; a checkpoint of that point is
        saved right after the loop and :class:`~fastrun.signals.Preempted` raised after
        ``after_run``. Any error closes the loggers (``flush_and_close``) before it propagates.
        """
        # The work dir is this run's while it runs (a second run there fails naming the owner).
        owned = workdir.own(self.work_dir, self.work_url, self.logger) \
            if self.work_dir is not None and self._rank == 0 else None
        try:
            if owned is not None and not self._stamp_checked:
                # A run of the same second left its logs there: this one's get another name.
                self.timestamp = workdir.unique_stamp(self.work_dir, self.timestamp, ('.log.json',))
            self._stamp_checked = True
            self._run_owned(loop, finish)
        finally:
            workdir.release(owned)

    _stamp_checked = False

    def _run_owned(self, loop, finish):
        guard = Preemption(self)
        try:
            with guard:
                self.call_hook('before_run')
                self._state.apply_weights(self)
                loop()
                guard.save_if_stopped()
                if finish is not None:
                    finish()
                self.call_hook('after_run')
                storage.wait_uploads()  # raises if one failed (its local copy kept)
        except BaseException as e:
            self._close_loggers()
            storage.wait_uploads(raise_errors=False)
            explain_data_error(self, e)  # a bad sample: a DataError naming it, from e
            raise
        guard.raise_if_stopped()

    def _stop_signum(self):
        """The signal that stopped the loop, or None (agreed by all ranks when distributed)."""
        guard = self._state.preemption
        return guard.signum if guard is not None else None

    def stop_checkpoint_name(self, tmpl=None):
        """The file name of a checkpoint saved at the current position (``tmpl`` has one ``{}``)."""
        raise NotImplementedError

    def _finished(self):
        raise NotImplementedError


#: mmcv 1.x's name for the runner base class.
BaseRunner = Runner


def runner_class(max_epochs=None, max_iters=None):
    """The class ``Runner(..., max_epochs=, max_iters=)`` builds: :class:`IterBasedRunner` when
    only ``max_iters`` is given, else :class:`EpochBasedRunner`."""
    if max_iters is not None and max_epochs is None:
        return IterBasedRunner
    return EpochBasedRunner


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
        self._state.loaders = []
        for (mode, _), loader in zip(workflow, data_loaders):
            if mode == 'train':
                self._max_iters = self._max_epochs * len(loader)
                self._state.loaders = [loader]
                # Mid-epoch after a resume: the same samples done, in this run's batch size.
                pending = self._state.pending_loaders
                self._state.epoch_pos = self._state.fit_position(
                    self, loader, pending[0] if pending else None, self._state.epoch_pos,
                    f'epoch {self._epoch + 1}')
                break
        self._log_start(workflow, 'epochs', self._max_epochs)
        self._say_if_done('epoch', self._epoch, 'max_epochs', self._max_epochs)

        def loop():
            self._state.apply_rng(self)
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
        state = self._state
        state.epoch_ended = False
        pending = state.take_loaders()
        if pending:
            load_loader_state(data_loader, pending[0])
        sampler = sampler_of(data_loader)
        if isinstance(sampler, ResumableSampler):
            sampler.set_epoch(self._epoch)
        start = min(state.epoch_pos, len(data_loader))
        loader, exact = start_after(data_loader, start)
        if not exact:
            self.logger.warning('resume: skipping the first %d batches of epoch %d by loading them; '
                                'the data order matches the interrupted run only if the loader\'s '
                                'order is fixed (use fastrun.sampler.ResumableSampler)', start,
                                self._epoch + 1)
        self.call_hook('before_train_epoch')
        # After before_train_epoch, where the loggers clear the buffer; kept only mid-epoch.
        state.apply_log(self, restore=bool(start))
        end = self._dispatch.run_epoch(self, self._feed(loader), _BEFORE_TRAIN_ITER,
                                       _AFTER_TRAIN_ITER, self._stepper(True, kwargs), True, start)
        state.epoch_pos = end
        if end < len(data_loader) and self._stop_signum() is not None:
            return
        state.epoch_ended = True
        self.call_hook('after_train_epoch')
        state.epoch_ended = False
        self._epoch += 1
        state.epoch_pos = 0

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

    def position(self):
        if self.mode == 'train' and hasattr(self, 'data_batch'):  # in an iteration: it counts as done
            return self._epoch, self._iter + 1, self._inner_iter + 1
        if self._state.epoch_ended:  # at after_train_epoch: the epoch is complete
            return self._epoch + 1, self._iter, 0
        return self._epoch, self._iter, self._state.epoch_pos

    def stop_checkpoint_name(self, tmpl='epoch_{}.pth'):
        """``epoch_N.pth`` at the end of epoch N, ``epoch_N_iter_K.pth`` after K batches of epoch N."""
        epoch, _, inner = self.position()
        return tmpl.format(epoch) if inner == 0 else tmpl.format(f'{epoch + 1}_iter_{inner}')

    def _finished(self):
        return self._epoch >= self._max_epochs

    def checkpoint_counters(self):
        return dict(epoch=self._epoch + 1, iter=self._iter)

    def checkpoint_index(self):
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

    runtime_hooks_by_epoch = False  # mmcv's iter-based rule for the default runtime hooks

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
        self._say_if_done('iteration', self._iter, 'max_iters', self._max_iters)
        train_lengths = [n for mode, n in workflow if mode == 'train']

        def loop():
            pending = self._state.take_loaders()
            iter_loaders = []
            for i, loader in enumerate(data_loaders):
                saved = pending[i] if pending and i < len(pending) else None
                if saved:
                    load_loader_state(loader, saved)
                    consumed = self._state.fit_position(
                        self, loader, saved, saved.get('consumed', 0),
                        f'loader epoch {saved.get("epoch", 0) + 1} of data loader {i + 1}')
                    iter_loaders.append(IterLoader(loader, saved.get('epoch', 0), consumed))
                else:
                    iter_loaders.append(IterLoader(loader))
            self._state.loaders = iter_loaders
            self.call_hook('before_epoch')
            self._state.apply_rng(self)
            self._state.apply_log(self)
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
        return tmpl.format(self.position()[1])

    def _finished(self):
        return self._iter >= self._max_iters

    def checkpoint_counters(self):
        return dict(iter=self._iter + 1, epoch=self._epoch + 1)

    def checkpoint_index(self):
        return self._iter + 1

    def save_checkpoint(self, out_dir, filename_tmpl='iter_{}.pth', meta=None, save_optimizer=True,
                        create_symlink=True):
        return super().save_checkpoint(out_dir, filename_tmpl, save_optimizer, meta, create_symlink)

    def set_counters(self, epoch, iter, meta):
        super().set_counters(epoch, iter, meta)
        self._inner_iter = meta.get('iter', 0)  # as mmcv's resume

    def register_training_hooks(self, lr_config, optimizer_config=None, checkpoint_config=None,
                                log_config=None, momentum_config=None, custom_hooks_config=None,
                                timer_config=dict(type='IterTimerHook')):
        """As the epoch-based version (in mmcv's argument order), with ``by_epoch=False`` defaults."""
        super().register_training_hooks(lr_config, optimizer_config, checkpoint_config, log_config,
                                        momentum_config, timer_config, custom_hooks_config)


@RUNNER_BUILDERS.register_module()
class DefaultRunnerConstructor:
    """What builds a runner from its config (mmcv 1.x): ``RUNNERS`` builds ``runner_cfg`` with
    ``default_args`` (model, optimizer, work_dir, logger, meta). A subclass registered in
    ``RUNNER_BUILDERS`` and named by ``runner=dict(constructor=...)`` builds it otherwise."""

    def __init__(self, runner_cfg, default_args=None):
        if not isinstance(runner_cfg, dict):
            raise ArgumentTypeError(f'runner_cfg should be a dict, but got {type(runner_cfg).__name__}')
        self.runner_cfg = runner_cfg
        self.default_args = default_args

    def __call__(self):
        return build_from_cfg(self.runner_cfg, RUNNERS, self.default_args)


def build_runner_constructor(cfg):
    """A runner constructor from ``dict(type=..., runner_cfg=..., default_args=...)``."""
    return build_from_cfg(cfg, RUNNER_BUILDERS)


def build_runner(cfg, default_args=None):
    """Build a runner from ``dict(type='EpochBasedRunner', max_epochs=N)`` and the model etc.

    ``constructor`` (default ``'DefaultRunnerConstructor'``) names the ``RUNNER_BUILDERS``
    entry that builds it.
    """
    cfg = dict(cfg)
    constructor = cfg.pop('constructor', 'DefaultRunnerConstructor')
    return build_runner_constructor(dict(type=constructor, runner_cfg=cfg,
                                         default_args=default_args))()
