"""Momentum updater hooks: mmcv 1.x's momentum schedules (step, cosine, cyclic, one-cycle ...).

The runner builds them from ``momentum_config=dict(policy='cyclic', ...)`` as it builds the LR
hooks (``'cyclic'`` -> ``CyclicMomentumUpdaterHook``), at priority HIGH. A param group's momentum
is its ``momentum`` (SGD, RMSprop) or, for Adam-style optimizers, ``betas[0]`` (``betas[1]`` is
kept). ``before_run`` stores each group's ``initial_momentum`` once, like ``initial_lr``.

All values are Python floats: these hooks never sync with the device.
"""
from ..hook_order import DEFAULT_PRIORITIES
from ..registry import HOOKS
from .lr_updater import (_ScheduleHook, _anneal_func, _check_cyclic, _check_min, _check_not_by_epoch,
                         _check_pct_start, _check_step, _check_warmup, _cyclic_phases,
                         _cyclic_target_ratio, _cyclic_value, _is_number, _per_group,
                         _step_exponent, _warmup_factor, annealing_cos, annealing_linear,
                         format_param)


def _momentum_of(group):
    if 'momentum' in group:
        return group['momentum']
    if 'betas' in group:
        return group['betas'][0]
    raise ValueError(f"a param group has neither 'momentum' nor 'betas' (keys: {sorted(group)}); "
                     'momentum hooks need an optimizer with momentum (SGD, Adam, ...)')


def _set_group_momentum(group, momentum):
    if 'momentum' in group:
        group['momentum'] = momentum
    elif 'betas' in group:
        group['betas'] = (momentum, group['betas'][1])


class MomentumUpdaterHook(_ScheduleHook):
    """Base of the momentum schedules: sets every group's momentum from ``get_momentum``.

    Args:
        by_epoch: the schedule advances per epoch (set at ``before_train_epoch``) rather than per
            iteration (set at ``before_train_iter``).
        warmup: None, ``'constant'``, ``'linear'`` or ``'exp'``. During the first
            ``warmup_iters`` iterations the momentum is the scheduled one *divided* by the warmup
            factor (``warmup_ratio`` at the start, rising to 1), so it starts higher, as in mmcv.
        warmup_iters: length of the warmup in iterations. warmup_ratio: in (0, 1].

    ``base_momentum`` (each group's ``initial_momentum``) and ``regular_momentum`` (the
    scheduled values) are lists, or dicts of lists for a dict of optimizers.
    """

    #: The priority ``momentum_config`` registers momentum hooks at (:mod:`fastrun.hook_order`),
    #: until the hook is registered: ``runner.register_hook(hook)`` without a priority
    #: registers it at NORMAL (as mmcv) and sets this to the priority it got.
    priority = DEFAULT_PRIORITIES['momentum']

    def __init__(self, by_epoch=True, warmup=None, warmup_iters=0, warmup_ratio=0.9):
        _check_warmup(warmup, warmup_iters, warmup_ratio, _is_number)
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.base_momentum = []
        self.regular_momentum = []

    def get_momentum(self, runner, base_momentum):
        """The scheduled momentum now of a group whose initial momentum is ``base_momentum``."""
        raise NotImplementedError

    _set_group = staticmethod(_set_group_momentum)

    def get_regular_momentum(self, runner):
        """The scheduled momentum of every param group now (a list, or a dict of lists)."""
        return self._per_base(runner, self.get_momentum, self.base_momentum)

    def get_warmup_momentum(self, cur_iters):
        """``regular_momentum`` divided by the warmup factor at iteration ``cur_iters``."""
        factor = _warmup_factor(self.warmup, self.warmup_ratio, cur_iters, self.warmup_iters)
        if isinstance(self.regular_momentum, dict):
            return {k: [m / factor for m in ms] for k, ms in self.regular_momentum.items()}
        return [m / factor for m in self.regular_momentum]

    def before_run(self, runner):
        self.base_momentum = _per_group(
            runner.optimizer, lambda g: g.setdefault('initial_momentum', _momentum_of(g)),
            type(self).__name__)

    def _schedule(self, runner):
        self.regular_momentum = self.get_regular_momentum(runner)
        return self.regular_momentum

    def _regular(self):
        return self.regular_momentum

    def _warmup(self, cur_iter):
        return self.get_warmup_momentum(cur_iter)


