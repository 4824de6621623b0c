"""LR updater hooks: mmcv 1.x's learning-rate schedules (step, cosine, cyclic, one-cycle ...).

The runner builds them from ``lr_config=dict(policy='step', step=[8, 11])``: a lower-case policy
is title-cased (``'step'`` -> ``StepLrUpdaterHook``), others are kept (``'CosineAnnealing'`` ->
``CosineAnnealingLrUpdaterHook``); ``lr_config`` registers them at VERY_HIGH (see
:mod:`fastrun.hook_order`; ``runner.register_hook(hook)`` alone gives NORMAL, as mmcv). Every schedule gives each param
group ``get_lr(runner, base_lr)``, where ``base_lr`` is the group's ``initial_lr``, set once at
``before_run`` (a resumed optimizer keeps it, so the schedule continues from the original LRs).

All values are Python floats: no tensor is touched, so these hooks never sync with the device.
"""
import numbers
from math import cos, pi

from ..errors import ArgumentError, ArgumentTypeError
from ..hook import Hook
from ..hook_order import DEFAULT_PRIORITIES
from ..registry import HOOKS

_WARMUPS = ('constant', 'linear', 'exp')


# ---------------------------------------------------------------- helpers (mmcv's public ones first)
def annealing_cos(start, end, factor, weight=1.):
    """Cosine annealing from ``weight * start + (1 - weight) * end`` (factor 0) to ``end`` (factor 1)."""
    return end + 0.5 * weight * (start - end) * (cos(pi * factor) + 1)


def annealing_linear(start, end, factor):
    """Linear annealing from ``start`` (factor 0) to ``end`` (factor 1)."""
    return start + (end - start) * factor


def format_param(name, optim, param):
    """``param`` as one value per param group of ``optim``.

    ``param`` is a number (the same for every group), a list/tuple (one per group), or a dict
    keyed by optimizer ``name`` holding either of those (a dict of optimizers).
    """
    n = len(optim.param_groups)
    if isinstance(param, dict):
        if name not in param:
            raise KeyError(f'{name} is not found in {list(param)}')
        param = param[name]
    if _is_number(param):
        return [param] * n
    if isinstance(param, (list, tuple)):
        if len(param) != n:
            raise ValueError(f'expected {n} values for {name} (one per param group), got {len(param)}')
        return list(param)
    raise TypeError(f'{name}: expected a number, a list of {n} numbers or a dict of those, '
                    f'got {type(param).__name__}')


def get_position_from_periods(iteration, cumulative_periods):
    """Index of the first cumulative period end greater than ``iteration``.

    With ``cumulative_periods=[100, 200, 300]``: 50 -> 0, 210 -> 2, 300 -> ValueError.
    """
    for i, end in enumerate(cumulative_periods):
        if iteration < end:
            return i
    raise ValueError(f'Current iteration {iteration} exceeds cumulative_periods {cumulative_periods}')


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _check_warmup(warmup, warmup_iters, warmup_ratio, iters_type):
    if warmup is not None and warmup not in _WARMUPS:
        raise ValueError(f'"{warmup}" is not a supported type for warming up, valid types are '
                         '"constant", "linear" and "exp"')
    if not iters_type(warmup_iters):
        raise ArgumentTypeError(f'warmup_iters must be {"an int" if iters_type is _is_int else "a number"}, '
                                f'got {type(warmup_iters).__name__} {warmup_iters!r}')
    if warmup is not None:
        if warmup_iters <= 0:
            raise ArgumentError(f'warmup_iters must be positive when warmup={warmup!r}, got {warmup_iters!r}')
        if not (_is_number(warmup_ratio) and 0 < warmup_ratio <= 1):
            raise ArgumentError(f'warmup_ratio must be in range (0, 1], got {warmup_ratio!r}')


def _warmup_factor(warmup, ratio, cur_iters, warmup_iters):
    # Same operation order as mmcv, so LRs match it bit for bit.
    if warmup == 'constant':
        return ratio
    if warmup == 'linear':
        return 1 - (1 - cur_iters / warmup_iters) * (1 - ratio)
    return ratio ** (1 - cur_iters / warmup_iters)


