"""Momentum updater hooks on real runs: every iteration's momentum, against closed forms and torch.

The probe (LOWEST priority) records ``runner.current_momentum()``: a group's ``momentum`` for
SGD, ``betas[0]`` for Adam, whose ``betas[1]`` must stay untouched.
"""
import math

import pytest
import torch
from torch.optim import lr_scheduler

import fastrun.hooks.lr_updater  # noqa: F401  (registers the hooks)
import fastrun.hooks.momentum_updater  # noqa: F401
from fastrun import HOOKS, EpochBasedRunner, Priority
from fastrun.hooks.lr_updater import CyclicLrUpdaterHook, OneCycleLrUpdaterHook
from fastrun.hooks.momentum_updater import (CosineAnnealingMomentumUpdaterHook,
                                            CyclicMomentumUpdaterHook,
                                            LinearAnnealingMomentumUpdaterHook,
                                            MomentumUpdaterHook, OneCycleMomentumUpdaterHook,
                                            StepMomentumUpdaterHook)
from tests.conftest import ToyModel, make_loader
from tests.test_lr_updater import (BASE_LR, BASE_MOMENTUM, EPOCHS, ITERS, LOGGER, check_rows,
                                   cos_anneal, make_optimizer, per_group, train, warmup_factor)

MOMENTUM = 3  # column of the probe's rows
BETA2 = {'sgd': [], 'adam': [0.999, 0.99], 'dict': [0.99]}


def assert_beta2_kept(rows, optim):
    for *_, betas in rows:
        assert [b2 for _, b2 in betas] == BETA2[optim]


def _lin(start, end, t):
    return start + (end - start) * t


