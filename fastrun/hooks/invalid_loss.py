"""CheckInvalidLossHook: stop training when the loss becomes NaN or infinite, or skip those steps."""
import torch

from .. import storage
from ..dist import get_dist_info
from ..hook import Hook
from ..hook_order import right_after
from ..registry import HOOKS
from .optimizer import OptimizerHook


@HOOKS.register_module()
class CheckInvalidLossHook(Hook):
    """A NaN or infinite loss raises FloatingPointError (``action='raise'``) or is skipped.

    ``raise``: every ``interval`` train iterations the loss is read on the host, a device sync,
    hence only every ``interval`` iterations (mmdet's hook, default 50). The error names the
    iteration at which the bad loss was seen (a NaN may have appeared up to ``interval - 1``
    iterations earlier) and the checkpoint to resume from (the newest one saved: a model
    holding NaN or infinities is never saved).

    ``skip``: a train step is undone when its loss is not finite, or when after the optimizer
    step the weights or buffers (BatchNorm statistics, EMA averages) hold a NaN or an infinity
    (a finite loss can still make a non-finite update: a huge learning rate, an overflow). Its
    parameters, buffers, optimizer state, loss-scaler state (and, with gradient accumulation,
    the gradients accumulated so far) are then put back exactly as they were right before the
    step's forward pass, and the values it logged are dropped: the run goes on as if that batch
    had not been there (without accumulation, the gradients of the skipped step are dropped:
    ``grad`` is None). Each skipped step is logged as a warning; ``nonfinite_skipped`` (1 for
    a skipped step, else 0) goes to the log buffer, so the logged value is the fraction skipped
    in the interval; ``skipped`` holds the total (kept across a resume). After
    ``max_consecutive_skips`` steps skipped in a row (default 10) the run stops as ``raise``
    does (FloatingPointError naming the checkpoint to resume from): a run whose every step is
    skipped learns nothing, and would otherwise end as if it had trained.

    The price of ``skip``, per train iteration: a copy of the weights, buffers and optimizer
    state (one fused copy; memory: that much again), a max-abs reduction over the weights and
    buffers and one device sync to read its verdict (and, distributed, one all-reduce of it, so
    every rank skips alike). The check runs right after the optimizer hook, before any other
    ``after_train_iter`` hook sees the weights: at ``before_run`` the hook registers its check
    there (at the optimizer hook's priority), and wraps ``runner.step_context`` to take the copy
    right before each forward pass (after an AMP optimizer hook's context: the default NORMAL
    priority does that).
    """

    def __init__(self, interval=50, action='raise', max_consecutive_skips=10):
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f'CheckInvalidLossHook: interval must be a positive int, got {interval!r}')
        if action not in ('raise', 'skip'):
            raise ValueError(f"CheckInvalidLossHook: action must be 'raise' or 'skip', got {action!r}")
        if not isinstance(max_consecutive_skips, int) or isinstance(max_consecutive_skips, bool) \
                or max_consecutive_skips < 1:
            raise ValueError(f'CheckInvalidLossHook: max_consecutive_skips must be a positive '
                             f'int, got {max_consecutive_skips!r}')
        self.interval = interval
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.skipped = 0
        #: Steps skipped in a row up to now (skip mode).
        self.consecutive = 0
        if action == 'skip':
            # Bound on the instance: raise mode keeps no state and checks nothing per step.
            self.before_run = self._start_skipping
            self.after_run = self._stop_skipping
            self.state_dict = self._state_dict
            self.load_state_dict = self._load_state_dict

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
                f'{runner.inner_iter + 1}/{epoch_len} of the epoch; counts start at 1); '
                f'{_resume_hint(runner)}')

    # ------------------------------------------------------------------ skip mode
    def _state_dict(self):
        """``{'skipped': n, 'consecutive': k}``: the steps skipped so far, and in a row (skip mode)."""
        return {'skipped': self.skipped, 'consecutive': self.consecutive}

    def _load_state_dict(self, state):
        self.skipped = int(state.get('skipped', 0))
        self.consecutive = int(state.get('consecutive', 0))

    def _start_skipping(self, runner):
        self._stop_skipping(runner)  # a run that failed before after_run left its check behind
        inner = runner.step_context
        self._previous_context = inner
        self._snapshot = _Snapshot(runner)
        snapshot = self._snapshot

        def context():
            return _TakeSnapshot(snapshot, runner, inner)
        runner.step_context = context
        # Right after the optimizer hook(s): no other hook sees the weights of a bad step.
        optimizer_hooks = [h.priority for h in runner.hooks if isinstance(h, OptimizerHook)]
        self._check = _CheckStep(self)
        runner.register_hook(self._check, right_after(optimizer_hooks, self.priority))

    def _stop_skipping(self, runner):
        check = getattr(self, '_check', None)
        if check is not None:
            if check in runner.hooks:
                runner.hooks.remove(check)
            runner.step_context = self._previous_context
            self._check = self._snapshot = None

    def _check_step(self, runner):
        snapshot = self._snapshot
        if not snapshot.taken:
            return
        snapshot.taken = False
        loss = runner.outputs.get('loss') if isinstance(runner.outputs, dict) else None
        bad = snapshot.non_finite(loss)
        if get_dist_info()[1] > 1:
            import torch.distributed as dist

            from ..dist import collective_device
            flag = bad.to(collective_device(), torch.int32)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every rank skips alike
            bad = flag
        # note: a CPU-GPU sync point every iteration, the price of skip mode
        if bool(bad):
            what = snapshot.describe(loss)
            snapshot.restore(runner)
            self.skipped += 1
            self.consecutive += 1
            runner.logger.warning(
                '%s at train iteration %d (epoch %d, iteration %d of the epoch): step skipped, '
                'the model, optimizer and loss scaler are as before it (%d so far)', what,
                runner.iter + 1, runner.epoch + 1, runner.inner_iter + 1, self.skipped)
            if self.consecutive >= self.max_consecutive_skips:
                raise FloatingPointError(
                    f'{self.consecutive} train steps in a row skipped (max_consecutive_skips='
                    f'{self.max_consecutive_skips}), the last at train iteration {runner.iter + 1} '
                    f'(epoch {runner.epoch + 1}, iteration {runner.inner_iter + 1} of the epoch): '
                    f'{what}; the run stops, it no longer learns; {_resume_hint(runner)}')
        else:
            self.consecutive = 0
        runner.log_buffer.update({'nonfinite_skipped': float(bool(bad))})


