"""The run's state: what a checkpoint holds, captured, written and restored here only.

A runner keeps one :class:`RunState`. :meth:`RunState.save` writes every checkpoint, whoever
saves it (``CheckpointHook``, the signal path, a direct ``runner.save_checkpoint``): weights,
optimizer, meta, and :meth:`RunState.capture` as ``runner_state``: counters and data positions,
the RNG states of every rank, the values the loggers are averaging, the hook states.
:meth:`RunState.restore` reads a checkpoint back into the runner and keeps what can only be
applied later in the run, each part taken once at its moment: weights for buffers hooks create
at ``before_run``, the loaders' positions when the loop first uses them, the RNG states right
before the first resumed iteration, the log averages once the loggers have cleared the buffer.

A checkpoint of a stage boundary (an epoch's or an iteration's end) is written when that
stage's hooks up to ``LOW`` priority have run (:meth:`RunState.save_at_stage_end`), so it holds
what they did there: the evaluation of that epoch, the best score, early stopping's counts. The
files of one boundary hold one capture: a ``best_*.pth`` saved with ``epoch_N.pth`` is a hard
link to the same bytes.

Everything captured is plain types and tensors, so checkpoints load with
``torch.load(weights_only=True)`` and no allow-list.

The run state reads and sets the runner only through :class:`RunnerProtocol`: public
attributes and five methods, no private member. Saving never goes round through the runner:
``Runner.save_checkpoint`` calls :meth:`RunState.save`, and the stage-end writer calls the same
:meth:`RunState.write` that ``save`` does.
"""
import os
import os.path as osp
import random
import re
import shutil
import sys
from collections import OrderedDict
from typing import Protocol

import numpy as np
import torch

from . import storage
from .checkpoint import (CheckpointError, CheckpointWriteError, link_checkpoint, load_state_dict,
                         mismatch_message, read_checkpoint, save_checkpoint, to_plain)
from .errors import ArgumentError
from .hook import stage_method
from .hook_order import writer_position
from .sampler import IterLoader, sampler_of

__all__ = ['RunState', 'RunnerProtocol', 'gather_rng_states', 'rng_state', 'set_rng_state', 'hook_states',
           'load_hook_states', 'log_buffer_state', 'load_log_buffer_state', 'loader_state',
           'load_loader_state']


class RunnerProtocol(Protocol):
    """What :class:`RunState` needs from the runner it serves (``fastrun.Runner`` has it all).

    Read: ``model``, ``optimizer``, ``logger``, ``log_buffer``, ``hooks`` (in call order),
    ``rank``, ``world_size``, the counters ``epoch`` / ``iter`` / ``inner_iter`` (completed
    epochs and iterations, the index within the epoch) and ``run_state`` (this object).
    Read and set: ``meta`` (a dict or None). And these methods:
    """

    def position(self):
        """``(epochs, iterations, batches of the current epoch)`` completed now: what a
        checkpoint saved during ``run`` continues from."""

    def checkpoint_counters(self):
        """mmcv's ``{'epoch': ..., 'iter': ...}`` meta of a checkpoint saved now."""

    def checkpoint_index(self):
        """The number a checkpoint saved now puts into ``filename_tmpl``."""

    def set_counters(self, epoch, iter, meta):
        """Set the counters a resume read (``meta``: the checkpoint's)."""

    def rebuild_tables(self):
        """Rebuild the dispatch tables (they then ask :meth:`RunState.stage_table` again)."""