@HOOKS.register_module()
class StepMomentumUpdaterHook(MomentumUpdaterHook):
    """``base * gamma ** k``, ``k`` the decays so far, clipped below at ``min_momentum``.

    ``step``: an int decays every ``step`` epochs (iterations), a list at each milestone.
    """

    def __init__(self, step, gamma=0.5, min_momentum=None, **kwargs):
        self.step = _check_step(step)
        self.gamma = gamma
        self.min_momentum = min_momentum
        super().__init__(**kwargs)

    def get_momentum(self, runner, base_momentum):
        progress = runner.epoch if self.by_epoch else runner.iter
        momentum = base_momentum * self.gamma ** _step_exponent(progress, self.step)
        return momentum if self.min_momentum is None else max(momentum, self.min_momentum)


class _AnnealMomentumUpdaterHook(MomentumUpdaterHook):
    """From the base momentum to ``min_momentum`` (or ``base * min_momentum_ratio``) along ``_anneal``."""

    def __init__(self, min_momentum=None, min_momentum_ratio=None, **kwargs):
        _check_min(min_momentum, min_momentum_ratio, 'min_momentum')
        self.min_momentum = min_momentum
        self.min_momentum_ratio = min_momentum_ratio
        super().__init__(**kwargs)

    def get_momentum(self, runner, base_momentum):
        progress, max_progress = self._progress(runner)
        target = (self.min_momentum if self.min_momentum_ratio is None
                  else base_momentum * self.min_momentum_ratio)
        return self._anneal(base_momentum, target, progress / max_progress)


@HOOKS.register_module()
class CosineAnnealingMomentumUpdaterHook(_AnnealMomentumUpdaterHook):
    """Cosine from the base momentum to ``min_momentum`` (or ``base * min_momentum_ratio``)."""

    _anneal = staticmethod(annealing_cos)


@HOOKS.register_module()
class LinearAnnealingMomentumUpdaterHook(_AnnealMomentumUpdaterHook):
    """Linear from the base momentum to ``min_momentum`` (or ``base * min_momentum_ratio``)."""

    _anneal = staticmethod(annealing_linear)


@HOOKS.register_module()
class CyclicMomentumUpdaterHook(MomentumUpdaterHook):
    """Cyclic momentum (https://arxiv.org/abs/1708.07120), by iteration; pairs with CyclicLrUpdaterHook.

    The cycles are the LR hook's: over the first ``step_ratio_up`` of each of the ``cyclic_times``
    cycles the momentum goes from the base to ``base * target_ratio[0]``, then to
    ``base * target_ratio[1]``; ``gamma`` scales the swing by ``gamma ** cycle``.
    """

    def __init__(self, by_epoch=False, target_ratio=(0.85 / 0.95, 1.), cyclic_times=1,
                 step_ratio_up=0.4, anneal_strategy='cos', gamma=1., **kwargs):
        self.target_ratio = _cyclic_target_ratio(target_ratio)
        _check_cyclic(cyclic_times, step_ratio_up)
        self.anneal_func = _anneal_func(anneal_strategy)
        _check_not_by_epoch(by_epoch)
        self.cyclic_times = cyclic_times
        self.step_ratio_up = step_ratio_up
        self.gamma = gamma
        self.max_iter_per_phase = None
        self.momentum_phases = []
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner):
        super().before_run(runner)
        self.max_iter_per_phase, self.momentum_phases = _cyclic_phases(
            runner, self.cyclic_times, self.step_ratio_up, self.target_ratio)

    def get_momentum(self, runner, base_momentum):
        return _cyclic_value(runner.iter, self.max_iter_per_phase, self.momentum_phases,
                             self.gamma, self.anneal_func, base_momentum)