def _check_min(value, ratio, name):
    if (value is None) == (ratio is None):
        raise ArgumentError(f'exactly one of {name} and {name}_ratio must be given, '
                            f'got {name}={value!r}, {name}_ratio={ratio!r}')
    for arg, v in ((name, value), (f'{name}_ratio', ratio)):
        if v is not None and not _is_number(v):
            raise TypeError(f'{arg} must be a number, got {type(v).__name__}')


def _check_step(step):
    steps = list(step) if isinstance(step, (list, tuple)) else None
    if steps is not None:
        if not all(_is_int(s) for s in steps):
            raise ArgumentTypeError(f'"step" must be an int or a list of ints, got {step!r}')
        if not all(s > 0 for s in steps):
            raise ArgumentError(f'every "step" must be positive, got {step!r}')
        return steps
    if not _is_int(step):
        raise ArgumentTypeError(f'"step" must be a list or integer, got {type(step).__name__}')
    if step <= 0:
        raise ArgumentError(f'"step" must be positive, got {step!r}')
    return step


def _step_exponent(progress, step):
    """How many decays happened by ``progress``: every ``step`` (an int) or milestones passed."""
    if isinstance(step, int):
        return progress // step
    for i, s in enumerate(step):
        if progress < s:
            return i
    return len(step)


def _anneal_func(anneal_strategy):
    if anneal_strategy == 'cos':
        return annealing_cos
    if anneal_strategy == 'linear':
        return annealing_linear
    raise ValueError(f'anneal_strategy must be one of "cos" or "linear", instead got {anneal_strategy!r}')


def _check_pct_start(pct_start, name='pct_start'):
    if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
        raise ValueError(f'expected float between 0 and 1 {name}, but got {pct_start!r}')


def _check_not_by_epoch(by_epoch):
    if by_epoch:
        raise ArgumentError('currently only support "by_epoch" = False')


def _cyclic_target_ratio(target_ratio):
    # A single ratio r means (r, r / 1e5), as in mmcv.
    if _is_number(target_ratio):
        target_ratio = (target_ratio, target_ratio / 1e5)
    elif isinstance(target_ratio, (tuple, list)):
        if len(target_ratio) == 1:
            target_ratio = (target_ratio[0], target_ratio[0] / 1e5)
        if len(target_ratio) != 2 or not all(_is_number(r) for r in target_ratio):
            raise ArgumentError(f'"target_ratio" must be a number or a tuple of two numbers, got {target_ratio!r}')
    else:
        raise ValueError(f'target_ratio should be either float or tuple, got {type(target_ratio).__name__}')
    return tuple(target_ratio)


def _check_cyclic(cyclic_times, step_ratio_up):
    if not _is_int(cyclic_times) or cyclic_times < 1:
        raise ValueError(f'cyclic_times must be a positive int, got {cyclic_times!r}')
    if not (_is_number(step_ratio_up) and 0 <= step_ratio_up < 1):
        raise ArgumentError(f'"step_ratio_up" must be in range [0,1), got {step_ratio_up!r}')


def _cyclic_phases(runner, cyclic_times, step_ratio_up, target_ratio):
    """(iterations per cycle, [(start, end, start_ratio, end_ratio)] for the up and down phases)."""
    per_cycle = runner.max_iters // cyclic_times
    if per_cycle < 1:
        raise ValueError(f'cyclic_times={cyclic_times} is more than max_iters={runner.max_iters}')
    up = int(step_ratio_up * per_cycle)
    return per_cycle, [(0, up, 1, target_ratio[0]), (up, per_cycle, target_ratio[0], target_ratio[1])]


def _cyclic_value(iteration, per_cycle, phases, gamma, anneal, base):
    cycle, it = divmod(iteration, per_cycle)
    scale = gamma ** cycle
    for start, end, start_ratio, end_ratio in phases:
        if start <= it < end:
            # gamma < 1 shrinks the peak towards base each cycle: the phase starting at 0 ends
            # lower, the other starts lower (mmcv picks the phase by its start, not its index).
            if start == 0:
                end_ratio = 1 - scale + end_ratio * scale
            else:
                start_ratio = 1 - scale + start_ratio * scale
            return anneal(base * start_ratio, base * end_ratio, (it - start) / (end - start))
    raise RuntimeError(f'iteration {iteration} is in no phase of {phases}')