class RunState:
    """What a runner carries from one method to another for checkpoints and resumes.

    The counters (``epoch``, ``iter``, ``inner_iter``) stay on the runner, where the dispatch
    core updates them; this object holds the rest (``runner.run_state``):

    - ``loaders``: the data loaders (IterLoaders, iter-based) whose positions a checkpoint records
    - ``epoch_pos``: batches of the current train epoch completed (epoch-based runs)
    - ``epoch_ended``: True while ``after_train_epoch`` runs: the epoch then counts as complete
    - ``preemption``: the run's :class:`~fastrun.signals.Preemption` while ``run`` runs, else
      None (a checkpoint saved then holds mmcv's meta counters, there is no loop position)
    - ``rank_rngs``: every rank's RNG state, gathered for the next checkpoint, or None
    - ``resumed_from``: the file this run resumed from, or None
    - ``stage_ends``: the stages (``after_train_epoch``, ``after_train_iter``) whose checkpoints
      wait for the end of the stage (see :meth:`save_at_stage_end`)

    What :meth:`restore` read and the run applies later, each taken once:

    - ``pending_weights``: weights the model did not have yet (buffers hooks create at ``before_run``)
    - ``pending_loaders``: the loaders' states, for the loaders when the loop first uses them
    - ``pending_rng``: the RNG states of every rank, set right before the first resumed iteration
    - ``pending_log``: the log averages, put back once the loggers have cleared the buffer
    """

    def __init__(self):
        self.loaders = []
        self.epoch_pos = 0
        self.epoch_ended = False
        self.preemption = None
        self.rank_rngs = None
        self.resumed_from = None
        self.stage_ends = set()
        self._pending_saves = []
        self._after_saves = []
        self._ended = None
        self.pending_weights = None
        self.pending_loaders = None
        self.pending_rng = None
        self.pending_log = None

    # ---------------------------------------------------------------- capture
    def capture(self, runner):
        """The ``runner_state`` of a checkpoint saved now: what continuing exactly from here needs.

        ``epoch`` / ``iter`` / ``inner_iter``: epochs, iterations and batches of the current
        epoch completed (during a train iteration, that iteration counts as done); ``rng``: the
        RNG states, one per rank (:func:`gather_rng_states`); ``loaders``: the sampler seed and
        epoch of the loaders (and, iter-based, their epoch and batches drawn); ``log_buffer``:
        the last values the loggers average; ``hooks``: ``state_dict()`` of each hook defining
        one. Outside ``run`` there is no loop position: the counters are mmcv's meta ones (what
        ``resume`` of an mmcv checkpoint would set).
        """
        if self.preemption is None:
            counters = runner.checkpoint_counters()
            epoch, it, inner = counters['epoch'], counters['iter'], 0
        else:
            epoch, it, inner = runner.position()
        rngs, self.rank_rngs = self.rank_rngs, None
        loaders = []
        for loader in self.loaders:
            if isinstance(loader, IterLoader):
                loaders.append(dict(loader_state(loader.dataloader), epoch=loader.epoch,
                                    consumed=loader.consumed))
            else:
                loaders.append(loader_state(loader))
        # Plain types only (a hook's NumPy number becomes a float, an object is an error here),
        # so the file loads with torch.load(weights_only=True).
        return to_plain(dict(epoch=epoch, iter=it, inner_iter=inner,
                             rng=rngs if rngs is not None else [rng_state()],
                             loaders=loaders,
                             log_buffer=log_buffer_state(runner.log_buffer, _log_window(runner.hooks)),
                             hooks=hook_states(runner.hooks)))

    def save(self, runner, out_dir, filename_tmpl, save_optimizer=True, meta=None,
             create_symlink=True):
        """Write the checkpoint of this point to ``out_dir/filename_tmpl``; its path.

        It holds the model, the optimizer (``save_optimizer``), ``runner.meta`` updated with
        ``meta`` and mmcv's counters, and :meth:`capture` as ``runner_state``. The file is
        written atomically (a temporary file, fsync, rename) with a checksum; then
        ``latest.pth`` is pointed at it (a symlink, or a copy where there are none), also by an
        atomic rename. ``out_dir`` may be a URL (:mod:`fastrun.storage`): the file is uploaded
        in the background, then ``latest.pth`` becomes a pointer object naming it. A model
        holding NaN/inf is not saved (FloatingPointError); a failed write raises
        :class:`~fastrun.checkpoint.CheckpointWriteError` and leaves the earlier files and
        ``latest.pth`` as they were.
        """
        return self.write(runner, out_dir, filename_tmpl.format(runner.checkpoint_index()),
                          save_optimizer, meta, create_symlink)

    def write(self, runner, out_dir, filename, save_optimizer=True, meta=None, create_symlink=True):
        """Write the checkpoint of this point to ``out_dir/filename`` now (see :meth:`save`); its path.

        What every checkpoint goes through: :meth:`save` and the stage-end writer.
        """
        if meta is None:
            meta = {}
        elif not isinstance(meta, dict):
            raise TypeError(f'meta should be a dict or None, but got {type(meta).__name__}')
        if runner.meta is not None:
            meta = dict(runner.meta, **meta)
        meta.update(runner.checkpoint_counters())
        filepath = storage.join(out_dir, filename)
        save_checkpoint(runner.model, filepath, optimizer=runner.optimizer if save_optimizer else None,
                        meta=meta, extra={'runner_state': self.capture(runner)})
        if create_symlink:
            _point_latest(out_dir, filename, filepath)
        return filepath

    # ---------------------------------------------------------------- saves at a stage's end
    def end_stage_saves(self, runner, stage):
        """Let checkpoints requested during ``stage`` wait for its end (call it at ``before_run``).

        ``stage`` is ``'after_train_epoch'`` or ``'after_train_iter'``. The runner then calls
        the writer of that stage's checkpoints after the hooks of priority up to ``LOW`` and
        before the ``VERY_LOW`` (loggers) and ``LOWEST`` ones (:meth:`stage_table`).
        """
        if stage not in _STAGE_END_METHODS:
            raise ArgumentError(f'checkpoints can wait for the end of '
                                f'{", ".join(_STAGE_END_METHODS)}, not {stage!r}')
        self._pending_saves = []  # what a failed run requested is not this run's to write
        self._after_saves = []
        if stage not in self.stage_ends:
            self.stage_ends.add(stage)
            runner.rebuild_tables()

    def stage_table(self, stage, hooks):
        """The callables the runner calls at ``stage``: those of ``hooks`` (in order), and the writer.

        The writer of the stage's checkpoints (when :meth:`end_stage_saves` asked for it) comes
        before the first hook of priority ``VERY_LOW`` or later: the loggers and the ``LOWEST``
        hooks see the files, every hook before has changed the state they hold.
        """
        pairs = [(h, fn) for h in hooks for fn in (stage_method(h, stage),) if fn is not None]
        fns = [fn for _, fn in pairs]
        if stage in self.stage_ends:
            at = writer_position([getattr(hook, 'priority', 0) for hook, _ in pairs])
            fns.insert(at, getattr(self, _STAGE_END_METHODS[stage]))
        return fns

    def save_at_stage_end(self, runner, stage, out_dir, filename, save_optimizer=True, meta=None,
                          create_symlink=True, written=None, pointed=None, failed=None):
        """Save ``out_dir/filename`` at the end of ``stage``, or now; its path.

        Every rank calls it; rank 0 writes, with the RNG states of every rank, and the others
        wait until the files are complete. It waits for the end of ``stage`` when
        :meth:`end_stage_saves` asked for that stage and its writer has not run yet at this
        position; otherwise (``stage=None``, a signal's checkpoint, a hook after the writer) it
        saves now. The checkpoints of one stage end hold one capture: the first of each content
        (``save_optimizer``, ``meta``) is serialised, the files after it are hard links to it;
        those without ``create_symlink`` (best checkpoints) come first, then ``latest.pth``
        moves to the last one with it. Callbacks (rank 0): ``written(path)`` once this file is
        complete, ``pointed()`` once ``latest.pth`` has moved, ``failed()`` when it could not be
        written (then the error propagates).
        """
        request = _SaveRequest(out_dir, filename, save_optimizer, meta, create_symlink, written,
                               pointed, failed)
        if stage in self.stage_ends and self._ended != _stage_key(stage, runner):
            self._pending_saves.append(request)
        else:
            self._write_saves(runner, [request])
        return storage.join(out_dir, filename)

    def _end_train_epoch(self, runner):
        self._end_stage('after_train_epoch', runner)

    def _end_train_iter(self, runner):
        self._end_stage('after_train_iter', runner)

    def _end_stage(self, stage, runner):
        # Runs every epoch (iteration): plain attribute reads only, until there is work.
        self._ended = _stage_key(stage, runner)
        pending, self._pending_saves = self._pending_saves, []
        if pending:
            after, self._after_saves = self._after_saves, []
            self._write_saves(runner, pending)
            for fn in after:
                fn()

    def when_saved(self, fn):
        """Call ``fn()`` once the checkpoints waiting for the end of this stage are written;
        at once when none waits.

        For a hook that acts on this stage's checkpoint files but runs before they are written
        (between ``NORMAL`` and ``LOW``: where mmcv's hooks saw ``epoch_N.pth`` already, such as
        PAVI's snapshot upload).
        """
        if self._pending_saves:
            self._after_saves.append(fn)
        else:
            fn()

    def _write_saves(self, runner, requests):
        gather_rng_states(runner)  # a collective when distributed: every rank is here
        if runner.rank == 0:
            rngs = self.rank_rngs
            # Best checkpoints first, the one latest.pth moves to last: a process killed in
            # between leaves latest.pth on the previous complete checkpoint.
            order = sorted(requests, key=lambda r: r.create_symlink)
            done, sources = [], []
            try:
                for r in order:
                    path = storage.join(r.out_dir, r.filename)
                    content = (r.save_optimizer, r.meta)
                    source = next((p for key, p in sources if key == content), None)
                    if source is None:
                        self.rank_rngs = rngs
                        self.write(runner, r.out_dir, r.filename, r.save_optimizer, r.meta,
                                   r.create_symlink)
                        sources.append((content, path))
                    else:
                        link_checkpoint(source, path)
                        if r.create_symlink:
                            _point_latest(r.out_dir, r.filename, path)
                    done.append(r)
                    if r.written is not None:
                        r.written(path)
            except BaseException:
                for r in order:
                    if r not in done and r.failed is not None:
                        r.failed()
                raise
            finally:
                self.rank_rngs = None
            for r in order:
                if r.pointed is not None:
                    r.pointed()
        if runner.world_size > 1:
            import torch.distributed as dist
            dist.barrier()  # no rank goes on (and may read a file) before they are complete

    # ---------------------------------------------------------------- restore
    def restore(self, runner, filename, resume_optimizer=True, map_location='default',
                weights_only=True):
        """Read the checkpoint ``filename`` back into ``runner``; the rest waits here. Returns it.

        The steps, in order: the weights the model has (:meth:`_restore_weights`), the counters
        and the position in the epoch (:meth:`_restore_counters`), ``meta`` (the checkpoint's,
        keeping this run's config, name and seed: :meth:`_restore_meta`), the optimizer state
        (``resume_optimizer``: :meth:`_restore_optimizer`), the RNG states
        (:meth:`_keep_rng`), the hook states (``load_state_dict`` of each hook registered
        now: :meth:`_restore_hooks`) and the parts applied later (:meth:`_keep_pending`): the
        weights the model lacks until ``before_run`` (such as EMA's buffers), the loaders'
        positions and the log averages, so the run continues exactly, mid-epoch too. An mmcv
        1.x checkpoint (no ``runner_state``) restores weights, optimizer and its ``epoch`` /
        ``iter`` meta. ``map_location='default'``: the current CUDA device, else the CPU;
        ``weights_only=False`` unpickles any object: only for files you trust.
        """
        checkpoint = self._read(runner, filename, map_location, weights_only)
        state = checkpoint.get('runner_state')
        state = state if isinstance(state, dict) else None  # None: mmcv 1.x, an older fastrun file
        meta = checkpoint.get('meta', {})
        self.resumed_from = filename if isinstance(filename, str) else None
        unexpected = self._restore_weights(runner, checkpoint['state_dict'], filename)
        self._restore_counters(runner, state, meta)
        self._restore_meta(runner, meta)
        self._restore_optimizer(runner, checkpoint.get('optimizer'), resume_optimizer, filename)
        self._keep_rng(state)
        self._restore_hooks(runner, state)
        self._keep_pending(state, unexpected)
        runner.logger.info('resumed epoch %d, iter %d%s (from %s)', runner.epoch, runner.iter,
                           f', {self.epoch_pos} batches into epoch {runner.epoch + 1}'
                           if self.epoch_pos else '', storage.redact(filename))
        return checkpoint

    @staticmethod
    def _read(runner, filename, map_location, weights_only):
        # The checkpoint dict, checked to be a training checkpoint.
        if map_location == 'default':
            if torch.cuda.is_available():
                device = torch.cuda.current_device()
                map_location = lambda storage, loc: storage.cuda(device)  # noqa: E731
            else:
                map_location = 'cpu'
        # A file named by the user may have been edited on purpose: a mismatch only warns.
        checkpoint = read_checkpoint(filename, map_location, weights_only=weights_only,
                                     verify='warn', logger=runner.logger)
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
            raise CheckpointError(f'{storage.redact(filename)}: not a training checkpoint (no state_dict); use '
                                  f'load_from for bare weights')
        return checkpoint

    @staticmethod
    def _restore_weights(runner, state_dict, filename):
        # The weights the model has now; returns those it lacks (for _keep_pending).
        revised = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
        revised._metadata = getattr(state_dict, '_metadata', OrderedDict())
        report = load_state_dict(runner.model, revised, logger=runner.logger, quiet=True)
        if report['missing'] or report['mismatched']:
            runner.logger.warning('resume from %s: %s', storage.redact(filename), _mismatch(report))
        return OrderedDict((k, revised[k]) for k in report['unexpected']) or None

    def _restore_counters(self, runner, state, meta):
        # Epochs and iterations completed, and batches into the current epoch.
        if state is not None:
            runner.set_counters(state['epoch'], state['iter'], meta)
            self.epoch_pos = state.get('inner_iter', 0)
        else:  # counters from the meta
            runner.set_counters(meta.get('epoch', 0), meta.get('iter', 0), meta)
            self.epoch_pos = 0

    @staticmethod
    def _restore_meta(runner, meta):
        # As mmcv: the run continues with the checkpoint's meta (hook_msgs, fp16 scaler state...),
        # but what describes this run (its config, name, seed) stays this run's.
        # A checkpoint's config_file is never taken: it names a file PaviLoggerHook runs as a
        # config, and nothing read from a checkpoint may choose code to run.
        current = runner.meta or {}
        runner.meta = {k: v for k, v in meta.items() if k != 'config_file'}
        runner.meta.update({k: current[k] for k in ('config', 'config_file', 'config_dict',
                                                    'exp_name', 'seed', 'world_size')
                            if k in current})
        runner.meta.setdefault('hook_msgs', {})

    @staticmethod
    def _restore_optimizer(runner, state, resume_optimizer, filename):
        if state is not None and resume_optimizer:
            _load_optimizer(runner.optimizer, state, filename)
        elif resume_optimizer and runner.optimizer is not None:
            runner.logger.warning(
                '%s holds no optimizer state (saved with save_optimizer=False): the optimizer '
                'starts fresh (momentum and other per-parameter state reset; the lr follows the '
                'schedule from the resumed iteration)', storage.redact(filename))

    def _keep_rng(self, state):
        # Every rank's RNG state, set right before the first resumed iteration (apply_rng).
        self.pending_rng = (state or {}).get('rng') or None

    @staticmethod
    def _restore_hooks(runner, state):
        if state is not None and state.get('hooks'):
            load_hook_states(runner.hooks, state['hooks'], runner.logger)

    def _keep_pending(self, state, weights):
        # What the run applies later, each once: the weights the model lacks until before_run
        # (apply_weights), the loaders' states (take_loaders), the log averages (apply_log).
        self.pending_weights = weights
        self.pending_loaders = (state or {}).get('loaders') or None
        self.pending_log = (state or {}).get('log_buffer') or None

    def apply_weights(self, runner):
        """Load the weights the model lacked at :meth:`restore` (call it after ``before_run``)."""
        pending, self.pending_weights = self.pending_weights, None
        if pending:
            report = load_state_dict(runner.model, pending, logger=runner.logger, quiet=True)
            if report['unexpected'] or report['mismatched']:
                runner.logger.warning('resume: %s', _mismatch(report))

    def fit_position(self, runner, loader, saved, batches, where):
        """The batches of ``loader`` to skip to go on after ``batches`` batches of the loader
        a checkpoint recorded (``saved``, its state): the same samples when the batch size
        changed (``data.samples_per_gpu``), or a :class:`CheckpointError` naming both sizes
        when this batch size does not divide them. ``where``: the position, in words.
        """
        old = (saved or {}).get('batch_size')
        new = getattr(loader, 'batch_size', None)
        if not batches or not old or not new or old == new:
            return batches
        samples = batches * old
        source = storage.redact(self.resumed_from) if self.resumed_from else 'the checkpoint'
        if samples % new:
            raise CheckpointError(
                f'{source}: saved {batches} batches of {old} samples into {where} ({samples} '
                f'samples); this run\'s batch size {new} does not divide them, so it cannot go '
                f'on where that run stopped; resume with the batch size {old} '
                f'(data.samples_per_gpu), or from a checkpoint of an epoch\'s end')
        runner.logger.info('resume: batch size %d, was %d: going on after %d samples of %s '
                           '(%d batches of %d, were %d of %d)', new, old, samples, where,
                           samples // new, new, batches, old)
        return samples // new

    def take_loaders(self):
        """The loaders' saved states (a list, one per loader) or None; handed out once."""
        pending, self.pending_loaders = self.pending_loaders, None
        return pending

    def apply_rng(self, runner):
        """Set this rank's RNGs as the checkpoint had them (right before the first resumed iteration)."""
        rngs, self.pending_rng = self.pending_rng, None
        if rngs:
            if len(rngs) != runner.world_size:
                runner.logger.warning('resume: the checkpoint holds the RNG states of %d processes, '
                                      'this run has %d; random draws will differ from the run it '
                                      'continues', len(rngs), runner.world_size)
            set_rng_state(rngs[runner.rank] if runner.rank < len(rngs) else rngs[0])

    def apply_log(self, runner, restore=True):
        """Put the saved log averages into ``runner.log_buffer`` (or drop them: ``restore=False``).

        Call it once the loggers have cleared the buffer (after ``before_train_epoch``).
        """
        pending, self.pending_log = self.pending_log, None
        if pending and restore:
            load_log_buffer_state(runner.log_buffer, pending)


def gather_rng_states(runner):
    """Collect every rank's RNG state for the next checkpoint (a collective when distributed).

    Call it on every rank before rank 0 saves: the checkpoint then stores one state per rank,
    and each rank of a resumed run restores its own.
    """
    if runner.world_size > 1:
        import torch.distributed as dist
        states = [None] * runner.world_size
        dist.all_gather_object(states, rng_state())
        runner.run_state.rank_rngs = states


#: The stages whose checkpoints can wait for the stage's end, and the method writing them.
_STAGE_END_METHODS = {'after_train_epoch': '_end_train_epoch',
                      'after_train_iter': '_end_train_iter'}


def _stage_key(stage, runner):
    # Which stage call this is: the counters do not move while a stage's hooks run.
    return stage, runner.epoch, runner.iter, runner.inner_iter


class _SaveRequest:
    """One checkpoint to write at a stage's end (see :meth:`RunState.save_at_stage_end`)."""

    __slots__ = ('out_dir', 'filename', 'save_optimizer', 'meta', 'create_symlink', 'written',
                 'pointed', 'failed')

    def __init__(self, out_dir, filename, save_optimizer, meta, create_symlink, written, pointed,
                 failed):
        self.out_dir, self.filename = out_dir, filename
        self.save_optimizer, self.meta, self.create_symlink = save_optimizer, meta, create_symlink
        self.written, self.pointed, self.failed = written, pointed, failed


def _point_latest(out_dir, filename, filepath):
    # latest.pth -> filename, replaced by a rename: it never points at a half-written file.
    if storage.is_remote(out_dir):  # a pointer object, written after the checkpoint's upload
        storage.set_pointer(storage.join(out_dir, storage.LATEST), filename)
        return
    out_dir = storage.local_path(out_dir)
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


def _log_window(hooks):
    # How many logged values the loggers' next averages need: the longest integer interval of
    # the logger hooks. Their class is looked up, not imported: this layer sits below the hooks,
    # and no logger hook can exist before its module is loaded.
    base = sys.modules.get('fastrun.hooks.logger.base')
    logger_hook = getattr(base, 'LoggerHook', None)
    if logger_hook is None:
        return 0
    return max((h.interval for h in hooks if isinstance(h, logger_hook)
                and isinstance(h.interval, int)), default=0)


def _mismatch(report):
    return mismatch_message(report).replace('The model and loaded state dict do not match exactly\n', '')


def _load_optimizer(optimizer, state, filename):
    try:
        if isinstance(optimizer, torch.optim.Optimizer):
            optimizer.load_state_dict(state)
        elif isinstance(optimizer, dict):
            for k in optimizer:
                optimizer[k].load_state_dict(state[k])
        else:
            raise TypeError('Optimizer should be dict or torch.optim.Optimizer '
                            f'but got {type(optimizer).__name__}')
    except (ValueError, KeyError) as e:
        raise CheckpointError(f'{storage.redact(filename)}: its optimizer state does not fit this run\'s '
                              f'optimizer ({type(e).__name__}: {e}); was it saved by another '
                              f'model or optimizer configuration?') from e


# ---------------------------------------------------------------- the parts, as plain types
def rng_state():
    """The states of Python's, NumPy's, torch's CPU and (when initialised) CUDA RNGs."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {
        'python': {'version': version, 'state': torch.tensor(internal, dtype=torch.int64),
                   'gauss': gauss},
        'numpy': {'name': str(name), 'keys': torch.from_numpy(keys.astype(np.int64)),
                  'pos': int(pos), 'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)},
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore :func:`rng_state` (the CUDA states when there are as many devices)."""
    py = state['python']
    random.setstate((py['version'], tuple(int(x) for x in py['state'].tolist()), py['gauss']))
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
                         npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)