@HOOKS.register_module()
class OneCycleMomentumUpdaterHook(MomentumUpdaterHook):
    """The 1cycle momentum, inverse to OneCycleLrUpdaterHook's LR, as torch's OneCycleLR cycles it.

    The momentum starts at ``max_momentum``, falls to ``base_momentum`` over ``pct_start`` of
    ``max_iters``, then rises back (``three_phase``: back to max at ``2 * pct_start`` and held
    there). Both are a number, a list (one per param group) or a dict (one per optimizer);
    ``before_run`` sets each group's momentum to its max and stores ``base_momentum`` and
    ``max_momentum`` in the group.
    """

    def __init__(self, base_momentum=0.85, max_momentum=0.95, pct_start=0.3, anneal_strategy='cos',
                 three_phase=False, **kwargs):
        _check_not_by_epoch(kwargs.setdefault('by_epoch', False))
        for name, value in (('base_momentum', base_momentum), ('max_momentum', max_momentum)):
            if not (_is_number(value) or isinstance(value, (list, tuple, dict))):
                raise ValueError(f'{name} must be the type among of float, list or dict, '
                                 f'got {type(value).__name__}')
        _check_pct_start(pct_start)
        self.anneal_func = _anneal_func(anneal_strategy)
        self._base_momentum = base_momentum
        self._max_momentum = max_momentum
        self.pct_start = pct_start
        self.three_phase = three_phase
        self.momentum_phases = []
        super().__init__(**kwargs)

    def before_run(self, runner):
        optimizer = runner.optimizer
        if optimizer is None:
            raise RuntimeError('OneCycleMomentumUpdaterHook needs runner.optimizer, but the runner has none')
        named = optimizer.items() if isinstance(optimizer, dict) else [(type(optimizer).__name__, optimizer)]
        for name, optim in named:
            if 'momentum' not in optim.defaults and 'betas' not in optim.defaults:
                raise ValueError(f'optimizer must support momentum with option enabled: '
                                 f'{type(optim).__name__} has neither momentum nor betas')
            self.use_beta1 = 'betas' in optim.defaults
            bases = format_param(name, optim, self._base_momentum)
            maxes = format_param(name, optim, self._max_momentum)
            for group, base, top in zip(optim.param_groups, bases, maxes):
                if self.use_beta1:
                    group['betas'] = (top, group['betas'][1])
                else:
                    group['momentum'] = top
                group['base_momentum'] = base
                group['max_momentum'] = top

        # (last iteration of the phase, group key of the start value, of the end value);
        # the phases follow max_iters, not the LR hook's total_steps (as in mmcv).
        total = runner.max_iters
        down_end = float(self.pct_start * total) - 1
        if self.three_phase:
            self.momentum_phases = [(down_end, 'max_momentum', 'base_momentum'),
                                    (float(2 * self.pct_start * total) - 2, 'base_momentum', 'max_momentum'),
                                    (total - 1, 'max_momentum', 'max_momentum')]
        else:
            self.momentum_phases = [(down_end, 'max_momentum', 'base_momentum'),
                                    (total - 1, 'base_momentum', 'max_momentum')]

    def get_momentum(self, runner, param_group):
        """The momentum now of ``param_group`` (this schedule reads its bounds from the group)."""
        cur, start = runner.iter, 0
        last = len(self.momentum_phases) - 1
        for i, (end, start_key, end_key) in enumerate(self.momentum_phases):
            if cur <= end or i == last:
                return self.anneal_func(param_group[start_key], param_group[end_key],
                                        (cur - start) / (end - start))
            start = end
        return 0.

    def get_regular_momentum(self, runner):
        get = self.get_momentum
        optimizer = runner.optimizer
        if isinstance(optimizer, dict):
            return {k: [get(runner, g) for g in optim.param_groups] for k, optim in optimizer.items()}
        return [get(runner, g) for g in optimizer.param_groups]