def _per_group(optimizer, fn, owner):
    """``fn(group)`` for each param group: a list, or a dict of lists for a dict of optimizers."""
    if isinstance(optimizer, dict):
        return {k: [fn(g) for g in optim.param_groups] for k, optim in optimizer.items()}
    if optimizer is None:
        raise RuntimeError(f'{owner} needs runner.optimizer, but the runner has none')
    return [fn(g) for g in optimizer.param_groups]


def _scale(values, factor):
    if isinstance(values, dict):
        return {k: [v * factor for v in vs] for k, vs in values.items()}
    return [v * factor for v in values]


# ---------------------------------------------------------------- the base classes
class _ScheduleHook(Hook):
    """What the LR and momentum schedules share: mmcv's by-epoch / by-iteration / warmup stepping.

    A subclass says what its values are: ``_schedule(runner)`` computes the scheduled values of
    every param group and keeps them (``regular_lr`` / ``regular_momentum``), ``_regular()``
    returns the kept ones, ``_warmup(cur_iter)`` the warmed-up ones, and
    ``_set_group(group, value)`` writes one value into a param group.
    """

    def _apply(self, runner, values):
        """Write ``values`` (a list, or a dict of lists for a dict of optimizers) into the groups."""
        optimizer = runner.optimizer
        set_group = self._set_group
        if isinstance(optimizer, dict):
            for k, optim in optimizer.items():
                for group, value in zip(optim.param_groups, values[k]):
                    set_group(group, value)
        else:
            for group, value in zip(optimizer.param_groups, values):
                set_group(group, value)

    @staticmethod
    def _per_base(runner, get, base):
        """``get(runner, b)`` for each base value (a list, or a dict of lists)."""
        if isinstance(base, dict):
            return {k: [get(runner, b) for b in bs] for k, bs in base.items()}
        return [get(runner, b) for b in base]

    def before_train_epoch(self, runner):
        if self.warmup_iters is None:  # warmup_by_epoch: the first epoch gives its length
            self.warmup_iters = self.warmup_epochs * len(runner.data_loader)
        if self.by_epoch:
            self._apply(runner, self._schedule(runner))

    def before_train_iter(self, runner):
        cur_iter = runner.iter
        if self.warmup_iters is None:
            raise RuntimeError('warmup_by_epoch=True needs an epoch-based runner: the warmup length '
                               'is set at the first before_train_epoch, which never ran')
        if not self.by_epoch:
            regular = self._schedule(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._apply(runner, regular)
            else:
                self._apply(runner, self._warmup(cur_iter))
        elif self.warmup is not None and cur_iter <= self.warmup_iters:
            # By epoch, the epoch's value was set at before_train_epoch; the warmup adjusts it,
            # and the first iteration past the warmup restores it.
            if cur_iter == self.warmup_iters:
                self._apply(runner, self._regular())
            else:
                self._apply(runner, self._warmup(cur_iter))

    def _progress(self, runner):
        if self.by_epoch:
            return runner.epoch, runner.max_epochs
        return runner.iter, runner.max_iters


class LrUpdaterHook(_ScheduleHook):
    """Base of the LR schedules: sets every param group's ``lr`` from ``get_lr(runner, base_lr)``.

    Args:
        by_epoch: the schedule advances per epoch (set at ``before_train_epoch``) rather than per
            iteration (set at ``before_train_iter``).
        warmup: None, ``'constant'``, ``'linear'`` or ``'exp'``: how the LR rises to the
            scheduled one during the first ``warmup_iters`` iterations.
        warmup_iters: length of the warmup, in iterations (in epochs with ``warmup_by_epoch``).
        warmup_ratio: the warmup starts at ``warmup_ratio`` times the scheduled LR.
        warmup_by_epoch: ``warmup_iters`` counts epochs, converted to iterations with the length
            of the train loader at the first train epoch (needs an epoch-based runner).

    Attributes ``base_lr`` (each group's ``initial_lr``) and ``regular_lr`` (the scheduled LRs,
    without warmup) are lists, or dicts of lists when ``runner.optimizer`` is a dict.
    """

    #: The priority ``lr_config`` registers LR hooks at (:mod:`fastrun.hook_order`), until the
    #: hook is registered: ``runner.register_hook(hook)`` without a priority registers it at
    #: NORMAL (as mmcv) and sets this to the priority it got.
    priority = DEFAULT_PRIORITIES['lr']

    def __init__(self, by_epoch=True, warmup=None, warmup_iters=0, warmup_ratio=0.1,
                 warmup_by_epoch=False):
        _check_warmup(warmup, warmup_iters, warmup_ratio, _is_int)
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        # With warmup_by_epoch, warmup_iters stays None until the first epoch gives its length.
        self.warmup_epochs = warmup_iters if warmup_by_epoch else None
        self.warmup_iters = None if warmup_by_epoch else warmup_iters
        self.base_lr = []
        self.regular_lr = []

    def get_lr(self, runner, base_lr):
        """The scheduled LR now of a param group whose initial LR is ``base_lr``."""
        raise NotImplementedError

    @staticmethod
    def _set_group(group, lr):
        group['lr'] = lr

    def get_regular_lr(self, runner):
        """The scheduled LR of every param group now (a list, or a dict of lists)."""
        return self._per_base(runner, self.get_lr, self.base_lr)

    def get_warmup_lr(self, cur_iters):
        """``regular_lr`` scaled by the warmup factor at iteration ``cur_iters``."""
        return _scale(self.regular_lr,
                      _warmup_factor(self.warmup, self.warmup_ratio, cur_iters, self.warmup_iters))

    def before_run(self, runner):
        self.base_lr = _per_group(runner.optimizer, lambda g: g.setdefault('initial_lr', g['lr']),
                                  type(self).__name__)

    def _schedule(self, runner):
        self.regular_lr = self.get_regular_lr(runner)
        return self.regular_lr

    def _regular(self):
        return self.regular_lr

    def _warmup(self, cur_iter):
        return self.get_warmup_lr(cur_iter)


# ---------------------------------------------------------------- the schedules
@HOOKS.register_module()
class FixedLrUpdaterHook(LrUpdaterHook):
    """A constant LR (the initial one), after the optional warmup."""

    def get_lr(self, runner, base_lr):
        return base_lr


@HOOKS.register_module()
class StepLrUpdaterHook(LrUpdaterHook):
    """``base_lr * gamma ** k``, ``k`` the decays so far, clipped below at ``min_lr``.

    Args:
        step: an int decays every ``step`` epochs (iterations); a list decays at each milestone.
        gamma: the decay factor. min_lr: the floor (None: no floor).
    """

    def __init__(self, step, gamma=0.1, min_lr=None, **kwargs):
        self.step = _check_step(step)
        self.gamma = gamma
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        lr = base_lr * self.gamma ** _step_exponent(progress, self.step)
        return lr if self.min_lr is None else max(lr, self.min_lr)


@HOOKS.register_module()
class ExpLrUpdaterHook(LrUpdaterHook):
    """``base_lr * gamma ** progress``."""

    def __init__(self, gamma, **kwargs):
        self.gamma = gamma
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * self.gamma ** progress


@HOOKS.register_module()
class PolyLrUpdaterHook(LrUpdaterHook):
    """``(base_lr - min_lr) * (1 - progress / max_progress) ** power + min_lr``."""

    def __init__(self, power=1., min_lr=0., **kwargs):
        self.power = power
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress, max_progress = self._progress(runner)
        coeff = (1 - progress / max_progress) ** self.power
        return (base_lr - self.min_lr) * coeff + self.min_lr


@HOOKS.register_module()
class InvLrUpdaterHook(LrUpdaterHook):
    """``base_lr * (1 + gamma * progress) ** -power``."""

    def __init__(self, gamma, power=1., **kwargs):
        self.gamma = gamma
        self.power = power
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * (1 + self.gamma * progress) ** (-self.power)


class _MinLrMixin:
    def _target(self, base_lr):
        return self.min_lr if self.min_lr_ratio is None else base_lr * self.min_lr_ratio


class _AnnealLrUpdaterHook(_MinLrMixin, LrUpdaterHook):
    """From ``base_lr`` to the minimum (``min_lr``, or ``base_lr * min_lr_ratio``) along ``_anneal``."""

    def __init__(self, min_lr=None, min_lr_ratio=None, **kwargs):
        _check_min(min_lr, min_lr_ratio, 'min_lr')
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress, max_progress = self._progress(runner)
        return self._anneal(base_lr, self._target(base_lr), progress / max_progress)


@HOOKS.register_module()
class CosineAnnealingLrUpdaterHook(_AnnealLrUpdaterHook):
    """Cosine from ``base_lr`` to the minimum (``min_lr``, or ``base_lr * min_lr_ratio``)."""

    _anneal = staticmethod(annealing_cos)


@HOOKS.register_module()
class FlatCosineAnnealingLrUpdaterHook(_MinLrMixin, LrUpdaterHook):
    """``base_lr`` for the first ``start_percent`` of training, then cosine to the minimum.

    The annealing starts at ``round(max_progress * start_percent)``; ``start_percent`` is a
    float in [0, 1]; ``min_lr`` / ``min_lr_ratio`` as for cosine annealing.
    """

    def __init__(self, start_percent=0.75, min_lr=None, min_lr_ratio=None, **kwargs):
        _check_min(min_lr, min_lr_ratio, 'min_lr')
        _check_pct_start(start_percent, 'start_percent')
        self.start_percent = start_percent
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress, max_progress = self._progress(runner)
        start = round(max_progress * self.start_percent)
        if progress < start:
            return base_lr
        return annealing_cos(base_lr, self._target(base_lr), (progress - start) / (max_progress - start))


@HOOKS.register_module()
class CosineRestartLrUpdaterHook(_MinLrMixin, LrUpdaterHook):
    """Cosine annealing restarted after each of ``periods``, starting at ``restart_weights[i]``.

    Within period ``i`` the LR goes from ``w * base_lr + (1 - w) * min`` to the minimum
    (``w = restart_weights[i]``); training past the last period is an error.
    """

    def __init__(self, periods, restart_weights=[1], min_lr=None, min_lr_ratio=None, **kwargs):
        _check_min(min_lr, min_lr_ratio, 'min_lr')
        if not (isinstance(periods, (list, tuple)) and periods
                and all(_is_number(p) and p > 0 for p in periods)):
            raise ValueError(f'periods must be a non-empty list of positive numbers, got {periods!r}')
        if not isinstance(restart_weights, (list, tuple)) or len(restart_weights) != len(periods):
            raise ArgumentError('periods and restart_weights should have the same length, '
                                f'got {len(periods)} periods and restart_weights={restart_weights!r}')
        self.periods = list(periods)
        self.restart_weights = list(restart_weights)
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)
        self.cumulative_periods = [sum(self.periods[:i + 1]) for i in range(len(self.periods))]

    def get_lr(self, runner, base_lr):
        progress = runner.epoch if self.by_epoch else runner.iter
        idx = get_position_from_periods(progress, self.cumulative_periods)
        restart = self.cumulative_periods[idx - 1] if idx else 0
        alpha = min((progress - restart) / self.periods[idx], 1)
        return annealing_cos(base_lr, self._target(base_lr), alpha, self.restart_weights[idx])