def _keyed(hooks):
    # Class name, '#2', '#3'... for the next hooks of the same class, in call order.
    seen = {}
    for hook in hooks:
        name = type(hook).__name__
        seen[name] = seen.get(name, 0) + 1
        yield (name if seen[name] == 1 else f'{name}#{seen[name]}'), hook


def hook_states(hooks):
    """``{key: hook.state_dict()}`` for the hooks that define ``state_dict``."""
    return {key: hook.state_dict() for key, hook in _keyed(hooks)
            if callable(getattr(hook, 'state_dict', None))}


def load_hook_states(hooks, states, logger):
    """Call ``load_state_dict`` of each hook with its entry of ``states``; warn for the rest."""
    done = set()
    for key, hook in _keyed(hooks):
        if key in states and callable(getattr(hook, 'load_state_dict', None)):
            hook.load_state_dict(states[key])
            done.add(key)
    left = sorted(set(states) - done)
    if left:
        logger.warning('resume: no registered hook takes the saved state of %s', ', '.join(left))


def log_buffer_state(buffer, n):
    """The last ``n`` logged values of each key (what the next averages of a logger need).

    ``materialize`` turns pending tensors into floats: a host sync, once per checkpoint.
    """
    if n <= 0:
        return {}
    buffer.materialize()
    state = {}
    for key, hist in buffer.val_history.items():
        values = hist[-n:]
        if all(isinstance(v, (int, float)) for v in values):  # numbers only: what loggers average
            state[key] = {'values': [float(v) for v in values],
                          'counts': [float(c) for c in buffer.n_history[key][-n:]]}
    return state