def _resume_hint(runner):
    # The newest checkpoint saved (never one holding NaN or infinities: those are refused).
    last = ((runner.meta or {}).get('hook_msgs') or {}).get('last_ckpt')
    if isinstance(last, str) and last and (storage.is_remote(last) or storage.isfile(last)):
        return (f'resume from {storage.redact(last)} (--resume-from), with a lower learning rate '
                f'or gradient clipping')
    return ('no checkpoint was saved before it; start again with a lower learning rate or '
            'gradient clipping')


class _CheckStep(Hook):
    """Skip mode's check, registered right after the optimizer hook for one run."""

    def __init__(self, owner):
        self.owner = owner
        # The owner's bound method in the tables: an error there names CheckInvalidLossHook.
        self.after_train_iter = owner._check_step

    def after_train_iter(self, runner):
        self.owner._check_step(runner)


class _TakeSnapshot:
    """The step context of skip mode: the copy of the state, then the previous context."""

    __slots__ = ('inner',)

    def __init__(self, snapshot, runner, inner):
        if runner.mode == 'train':
            snapshot.take(runner)
        self.inner = inner() if inner is not None else None

    def __enter__(self):
        if self.inner is not None:
            self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc) if self.inner is not None else False


def _optimizers(optimizer):
    if isinstance(optimizer, torch.optim.Optimizer):
        return [optimizer]
    if isinstance(optimizer, dict):
        return [o for o in optimizer.values() if isinstance(o, torch.optim.Optimizer)]
    return []