@HOOKS.register_module()
class CyclicLrUpdaterHook(LrUpdaterHook):
    """Cyclic LR (https://arxiv.org/abs/1506.01186), by iteration, cosine or linear.

    Training is split into ``cyclic_times`` cycles of ``max_iters // cyclic_times`` iterations;
    in each, the LR goes from ``base_lr`` to ``base_lr * target_ratio[0]`` over the first
    ``step_ratio_up`` of it, then to ``base_lr * target_ratio[1]``. A single ratio ``r`` means
    ``(r, r / 1e5)``. ``gamma`` in (0, 1] shrinks the peak by ``gamma ** cycle``.
    """

    def __init__(self, by_epoch=False, target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4,
                 anneal_strategy='cos', gamma=1, **kwargs):
        self.target_ratio = _cyclic_target_ratio(target_ratio)
        _check_cyclic(cyclic_times, step_ratio_up)
        if not (_is_number(gamma) and 0 < gamma <= 1):
            raise ArgumentError(f'"gamma" must be in range (0, 1], got {gamma!r}')
        self.anneal_func = _anneal_func(anneal_strategy)
        _check_not_by_epoch(by_epoch)
        self.cyclic_times = cyclic_times
        self.step_ratio_up = step_ratio_up
        self.gamma = gamma
        self.max_iter_per_phase = None
        self.lr_phases = []
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner):
        super().before_run(runner)
        self.max_iter_per_phase, self.lr_phases = _cyclic_phases(
            runner, self.cyclic_times, self.step_ratio_up, self.target_ratio)

    def get_lr(self, runner, base_lr):
        return _cyclic_value(runner.iter, self.max_iter_per_phase, self.lr_phases, self.gamma,
                             self.anneal_func, base_lr)