def load_log_buffer_state(buffer, state):
    """Put the values of :func:`log_buffer_state` back into an empty ``buffer``."""
    for key, entry in state.items():
        for value, count in zip(entry['values'], entry['counts']):
            buffer.update({key: value}, count)


def loader_state(loader):
    """The sampler state (seed, epoch), RNG and batch size of a data loader: what fixes its
    order, and what a position in batches is in samples."""
    state = {}
    sampler = sampler_of(loader)
    if callable(getattr(sampler, 'state_dict', None)):
        state['sampler'] = sampler.state_dict()
    batch_size = getattr(loader, 'batch_size', None)
    if isinstance(batch_size, int) and batch_size > 0:  # a position in batches is one in samples
        state['batch_size'] = batch_size
    generator = getattr(loader, 'generator', None)
    if isinstance(generator, torch.Generator):
        state['generator'] = generator.get_state()
    return state


def load_loader_state(loader, state):
    """Restore :func:`loader_state` into ``loader`` (entries it cannot take are ignored)."""
    sampler = sampler_of(loader)
    if 'sampler' in state and callable(getattr(sampler, 'load_state_dict', None)):
        sampler.load_state_dict(state['sampler'])
    generator = getattr(loader, 'generator', None)
    if 'generator' in state and isinstance(generator, torch.Generator):
        generator.set_state(state['generator'])