class _Snapshot:
    """A copy of what a train step changes, to put back when the step is skipped.

    The tensor lists are found at the first copy of a run (hooks may add buffers at
    ``before_run``, such as EMA's) and the copies reused: one fused copy per step.
    """

    def __init__(self, runner):
        self.taken = False
        self.model = runner.model
        self.optimizers = _optimizers(runner.optimizer)
        # Gradients survive from one iteration to the next only when they accumulate.
        self.with_grads = any(getattr(h, 'cumulative_iters', 1) > 1 for h in runner.hooks)
        self.scaler_hooks = [h for h in runner.hooks
                             if callable(getattr(getattr(h, 'scaler', None), 'is_enabled', None))]
        self.tensors = None

    def _find(self):
        named = list(self.model.named_parameters()) + list(self.model.named_buffers())
        self.names = [n for n, _ in named]
        self.tensors = [t for _, t in named]
        self.copies = [t.detach().clone() for t in self.tensors]
        # Floating-point tensors holding values: what the finite check reduces over.
        self.checked = [(n, t) for n, t in named
                        if (t.is_floating_point() or t.is_complex()) and t.numel()]
        self.params = [t for _, t in self.model.named_parameters()]
        self._state_ids = None

    def take(self, runner):
        """Copy the weights, buffers, optimizer and scaler state (and accumulated gradients)."""
        if self.tensors is None:
            self._find()
        with torch.no_grad():
            torch._foreach_copy_(self.copies, self.tensors)
            self._take_optimizer_state()
            self.grads = ([None if p.grad is None else p.grad.detach().clone() for p in self.params]
                          if self.with_grads else None)
        self.scalers = [(h, h.scaler._scale, None if h.scaler._scale is None else h.scaler._scale.clone(),
                         None if h.scaler._growth_tracker is None else h.scaler._growth_tracker.clone(),
                         getattr(h, 'skipped_steps', None))
                        for h in self.scaler_hooks if h.scaler.is_enabled()]
        buffer = runner.log_buffer
        self.logged = {k: len(v) for k, v in buffer.val_history.items()}
        self.taken = True

    def _take_optimizer_state(self):
        entries = [(state, k, v) for o in self.optimizers for state in o.state.values()
                   for k, v in state.items()]
        ids = [id(v) for _, _, v in entries]
        if ids != self._state_ids:  # new state (the first steps) or replaced values: new copies
            self._state_ids = ids
            self.state_tensors = [v for _, _, v in entries if torch.is_tensor(v)]
            self.state_copies = [v.detach().clone() for v in self.state_tensors]
            self.state_layout = [(o, {p: set(st) for p, st in o.state.items()})
                                 for o in self.optimizers]
        elif self.state_tensors:
            torch._foreach_copy_(self.state_copies, self.state_tensors)
        self.state_refs = entries

    def non_finite(self, loss):
        """A bool tensor: the loss, a weight or a buffer (or an accumulated gradient) is not finite."""
        tensors = [t for _, t in self.checked]
        if self.grads is not None:
            tensors += [p.grad for p in self.params if p.grad is not None and p.grad.numel()]
        with torch.no_grad():
            if tensors:  # the largest magnitude of each: NaN or inf if any value is
                worst = torch._foreach_norm(tensors, ord=float('inf'))
                bad = ~torch.isfinite(torch.stack([n.float() for n in worst])).all()
            else:
                bad = torch.zeros((), dtype=torch.bool)
            if torch.is_tensor(loss):
                bad = bad | ~torch.isfinite(loss.detach()).all().to(bad.device)
        return bad

    def describe(self, loss):
        """What was not finite, in words (only called for a skipped step)."""
        if torch.is_tensor(loss) and not bool(torch.isfinite(loss).all()):
            return 'non-finite loss'
        bad = [n for n, t in self.checked if not bool(torch.isfinite(t).all())]
        if bad:
            more = f' and {len(bad) - 3} more' if len(bad) > 3 else ''
            return f'finite loss, but non-finite values in {", ".join(bad[:3])}{more} after the update'
        return 'finite loss, but non-finite accumulated gradients'


    def restore(self, runner):
        """Put back everything :meth:`take` copied; drop the values the step logged."""
        with torch.no_grad():
            torch._foreach_copy_(self.tensors, self.copies)
            self._restore_optimizer_state()
            if self.grads is None:  # the step's own gradients (the next step zeroes them anyway)
                for p in self.params:
                    p.grad = None
            else:
                for p, g in zip(self.params, self.grads):
                    if g is None:
                        p.grad = None
                    elif p.grad is None or p.grad.shape != g.shape:
                        p.grad = g.clone()
                    else:
                        p.grad.copy_(g)
            for hook, scale, scale_copy, tracker_copy, skipped_steps in self.scalers:
                scaler = hook.scaler
                # In place: AmpOptimizerHook's meta holds these very tensors.
                if scale_copy is None:
                    if scaler._scale is not None:
                        scaler._scale.fill_(scaler._init_scale)
                        scaler._growth_tracker.fill_(scaler._init_growth_tracker)
                else:
                    scale.copy_(scale_copy)
                    scaler._growth_tracker.copy_(tracker_copy)
                if hasattr(hook, 'skipped_steps'):
                    hook.skipped_steps = skipped_steps
        buffer = runner.log_buffer
        for key, hist in buffer.val_history.items():
            n = self.logged.get(key, 0)
            del hist[n:]
            del buffer.n_history[key][n:]
            buffer._synced[key] = min(buffer._synced.get(key, 0), n)

    def _restore_optimizer_state(self):
        copies = dict(zip(map(id, self.state_tensors), self.state_copies))
        for optimizer, layout in self.state_layout:
            for p in [p for p in optimizer.state if p not in layout]:
                del optimizer.state[p]  # state the skipped step created
        for state, key, value in self.state_refs:
            if torch.is_tensor(value):
                current = state.get(key)
                saved = copies[id(value)]
                if current is value or (torch.is_tensor(current) and current.shape == saved.shape):
                    current.copy_(saved)
                else:
                    state[key] = saved.clone()
            else:
                state[key] = value
        for optimizer, layout in self.state_layout:
            for p, keys in layout.items():
                state = optimizer.state[p]
                for k in [k for k in state if k not in keys]:
                    del state[k]