@HOOKS.register_module()
class OneCycleLrUpdaterHook(LrUpdaterHook):
    """The 1cycle policy (https://arxiv.org/abs/1708.07120), by iteration, as torch's OneCycleLR.

    The LR starts at ``max_lr / div_factor`` (the base LR, whatever the optimizer's was), rises to
    ``max_lr`` over ``pct_start`` of ``total_steps`` (default: ``max_iters``), then falls to
    ``base / final_div_factor``; ``three_phase`` first falls back to the base, symmetrically.
    ``max_lr`` is a number, a list (one per param group) or a dict (one per optimizer). Unlike
    torch's scheduler, it leaves the momentum alone (see OneCycleMomentumUpdaterHook).
    """

    def __init__(self, max_lr, total_steps=None, pct_start=0.3, anneal_strategy='cos',
                 div_factor=25, final_div_factor=1e4, three_phase=False, **kwargs):
        _check_not_by_epoch(kwargs.setdefault('by_epoch', False))
        if not (_is_number(max_lr) or isinstance(max_lr, (list, tuple, dict))):
            raise ValueError(f'the type of max_lr must be a number, a list or a dict, but got '
                             f'{type(max_lr).__name__}')
        if total_steps is not None and not _is_int(total_steps):
            raise ValueError(f'the type of total_steps must be int, but got {type(total_steps).__name__}')
        _check_pct_start(pct_start)
        self.anneal_func = _anneal_func(anneal_strategy)
        self._max_lr = max_lr
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        self.lr_phases = []
        super().__init__(**kwargs)

    def before_run(self, runner):
        total = runner.max_iters if self.total_steps is None else self.total_steps
        if total < runner.max_iters:
            raise ValueError(f'The total steps must be greater than or equal to max iterations '
                             f'{runner.max_iters} of runner, but total steps is {total}.')

        def bases(name, optim):
            base = [lr / self.div_factor for lr in format_param(name, optim, self._max_lr)]
            for group, lr in zip(optim.param_groups, base):
                group.setdefault('initial_lr', lr)
            return base

        optimizer = runner.optimizer
        if isinstance(optimizer, dict):
            self.base_lr = {k: bases(k, optim) for k, optim in optimizer.items()}
        else:
            if optimizer is None:
                raise RuntimeError('OneCycleLrUpdaterHook needs runner.optimizer, but the runner has none')
            self.base_lr = bases(type(optimizer).__name__, optimizer)

        # (last iteration of the phase, start and end as multiples of the base LR)
        up_end = float(self.pct_start * total) - 1
        if self.three_phase:
            self.lr_phases = [(up_end, 1, self.div_factor),
                              (float(2 * self.pct_start * total) - 2, self.div_factor, 1),
                              (total - 1, 1, 1 / self.final_div_factor)]
        else:
            self.lr_phases = [(up_end, 1, self.div_factor),
                              (total - 1, self.div_factor, 1 / self.final_div_factor)]

    def get_lr(self, runner, base_lr):
        cur, start = runner.iter, 0
        for end, start_ratio, end_ratio in self.lr_phases:
            if cur <= end:
                return self.anneal_func(base_lr * start_ratio, base_lr * end_ratio,
                                        (cur - start) / (end - start))
            start = end
        raise RuntimeError(f'iteration {cur} is past the one-cycle schedule ({self.lr_phases})')


@HOOKS.register_module()
class LinearAnnealingLrUpdaterHook(_AnnealLrUpdaterHook):
    """Linear from ``base_lr`` to the minimum (``min_lr``, or ``base_lr * min_lr_ratio``)."""

    _anneal = staticmethod(annealing_linear)
