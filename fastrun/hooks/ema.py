"""EMAHook: an exponential moving average of the weights, kept as buffers of the model."""
import math

import torch

from ..dist import is_module_wrapper
from ..errors import ArgumentError
from ..hook import Hook
from ..registry import HOOKS

#: Key in ``runner.meta['hook_msgs']`` telling whether the model holds the EMA weights right now,
#: so a run resumed from a checkpoint saved while they were swapped in swaps them back.
SWAPPED_KEY = 'ema_swapped'


@HOOKS.register_module()
class EMAHook(Hook):
    r"""Exponential moving average of the parameters (mmcv 1.x ``EMAHook``).

    At ``before_run`` each parameter ``a.b`` gets a buffer ``ema_a_b`` on the (unwrapped) model,
    a copy of its current value, so the averages are part of ``state_dict()`` and of every
    checkpoint. After a train iteration whose ``runner.iter`` is a multiple of ``interval``:

    .. math:: ema = (1 - m)\,ema + m\,x,\qquad m = \min(momentum^{interval},
              \frac{1 + iter}{warm\_up + iter})

    (mmcv's formula, ``momentum ** interval`` included). The update is one fused ``_foreach``
    kernel over lists built at ``before_run``: no host sync, no per-tensor Python loop.

    **Swapping.** Hooks that save or evaluate the model see the EMA weights: the parameters and
    their ``ema_`` buffers swap places, and swap back before training continues.

    - Epoch-based runs, as mmcv: swap in at ``after_train_epoch``, back at ``before_train_epoch``.
      Val epochs, a CheckpointHook and an EvalHook that run after this hook at
      ``after_train_epoch`` see the EMA weights (give EMAHook a higher priority than those,
      e.g. ``priority=49`` as mmdet does; a warning says when it does not).
    - Iter-based runs (mmcv never swaps there): swap in at ``after_train_iter`` after every
      ``swap_interval``-th iteration and after the last one, back at the next
      ``before_train_iter``; a val phase of the workflow in between sees the EMA weights too.
      ``swap_interval=None`` takes the ``interval`` of every iter-wise (``by_epoch=False``)
      checkpoint and evaluation hook registered on the runner (class name containing
      ``Checkpoint`` or ``Eval``), so they save and evaluate the EMA weights with no extra
      setting; with none of them, it swaps after the last iteration only.

    After the run the model holds the EMA weights in both kinds of run. Whether they are swapped
    in is written to ``runner.meta['hook_msgs']['ema_swapped']``, so a checkpoint records it and
    a resumed run swaps back correctly (a checkpoint without it is treated as mmcv's were).

    **An average that cannot move.** With mmcv's formula, ``momentum=0.0002, interval=100``
    weighs each update by 0.0002 ** 100, about 0: the average stays the starting weights and
    evaluations and checkpoints see an untrained model. ``before_run`` warns whenever more than
    half of the average would still be the starting weights at the end of the run (see
    :meth:`starting_share`); ``momentum = w ** (1 / interval)`` gives the weight ``w`` per update.

    Args:
        momentum (float): weight of the new value in each update, in (0, 1). Default 0.0002.
        interval (int): update every ``interval`` iterations. Default 1.
        warm_up (int): smaller momentum during the first iterations (see the formula). Default 100.
        resume_from (str, optional): checkpoint to ``runner.resume`` at ``before_run``, after the
            ``ema_`` buffers exist so that their values are loaded too.
        average_buffers (bool): also average the floating-point buffers (BatchNorm running
            statistics) into ``ema_`` buffers of their own, swapped with them. Default False.
        swap_interval (int, optional): iter-based runs only, see above.
    """

    def __init__(self, momentum=0.0002, interval=1, warm_up=100, resume_from=None,
                 average_buffers=False, swap_interval=None):
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ArgumentError(f'EMAHook: interval must be a positive int, got {interval!r}')
        if not 0 < momentum < 1:
            raise ArgumentError(f'EMAHook: momentum must be in (0, 1), got {momentum!r}')
        if swap_interval is not None and (not isinstance(swap_interval, int) or swap_interval < 1):
            raise ValueError(f'EMAHook: swap_interval must be a positive int or None, got {swap_interval!r}')
        self.given_momentum = momentum
        self.momentum = momentum ** interval
        self.interval = interval
        self.warm_up = warm_up
        self.checkpoint = resume_from
        self.average_buffers = average_buffers
        self.swap_interval = swap_interval

    # ------------------------------------------------------------------ set-up
    def before_run(self, runner):
        model = runner.model.module if is_module_wrapper(runner.model) else runner.model
        sources = list(model.named_parameters())
        if self.average_buffers:
            sources += [(n, b) for n, b in model.named_buffers()
                        if b.is_floating_point() and not n.startswith('ema_')]
        existing = dict(model.named_buffers())
        self.buffer_names = {}
        taken = set()
        for name, value in sources:
            buffer_name = 'ema_' + name.replace('.', '_')  # '.' is not allowed in a buffer name
            if buffer_name in taken:
                raise ValueError(f'EMAHook: two tensors map to the buffer name {buffer_name!r}')
            taken.add(buffer_name)
            if buffer_name not in existing:  # a second run keeps the averages of the first
                model.register_buffer(buffer_name, value.detach().clone())
            self.buffer_names[name] = buffer_name
        buffers = dict(model.named_buffers())
        self._sources = [t for _, t in sources]
        self._emas = [buffers[self.buffer_names[n]] for n, _ in sources]
        if self.checkpoint is not None:
            runner.resume(self.checkpoint)

        # Only an epoch-based run has a number of epochs (the iter-based runner has max_iters).
        self._by_epoch = runner.max_epochs is not None
        self._swap_intervals = self._find_swap_intervals(runner)
        self._check_order(runner)
        self._check_reach(runner)
        hook_msgs = (runner.meta or {}).get('hook_msgs', {})
        self._swapped = hook_msgs.get(SWAPPED_KEY)

    def _savers(self, runner):
        # The hooks that read the weights at the stage where EMAHook swaps them in.
        for hook in runner.hooks:
            name = type(hook).__name__
            if hook is not self and ('Checkpoint' in name or 'Eval' in name):
                yield hook

    def _find_swap_intervals(self, runner):
        if self._by_epoch:
            return ()
        if self.swap_interval is not None:
            return (self.swap_interval,)
        found = {h.interval for h in self._savers(runner)
                 if getattr(h, 'by_epoch', True) is False and isinstance(getattr(h, 'interval', None), int)
                 and h.interval > 0}
        return tuple(sorted(found))

    def _check_order(self, runner):
        stage = 'after_train_epoch' if self._by_epoch else 'after_train_iter'
        savers = list(self._savers(runner))
        for hook in runner.hooks:
            if hook is self:
                return
            if any(hook is s for s in savers):
                runner.logger.warning(
                    f'EMAHook runs after {type(hook).__name__} at {stage}, which therefore sees '
                    f'the raw weights, not the EMA ones: register EMAHook with a higher priority '
                    f'(a smaller value than {hook.priority}, e.g. priority=49 when it is NORMAL)')

    def starting_share(self, start, end):
        """The share the weights at iteration ``start`` keep in the average at ``end``.

        The product of ``1 - m`` over the updates in between (warm-up included): 1.0 when the
        average never moves, near 0 when it has forgotten where it started.
        """
        log_keep, m = 0.0, self.momentum
        first = -(-start // self.interval) * self.interval  # the first update at or after start
        # While (1 + i) / (warm_up + i) < m the warm-up value applies (at most ~ m * warm_up / (1 - m)
        # updates); from there on every update weighs m.
        i = first
        while i < end and (1 + i) / (self.warm_up + i) < m:
            log_keep += math.log1p(-(1 + i) / (self.warm_up + i))
            i += self.interval
        if i < end:
            n = -(-(end - i) // self.interval)
            log_keep += n * math.log1p(-m) if m < 1 else -math.inf
        return math.exp(log_keep)

    def _check_reach(self, runner):
        """Warn when the average can barely move over the run (more than half of it would stay
        the starting weights), naming the effective momentum: ``momentum ** interval`` (mmcv's
        formula) is tiny for a large interval, and those weights are what is evaluated and saved."""
        end = runner.max_iters
        if not isinstance(end, int) or end <= runner.iter:
            return
        share = self.starting_share(runner.iter, end)
        if share <= 0.5:
            return
        updates = -(-(end - runner.iter) // self.interval)
        effective = (f'{self.momentum:.3g}' if self.momentum > 0 else
                     '0 (below float precision)')
        example = 0.02 ** (1 / self.interval)
        every = 'every iteration' if self.interval == 1 else f'every {self.interval} iterations'
        runner.logger.warning(
            f'EMAHook: the average can barely move in this run: {updates} '
            f'update{"s" * (updates != 1)} ({every}), each giving the '
            f'new weights momentum ** interval = '
            f'{self.given_momentum:g} ** {self.interval} = {effective} (mmcv\'s formula), so '
            f'{share:.0%} of the average are still the starting weights at the end, and the average '
            f'is what evaluations and checkpoints see; for a weight w per update set '
            f'momentum = w ** (1 / interval) (e.g. {example:.4g} for w = 0.02)')

    # ------------------------------------------------------------------ per iteration
    def after_train_iter(self, runner):
        curr_step = runner.iter
        if curr_step % self.interval == 0:
            # Warm-up: a larger weight on the fresh weights while the average is young.
            momentum = min(self.momentum, (1 + curr_step) / (self.warm_up + curr_step))
            with torch.no_grad():
                torch._foreach_lerp_(self._emas, self._sources, momentum)
        if not self._by_epoch and (self.is_last_iter(runner) or any(
                (curr_step + 1) % n == 0 for n in self._swap_intervals)):
            self._set_swapped(runner, True)

    def before_train_iter(self, runner):
        if self._swapped and not self._by_epoch:
            self._set_swapped(runner, False)

    # ------------------------------------------------------------------ per epoch
    def after_train_epoch(self, runner):
        self._set_swapped(runner, True)

    def before_train_epoch(self, runner):
        # mmcv swaps unconditionally here (harmless in the first epoch: the two are equal);
        # None = no record of the state, as in an mmcv checkpoint.
        if self._swapped is not False:
            self._swap()
            self._record(runner, False)

    # ------------------------------------------------------------------ swapping
    def _set_swapped(self, runner, swapped):
        if bool(self._swapped) != swapped:
            self._swap()
        self._record(runner, swapped)

    def _record(self, runner, swapped):
        self._swapped = swapped
        if runner.meta is None:
            runner.meta = {}
        runner.meta.setdefault('hook_msgs', {})[SWAPPED_KEY] = swapped

    def _swap(self):
        """Exchange the values of the weights and their ``ema_`` buffers (three fused copies)."""
        with torch.no_grad():
            tmp = [t.detach().clone() for t in self._sources]
            torch._foreach_copy_(self._sources, self._emas)
            torch._foreach_copy_(self._emas, tmp)