# ---------------------------------------------------------------- schedules
POLICIES = {
    'step_list': (lambda P: dict(type='StepMomentumUpdaterHook', step=[P // 2, 3 * P // 4]),
                  lambda m, p, P: m * 0.5 ** sum(p >= s for s in (P // 2, 3 * P // 4))),
    'step_int_min': (lambda P: dict(type='StepMomentumUpdaterHook', step=P // 4, gamma=0.8, min_momentum=0.6),
                     lambda m, p, P: max(m * 0.8 ** (p // (P // 4)), 0.6)),
    'cosine_ratio': (lambda P: dict(type='CosineAnnealingMomentumUpdaterHook', min_momentum_ratio=0.5),
                     lambda m, p, P: cos_anneal(m, 0.5 * m, p / P)),
    'cosine_min': (lambda P: dict(type='CosineAnnealingMomentumUpdaterHook', min_momentum=0.7),
                   lambda m, p, P: cos_anneal(m, 0.7, p / P)),
    'linear_annealing': (lambda P: dict(type='LinearAnnealingMomentumUpdaterHook', min_momentum=0.5),
                         lambda m, p, P: m + (0.5 - m) * p / P),
}


@pytest.mark.parametrize('optim', ['sgd', 'adam'])
@pytest.mark.parametrize('by_epoch', [True, False])
@pytest.mark.parametrize('policy', list(POLICIES))
def test_policy_every_iteration(policy, by_epoch, optim):
    cfg, form = POLICIES[policy]
    P = EPOCHS if by_epoch else ITERS
    rows = train([HOOKS.build(dict(cfg(P), by_epoch=by_epoch))], epochs=EPOCHS, optim=optim)
    check_rows(rows, ITERS, lambda e, i: per_group(
        BASE_MOMENTUM[optim], lambda m: form(m, e if by_epoch else i, P)), column=MOMENTUM)
    assert_beta2_kept(rows, optim)
    check_rows(rows, ITERS, lambda e, i: BASE_LR[optim])   # the LR is not this hook's business


def test_iter_runner_by_iter():
    rows = train([LinearAnnealingMomentumUpdaterHook(by_epoch=False, min_momentum_ratio=0.)], iters=ITERS)
    check_rows(rows, ITERS, lambda e, i: [m * (1 - i / ITERS) for m in BASE_MOMENTUM['sgd']], column=MOMENTUM)


@pytest.mark.parametrize('warmup', ['constant', 'linear', 'exp'])
@pytest.mark.parametrize('by_epoch', [True, False])
def test_warmup_divides_by_the_factor(warmup, by_epoch):
    # The momentum warmup starts *above* the schedule (divided by warmup_ratio), as in mmcv
    # (a ratio of 0.9 would start Adam's beta1 of 0.9 at 1.0, where Adam divides by zero).
    W, ratio = 5, 0.95
    hook = StepMomentumUpdaterHook(step=[1, 3] if by_epoch else [4, 9], gamma=0.9, by_epoch=by_epoch,
                                   warmup=warmup, warmup_iters=W, warmup_ratio=ratio)
    rows = train([hook], epochs=EPOCHS, optim='adam')

    def want(e, i):
        f = warmup_factor(warmup, ratio, i, W) if i < W else 1.
        p, steps = (e, (1, 3)) if by_epoch else (i, (4, 9))
        return per_group(BASE_MOMENTUM['adam'], lambda m: m * 0.9 ** sum(p >= s for s in steps) / f)
    check_rows(rows, ITERS, want, column=MOMENTUM)
    assert rows[0][MOMENTUM][0] == pytest.approx(0.9 / ratio)
    assert_beta2_kept(rows, 'adam')


def test_dict_of_optimizers_sgd_and_adam():
    hook = CosineAnnealingMomentumUpdaterHook(by_epoch=False, min_momentum_ratio=0.5, warmup='linear',
                                              warmup_iters=3, warmup_ratio=0.8)
    rows = train([hook], epochs=EPOCHS, optim='dict')
    assert hook.base_momentum == BASE_MOMENTUM['dict']

    def want(e, i):
        f = warmup_factor('linear', 0.8, i, 3) if i < 3 else 1.
        return per_group(BASE_MOMENTUM['dict'], lambda m: cos_anneal(m, 0.5 * m, i / ITERS) / f)
    check_rows(rows, ITERS, want, column=MOMENTUM)
    assert_beta2_kept(rows, 'dict')


def test_initial_momentum_of_a_resumed_optimizer_is_the_base():
    def prepare(optim):
        for g in optim.param_groups:
            g['initial_momentum'], g['momentum'] = 0.95, 0.1
    rows = train([StepMomentumUpdaterHook(step=2, gamma=0.5, by_epoch=False)], iters=6, prepare=prepare)
    check_rows(rows, 6, lambda e, i: [0.95 * 0.5 ** (i // 2)] * 2, column=MOMENTUM)


# ---------------------------------------------------------------- cyclic
@pytest.mark.parametrize('anneal', ['cos', 'linear'])
@pytest.mark.parametrize('cyclic_times,gamma', [(1, 1.), (2, 1.), (3, 0.5)])
def test_cyclic(anneal, cyclic_times, gamma):
    r, up_frac = (0.85 / 0.95, 1.), 0.4
    hook = CyclicMomentumUpdaterHook(cyclic_times=cyclic_times, step_ratio_up=up_frac,
                                     anneal_strategy=anneal, gamma=gamma)
    rows = train([hook], iters=ITERS, optim='adam')
    T, fn = ITERS // cyclic_times, (cos_anneal if anneal == 'cos' else _lin)
    up = int(up_frac * T)

    def momentum(m, i):
        cycle, t = divmod(i, T)
        low = m + (m * r[0] - m) * gamma ** cycle     # the dip shrinks towards m each cycle
        return fn(m, low, t / up) if t < up else fn(low, m * r[1], (t - up) / (T - up))
    check_rows(rows, ITERS, lambda e, i: per_group(BASE_MOMENTUM['adam'], lambda m: momentum(m, i)),
               column=MOMENTUM)
    assert_beta2_kept(rows, 'adam')


def test_cyclic_lr_and_momentum_match_torch_cyclic_lr():
    # Linear cycles back to the start (target ratios (r, 1)) with gamma 1 are torch's
    # 'triangular' CyclicLR with cycle_momentum: the momentum dips while the LR peaks.
    iters, times, low = 20, 2, 0.85 / 0.95
    rows = train([CyclicLrUpdaterHook(target_ratio=(4., 1.), cyclic_times=times, anneal_strategy='linear'),
                  CyclicMomentumUpdaterHook(target_ratio=(low, 1.), cyclic_times=times,
                                            anneal_strategy='linear')], iters=iters)
    T = iters // times
    up = int(0.4 * T)
    shadow = make_optimizer(ToyModel(), 'sgd')
    sched = lr_scheduler.CyclicLR(shadow, base_lr=BASE_LR['sgd'], max_lr=[b * 4 for b in BASE_LR['sgd']],
                                  step_size_up=up, step_size_down=T - up, cycle_momentum=True,
                                  base_momentum=[m * low for m in BASE_MOMENTUM['sgd']],
                                  max_momentum=BASE_MOMENTUM['sgd'])
    for _, i, lrs, moms, _ in rows:
        assert lrs == pytest.approx([g['lr'] for g in shadow.param_groups], rel=1e-12), i
        assert moms == pytest.approx([g['momentum'] for g in shadow.param_groups], rel=1e-12), i
        shadow.step()
        sched.step()


# ---------------------------------------------------------------- one cycle
@pytest.mark.parametrize('optim', ['sgd', 'adam'])
@pytest.mark.parametrize('three_phase', [False, True])
@pytest.mark.parametrize('anneal', ['cos', 'linear'])
def test_one_cycle_lr_and_momentum_match_torch(optim, three_phase, anneal):
    kw = dict(pct_start=0.25, anneal_strategy=anneal, three_phase=three_phase)
    rows = train([OneCycleLrUpdaterHook(max_lr=[0.5, 0.05], **kw),
                  OneCycleMomentumUpdaterHook(base_momentum=[0.8, 0.85], max_momentum=0.95, **kw)],
                 epochs=EPOCHS, optim=optim)
    shadow = make_optimizer(ToyModel(), optim)
    sched = lr_scheduler.OneCycleLR(shadow, max_lr=[0.5, 0.05], total_steps=ITERS, cycle_momentum=True,
                                    base_momentum=[0.8, 0.85], max_momentum=0.95, **kw)
    pick = (lambda g: g['betas'][0]) if optim == 'adam' else (lambda g: g['momentum'])
    for _, i, lrs, moms, _ in rows:
        assert lrs == pytest.approx([g['lr'] for g in shadow.param_groups], rel=1e-12), i
        assert moms == pytest.approx([pick(g) for g in shadow.param_groups], rel=1e-12), i
        shadow.step()
        sched.step()
    assert_beta2_kept(rows, optim)


def test_one_cycle_momentum_closed_form_dict_and_group_bounds():
    n, pct = 10, 0.3
    hook = OneCycleMomentumUpdaterHook(base_momentum={'a': 0.8, 'b': [0.7]}, max_momentum=0.9,
                                       pct_start=pct, anneal_strategy='linear')
    runners = []
    rows = train([hook], iters=n, optim='dict', runner_out=runners)
    down_end, end = pct * n - 1, n - 1

    def mom(base, i):
        if i <= down_end:
            return _lin(0.9, base, i / down_end)
        return _lin(base, 0.9, (i - down_end) / (end - down_end))
    check_rows(rows, n, lambda e, i: {'a': [mom(0.8, i)], 'b': [mom(0.7, i)]}, column=MOMENTUM)
    groups = {k: o.param_groups[0] for k, o in runners[0].optimizer.items()}
    assert (groups['a']['base_momentum'], groups['a']['max_momentum']) == (0.8, 0.9)
    assert (groups['b']['base_momentum'], groups['b']['max_momentum']) == (0.7, 0.9)
    assert_beta2_kept(rows, 'dict')


def test_one_cycle_needs_momentum():
    runner = EpochBasedRunner(ToyModel(), optimizer=torch.optim.Adagrad(ToyModel().parameters()),
                              logger=LOGGER, max_epochs=1)
    runner.register_hook(OneCycleMomentumUpdaterHook(), 'HIGH')
    with pytest.raises(ValueError, match='optimizer must support momentum'):
        runner.run([make_loader(1)], [('train', 1)])


def test_base_hook_needs_momentum():
    runner = EpochBasedRunner(ToyModel(), optimizer=torch.optim.Adagrad(ToyModel().parameters()),
                              logger=LOGGER, max_epochs=1)
    runner.register_hook(StepMomentumUpdaterHook(step=1), 'HIGH')
    with pytest.raises(ValueError, match="neither 'momentum' nor 'betas'"):
        runner.run([make_loader(1)], [('train', 1)])


# ---------------------------------------------------------------- the runner's config path
def test_momentum_config_on_epoch_runner():
    runners = []
    rows = train(epochs=EPOCHS, lr_config=dict(policy='step', step=[2]),
                 momentum_config=dict(policy='step', step=[1, 3]), runner_out=runners)
    hooks = runners[0].hooks
    assert [type(h).__name__ for h in hooks[:3]] == ['StepLrUpdaterHook', 'StepMomentumUpdaterHook',
                                                      'OptimizerHook']
    assert (hooks[0].priority, hooks[1].priority) == (Priority.VERY_HIGH, Priority.HIGH)
    assert isinstance(hooks[1], MomentumUpdaterHook) and hooks[1].by_epoch
    check_rows(rows, ITERS, lambda e, i: [m * 0.5 ** sum(e >= s for s in (1, 3)) for m in BASE_MOMENTUM['sgd']],
               column=MOMENTUM)
    check_rows(rows, ITERS, lambda e, i: [b * 0.1 ** (e >= 2) for b in BASE_LR['sgd']])


def test_momentum_config_on_iter_runner():
    runners = []
    rows = train(iters=ITERS, lr_config=dict(policy='OneCycle', max_lr=0.5),
                 momentum_config=dict(policy='OneCycle'), runner_out=runners)
    hook = runners[0].hooks[1]
    assert type(hook) is OneCycleMomentumUpdaterHook and hook.by_epoch is False
    assert rows[0][MOMENTUM] == [0.95, 0.95]
    assert min(m for row in rows for m in row[MOMENTUM]) == pytest.approx(0.85, abs=1e-3)


# ---------------------------------------------------------------- argument errors
@pytest.mark.parametrize('cls,kwargs,exc,match', [
    (StepMomentumUpdaterHook, dict(step=2, warmup='cos', warmup_iters=2), ValueError, 'not a supported type'),
    (StepMomentumUpdaterHook, dict(step=2, warmup='linear', warmup_iters=0), ValueError,
     'warmup_iters must be positive'),
    (StepMomentumUpdaterHook, dict(step=2, warmup='linear', warmup_iters='3'), TypeError,
     'warmup_iters must be a number'),
    (StepMomentumUpdaterHook, dict(step=2, warmup='exp', warmup_iters=3, warmup_ratio=0.), ValueError, 'warmup_ratio'),
    (StepMomentumUpdaterHook, dict(step=None), TypeError, '"step" must be a list or integer'),
    (StepMomentumUpdaterHook, dict(step=[-1]), ValueError, 'every "step" must be positive'),
    (CosineAnnealingMomentumUpdaterHook, dict(), ValueError, 'exactly one of min_momentum and min_momentum_ratio'),
    (LinearAnnealingMomentumUpdaterHook, dict(min_momentum=0.1, min_momentum_ratio=0.1), ValueError, 'exactly one'),
    (CyclicMomentumUpdaterHook, dict(by_epoch=True), ValueError, 'only support "by_epoch" = False'),
    (CyclicMomentumUpdaterHook, dict(step_ratio_up=-0.1), ValueError, 'step_ratio_up'),
    (CyclicMomentumUpdaterHook, dict(anneal_strategy='exp'), ValueError, 'anneal_strategy'),
    (CyclicMomentumUpdaterHook, dict(target_ratio=[0.1, 0.2, 0.3]), ValueError, 'target_ratio'),
    (OneCycleMomentumUpdaterHook, dict(by_epoch=True), ValueError, 'only support "by_epoch" = False'),
    (OneCycleMomentumUpdaterHook, dict(base_momentum='low'), ValueError, 'base_momentum'),
    (OneCycleMomentumUpdaterHook, dict(max_momentum=None), ValueError, 'max_momentum'),
    (OneCycleMomentumUpdaterHook, dict(pct_start=0), ValueError, 'pct_start'),
    (OneCycleMomentumUpdaterHook, dict(anneal_strategy='cosine'), ValueError, 'anneal_strategy'),
])
def test_argument_errors(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_one_cycle_momentum_per_group_list_must_match_groups():
    with pytest.raises(ValueError, match='expected 2 values'):
        train([OneCycleMomentumUpdaterHook(base_momentum=[0.8, 0.8, 0.8])], iters=2)


def test_momentum_values_are_python_floats():
    rows = train([CosineAnnealingMomentumUpdaterHook(by_epoch=False, min_momentum=0.)], iters=4, optim='adam')
    assert all(type(m) is float and not math.isnan(m) for row in rows for m in row[MOMENTUM])
