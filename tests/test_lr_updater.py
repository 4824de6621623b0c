"""LR updater hooks on real runs: the LR every train iteration sees, against closed forms.

Each run records ``runner.current_lr()`` at ``before_train_iter`` from a LOWEST-priority probe (so
after the VERY_HIGH LR hook) and compares every iteration with a formula written here from the
schedule's definition, or with torch's own OneCycleLR / CyclicLR where mmcv 1.7 agrees with them.
"""
import logging
import math

import pytest
import torch
from torch.optim import lr_scheduler

import fastrun.hooks.lr_updater  # noqa: F401  (registers the LR hooks)
from fastrun import HOOKS, EpochBasedRunner, Hook, IterBasedRunner, Priority
from fastrun.hooks.lr_updater import (CosineAnnealingLrUpdaterHook, CosineRestartLrUpdaterHook,
                                      CyclicLrUpdaterHook, ExpLrUpdaterHook,
                                      FixedLrUpdaterHook, FlatCosineAnnealingLrUpdaterHook,
                                      LinearAnnealingLrUpdaterHook, LrUpdaterHook,
                                      OneCycleLrUpdaterHook, PolyLrUpdaterHook, StepLrUpdaterHook,
                                      annealing_cos, annealing_linear, format_param,
                                      get_position_from_periods)
from fastrun.hooks.optimizer import OptimizerHook
from tests.conftest import ToyModel, make_loader

BATCHES = 3      # iterations per epoch
EPOCHS = 4
ITERS = BATCHES * EPOCHS
LOGGER = logging.getLogger('fastrun.tests.schedules')
LOGGER.setLevel(logging.WARNING)

#: Initial LR / momentum of each param group, per optimizer kind (see make_optimizer).
BASE_LR = {'sgd': [0.1, 0.01], 'adam': [0.01, 0.002], 'dict': {'a': [0.1], 'b': [0.002]}}
BASE_MOMENTUM = {'sgd': [0.9, 0.8], 'adam': [0.9, 0.85], 'dict': {'a': [0.9], 'b': [0.85]}}


# ---------------------------------------------------------------- harness (shared with the momentum tests)
class DictOptimModel(ToyModel):
    """Steps its own dict of optimizers in train_step, as GAN models do under mmcv."""

    def train_step(self, data_batch, optimizer=None, **kwargs):
        out = super().train_step(data_batch)
        for optim in optimizer.values():
            optim.zero_grad()
        out['loss'].backward()
        for optim in optimizer.values():
            optim.step()
        return out


def make_optimizer(model, kind):
    """Two param groups (weight, bias) with different LRs and momenta, or two optimizers."""
    w, b = model.linear.weight, model.linear.bias
    if kind == 'sgd':
        return torch.optim.SGD([{'params': [w]}, {'params': [b], 'lr': 0.01, 'momentum': 0.8}],
                               lr=0.1, momentum=0.9)
    if kind == 'adam':
        return torch.optim.Adam([{'params': [w]}, {'params': [b], 'lr': 0.002, 'betas': (0.85, 0.99)}],
                                lr=0.01)
    return {'a': torch.optim.SGD([w], lr=0.1, momentum=0.9),
            'b': torch.optim.Adam([b], lr=0.002, betas=(0.85, 0.99))}


def betas_of(optimizer):
    groups = [g for o in optimizer.values() for g in o.param_groups] if isinstance(optimizer, dict) \
        else optimizer.param_groups
    return [tuple(g['betas']) for g in groups if 'betas' in g]


class Probe(Hook):
    """Records (epoch, iter, lrs, momenta, betas) of every train iteration, after the updaters."""

    def __init__(self):
        self.rows = []

    def before_train_iter(self, runner):
        self.rows.append((runner.epoch, runner.iter, runner.current_lr(), runner.current_momentum(),
                          betas_of(runner.optimizer)))


def train(hooks=(), *, epochs=None, iters=None, optim='sgd', lr_config=None, momentum_config=None,
          batches=BATCHES, prepare=None, runner_out=None):
    """Run training with ``hooks`` (or config dicts) and return the probe's rows."""
    torch.manual_seed(0)
    model = DictOptimModel() if optim == 'dict' else ToyModel()
    optimizer = make_optimizer(model, optim)
    if prepare is not None:
        prepare(optimizer)
    if epochs is not None:
        runner = EpochBasedRunner(model, optimizer=optimizer, logger=LOGGER, max_epochs=epochs)
    else:
        runner = IterBasedRunner(model, optimizer=optimizer, logger=LOGGER, max_iters=iters)
    opt_cfg = None if optim == 'dict' else {}
    if lr_config is not None or momentum_config is not None:
        runner.register_training_hooks(lr_config=lr_config, momentum_config=momentum_config,
                                       optimizer_config=opt_cfg)
    else:
        for hook in hooks:
            runner.register_hook(hook, 'VERY_HIGH' if isinstance(hook, LrUpdaterHook) else 'HIGH')
        if opt_cfg is not None:
            runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    probe = Probe()
    runner.register_hook(probe, 'LOWEST')
    runner.run([make_loader(batches)], [('train', 1)])
    if runner_out is not None:
        runner_out.append(runner)
    return probe.rows


def per_group(bases, fn):
    """``fn(base)`` for each group of a list, or of each list in a dict of lists."""
    if isinstance(bases, dict):
        return {k: [fn(b) for b in v] for k, v in bases.items()}
    return [fn(b) for b in bases]


def assert_close(got, want, what=''):
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), what
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-12, abs=1e-15), f'{what} [{k}]'
    else:
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), what


def check_rows(rows, n, want, column=2):
    """Every one of ``n`` iterations recorded, each equal to ``want(epoch, iter)``."""
    assert [it for _, it, *_ in rows] == list(range(n))
    for row in rows:
        epoch, it = row[0], row[1]
        assert_close(row[column], want(epoch, it), f'epoch {epoch} iter {it}')


def cos_anneal(start, end, t):
    """Cosine from ``start`` (t=0) to ``end`` (t=1)."""
    return end + (start - end) * (1 + math.cos(math.pi * t)) / 2


def warmup_factor(kind, ratio, i, w):
    """The warmup multiplier at iteration ``i`` of ``w``, from the definitions in the docs."""
    if kind == 'constant':
        return ratio
    if kind == 'linear':
        return ratio + (1 - ratio) * i / w      # ratio at i=0, rising linearly to 1 at i=w
    return ratio ** (1 - i / w)                 # geometric from ratio to 1


# ---------------------------------------------------------------- every policy, by epoch and by iter
def _restart(b, p, P):
    periods, weights, m = [P // 4, 3 * P // 4], [1, 0.5], 1e-4
    first = p < periods[0]
    t = (p if first else p - periods[0]) / periods[0 if first else 1]
    w = weights[0 if first else 1]
    return m + w * (b - m) * (1 + math.cos(math.pi * t)) / 2


def _flat(b, p, P):
    start = round(P * 0.5)
    return b if p < start else cos_anneal(b, 0.01 * b, (p - start) / (P - start))


#: name -> (hook arguments given the schedule length P, closed form lr(base, progress, P))
POLICIES = {
    'fixed': (lambda P: dict(type='FixedLrUpdaterHook'), lambda b, p, P: b),
    'step_list': (lambda P: dict(type='StepLrUpdaterHook', step=[P // 2, 3 * P // 4]),
                  lambda b, p, P: b * 0.1 ** sum(p >= s for s in (P // 2, 3 * P // 4))),
    'step_int_min_lr': (lambda P: dict(type='StepLrUpdaterHook', step=P // 4, gamma=0.5, min_lr=0.004),
                        lambda b, p, P: max(b * 0.5 ** (p // (P // 4)), 0.004)),
    'exp': (lambda P: dict(type='ExpLrUpdaterHook', gamma=0.8), lambda b, p, P: b * 0.8 ** p),
    'poly': (lambda P: dict(type='PolyLrUpdaterHook', power=2., min_lr=1e-4),
             lambda b, p, P: (b - 1e-4) * (1 - p / P) ** 2 + 1e-4),
    'inv': (lambda P: dict(type='InvLrUpdaterHook', gamma=0.5, power=0.75),
            lambda b, p, P: b / (1 + 0.5 * p) ** 0.75),
    'cosine_min_lr': (lambda P: dict(type='CosineAnnealingLrUpdaterHook', min_lr=1e-3),
                      lambda b, p, P: cos_anneal(b, 1e-3, p / P)),
    'cosine_ratio': (lambda P: dict(type='CosineAnnealingLrUpdaterHook', min_lr_ratio=0.1),
                     lambda b, p, P: cos_anneal(b, 0.1 * b, p / P)),
    'flat_cosine': (lambda P: dict(type='FlatCosineAnnealingLrUpdaterHook', start_percent=0.5,
                                   min_lr_ratio=0.01), _flat),
    'cosine_restart': (lambda P: dict(type='CosineRestartLrUpdaterHook', periods=[P // 4, 3 * P // 4],
                                      restart_weights=[1, 0.5], min_lr=1e-4), _restart),
    'linear_annealing': (lambda P: dict(type='LinearAnnealingLrUpdaterHook', min_lr_ratio=0.05),
                         lambda b, p, P: b + (0.05 * b - b) * p / P),
}

MODES = {  # mode -> (runner kwargs, by_epoch)
    'epoch_runner_by_epoch': (dict(epochs=EPOCHS), True),
    'epoch_runner_by_iter': (dict(epochs=EPOCHS), False),
    'iter_runner_by_iter': (dict(iters=ITERS), False),
}


@pytest.mark.parametrize('mode', list(MODES))
@pytest.mark.parametrize('policy', list(POLICIES))
def test_policy_every_iteration(policy, mode):
    cfg, form = POLICIES[policy]
    run_kw, by_epoch = MODES[mode]
    P = EPOCHS if by_epoch else ITERS
    hook = HOOKS.build(dict(cfg(P), by_epoch=by_epoch))
    rows = train([hook], **run_kw)
    check_rows(rows, ITERS, lambda e, i: per_group(BASE_LR['sgd'], lambda b: form(b, e if by_epoch else i, P)))
    assert all(type(lr) is float for _, _, lrs, _, _ in rows for lr in lrs)


def test_by_epoch_changes_only_at_epoch_starts():
    rows = train([StepLrUpdaterHook(step=[1, 3])], epochs=EPOCHS)
    firsts = [lrs[0] for _, _, lrs, _, _ in rows]
    assert firsts == pytest.approx([0.1] * 3 + [0.01] * 6 + [0.001] * 3)


# ---------------------------------------------------------------- warmup
@pytest.mark.parametrize('warmup', ['constant', 'linear', 'exp'])
def test_warmup_by_iter_schedule(warmup):
    W, ratio = 5, 0.2
    hook = CosineAnnealingLrUpdaterHook(by_epoch=False, min_lr=0., warmup=warmup, warmup_iters=W,
                                        warmup_ratio=ratio)
    rows = train([hook], epochs=EPOCHS)

    def want(e, i):
        f = warmup_factor(warmup, ratio, i, W) if i < W else 1.
        return per_group(BASE_LR['sgd'], lambda b: cos_anneal(b, 0., i / ITERS) * f)
    check_rows(rows, ITERS, want)
    assert rows[0][2] == pytest.approx([0.1 * ratio, 0.01 * ratio])


@pytest.mark.parametrize('warmup', ['constant', 'linear', 'exp'])
def test_warmup_by_epoch_schedule_spans_an_epoch_boundary(warmup):
    # The warmup (5 iterations) runs into epoch 1, where the step has already decayed the LR
    # set at before_train_epoch: the warmup scales that epoch's LR.
    W, ratio = 5, 0.3
    hook = StepLrUpdaterHook(step=[1, 3], warmup=warmup, warmup_iters=W, warmup_ratio=ratio)
    rows = train([hook], epochs=EPOCHS)

    def want(e, i):
        f = warmup_factor(warmup, ratio, i, W) if i < W else 1.
        return per_group(BASE_LR['sgd'], lambda b: b * 0.1 ** sum(e >= s for s in (1, 3)) * f)
    check_rows(rows, ITERS, want)


def test_linear_warmup_formula_from_the_brief():
    W, ratio = 4, 0.1
    rows = train([FixedLrUpdaterHook(by_epoch=False, warmup='linear', warmup_iters=W, warmup_ratio=ratio)],
                 iters=8)
    for _, i, lrs, _, _ in rows:
        want = 0.1 * (1 - (1 - ratio) * (1 - i / W)) if i < W else 0.1
        assert lrs[0] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize('by_epoch', [True, False])
def test_warmup_by_epoch_counts_epochs(by_epoch):
    ratio = 0.25
    hook = CosineAnnealingLrUpdaterHook(by_epoch=by_epoch, min_lr_ratio=0.1, warmup='exp', warmup_iters=2,
                                        warmup_ratio=ratio, warmup_by_epoch=True)
    assert hook.warmup_iters is None and hook.warmup_epochs == 2
    rows = train([hook], epochs=EPOCHS)
    W = 2 * BATCHES
    assert hook.warmup_iters == W

    def want(e, i):
        f = warmup_factor('exp', ratio, i, W) if i < W else 1.
        p, P = (e, EPOCHS) if by_epoch else (i, ITERS)
        return per_group(BASE_LR['sgd'], lambda b: cos_anneal(b, 0.1 * b, p / P) * f)
    check_rows(rows, ITERS, want)


def test_warmup_by_epoch_needs_an_epoch_based_runner():
    hook = FixedLrUpdaterHook(by_epoch=False, warmup='linear', warmup_iters=1, warmup_by_epoch=True)
    with pytest.raises(RuntimeError, match='warmup_by_epoch=True needs an epoch-based runner'):
        train([hook], iters=4)


# ---------------------------------------------------------------- optimizers: Adam, dict, resume
def test_adam_two_groups_keep_their_betas():
    rows = train([PolyLrUpdaterHook(by_epoch=False, power=1., min_lr=0.)], iters=ITERS, optim='adam')
    check_rows(rows, ITERS, lambda e, i: per_group(BASE_LR['adam'], lambda b: b * (1 - i / ITERS)))
    assert all(betas == [(0.9, 0.999), (0.85, 0.99)] for *_, betas in rows)


@pytest.mark.parametrize('by_epoch', [True, False])
def test_dict_of_optimizers(by_epoch):
    W, ratio = 4, 0.5
    hook = StepLrUpdaterHook(step=2 if by_epoch else 5, gamma=0.5, by_epoch=by_epoch, warmup='linear',
                             warmup_iters=W, warmup_ratio=ratio)
    runners = []
    rows = train([hook], epochs=EPOCHS, optim='dict', runner_out=runners)
    assert hook.base_lr == BASE_LR['dict']

    def want(e, i):
        f = warmup_factor('linear', ratio, i, W) if i < W else 1.
        p, s = (e, 2) if by_epoch else (i, 5)
        return per_group(BASE_LR['dict'], lambda b: b * 0.5 ** (p // s) * f)
    check_rows(rows, ITERS, want)
    for k, optim in runners[0].optimizer.items():
        assert [g['initial_lr'] for g in optim.param_groups] == BASE_LR['dict'][k]


def test_initial_lr_of_a_resumed_optimizer_is_the_base():
    # A checkpointed optimizer carries 'initial_lr': the schedule continues from it, not from
    # the current (already decayed) lr.
    def prepare(optim):
        for g in optim.param_groups:
            g['initial_lr'], g['lr'] = g['lr'] * 5, 1e-6
    rows = train([ExpLrUpdaterHook(gamma=0.5, by_epoch=False)], iters=6, prepare=prepare)
    check_rows(rows, 6, lambda e, i: [0.5 * 0.5 ** i, 0.05 * 0.5 ** i])


# ---------------------------------------------------------------- cyclic
def _cyclic_closed_form(b, i, T, r, up_frac, gamma, anneal):
    cycle, t = divmod(i, T)
    up = int(up_frac * T)
    peak = b + (b * r[0] - b) * gamma ** cycle       # the peak shrinks towards b each cycle
    if t < up:
        return anneal(b, peak, t / up)
    return anneal(peak, b * r[1], (t - up) / (T - up))


def _lin(start, end, t):
    return start + (end - start) * t


@pytest.mark.parametrize('anneal', ['cos', 'linear'])
@pytest.mark.parametrize('cyclic_times,gamma', [(1, 1), (2, 1), (3, 0.5)])
def test_cyclic(anneal, cyclic_times, gamma):
    r, up_frac = (10, 1e-4), 0.4
    hook = CyclicLrUpdaterHook(target_ratio=r, cyclic_times=cyclic_times, step_ratio_up=up_frac,
                               anneal_strategy=anneal, gamma=gamma)
    rows = train([hook], iters=ITERS)
    T = ITERS // cyclic_times
    fn = cos_anneal if anneal == 'cos' else _lin
    check_rows(rows, ITERS, lambda e, i: per_group(
        BASE_LR['sgd'], lambda b: _cyclic_closed_form(b, i, T, r, up_frac, gamma, fn)))


def test_cyclic_single_ratio_means_ratio_and_ratio_over_1e5():
    hook = CyclicLrUpdaterHook(target_ratio=5.)
    assert hook.target_ratio == (5., 5e-5)
    assert CyclicLrUpdaterHook(target_ratio=(5.,)).target_ratio == (5., 5e-5)


def test_cyclic_matches_torch_cyclic_lr():
    # mmcv's linear cycle back to the base (target_ratio=(r, 1)) with gamma=1 is torch's
    # 'triangular' CyclicLR; mmcv's cosine shape and per-cycle gamma have no torch twin.
    r, times, iters = 4., 2, 20
    hook = CyclicLrUpdaterHook(target_ratio=(r, 1.), cyclic_times=times, step_ratio_up=0.4,
                               anneal_strategy='linear')
    rows = train([hook], iters=iters)
    T = iters // times
    up = int(0.4 * T)
    shadow = make_optimizer(ToyModel(), 'sgd')
    sched = lr_scheduler.CyclicLR(shadow, base_lr=BASE_LR['sgd'], max_lr=[b * r for b in BASE_LR['sgd']],
                                  step_size_up=up, step_size_down=T - up, cycle_momentum=False)
    for _, i, lrs, _, _ in rows:
        assert lrs == pytest.approx([g['lr'] for g in shadow.param_groups], rel=1e-12), i
        shadow.step()
        sched.step()


# ---------------------------------------------------------------- one cycle
def _torch_one_cycle(optim_kind, n, **kw):
    shadow = make_optimizer(ToyModel(), optim_kind)
    sched = lr_scheduler.OneCycleLR(shadow, **kw)
    seq = []
    for _ in range(n):
        seq.append([g['lr'] for g in shadow.param_groups])
        shadow.step()
        sched.step()
    return seq


@pytest.mark.parametrize('three_phase', [False, True])
@pytest.mark.parametrize('anneal', ['cos', 'linear'])
@pytest.mark.parametrize('total_steps', [None, 20])
def test_one_cycle_matches_torch(three_phase, anneal, total_steps):
    max_lr = [0.5, 0.05]
    hook = OneCycleLrUpdaterHook(max_lr=max_lr, total_steps=total_steps, pct_start=0.25,
                                 anneal_strategy=anneal, div_factor=10, final_div_factor=100,
                                 three_phase=three_phase)
    runners = []
    rows = train([hook], epochs=EPOCHS, runner_out=runners)
    want = _torch_one_cycle('sgd', ITERS, max_lr=max_lr, total_steps=total_steps or ITERS, pct_start=0.25,
                            anneal_strategy=anneal, div_factor=10, final_div_factor=100,
                            three_phase=three_phase, cycle_momentum=False)
    for (_, i, lrs, moms, _), w in zip(rows, want):
        assert lrs == pytest.approx(w, rel=1e-12), i
        # mmcv's one-cycle LR hook leaves the momentum alone (torch's would cycle it).
        assert moms == BASE_MOMENTUM['sgd']
    assert hook.base_lr == pytest.approx([0.05, 0.005])
    # As torch's scheduler, it records the cycle's start as each group's initial_lr.
    assert [g['initial_lr'] for g in runners[0].optimizer.param_groups] == pytest.approx([0.05, 0.005])


def test_one_cycle_closed_form_with_dict_max_lr():
    # Two optimizers: max_lr per optimizer name; the base is max_lr / div_factor, whatever the
    # optimizers' own LRs were.
    n = 10
    max_lr = {'a': 0.4, 'b': [0.04]}
    hook = OneCycleLrUpdaterHook(max_lr=max_lr, pct_start=0.4, anneal_strategy='linear')
    rows = train([hook], iters=n, optim='dict')
    up_end, end = 0.4 * n - 1, n - 1

    def lr(top, i):
        base, low = top / 25, top / 25 / 1e4
        if i <= up_end:
            return _lin(base, top, i / up_end)
        return _lin(top, low, (i - up_end) / (end - up_end))
    check_rows(rows, n, lambda e, i: {'a': [lr(0.4, i)], 'b': [lr(0.04, i)]})


def test_one_cycle_total_steps_below_max_iters():
    with pytest.raises(ValueError, match='total steps must be greater than or equal to max iterations 12'):
        train([OneCycleLrUpdaterHook(max_lr=0.1, total_steps=5)], iters=ITERS)


# ---------------------------------------------------------------- the runner's config path
def test_lr_config_step_on_epoch_runner():
    runners = []
    rows = train(epochs=EPOCHS, lr_config=dict(policy='step', step=[2, 3]), runner_out=runners)
    hook = runners[0].hooks[0]
    assert type(hook) is StepLrUpdaterHook and hook.priority == Priority.VERY_HIGH and hook.by_epoch
    check_rows(rows, ITERS, lambda e, i: per_group(BASE_LR['sgd'], lambda b: b * 0.1 ** sum(e >= s for s in (2, 3))))


def test_lr_config_on_iter_runner_defaults_to_by_iter():
    runners = []
    rows = train(iters=ITERS, lr_config=dict(policy='CosineAnnealing', min_lr=0., warmup='linear',
                                             warmup_iters=3, warmup_ratio=0.5), runner_out=runners)
    hook = runners[0].hooks[0]
    assert type(hook) is CosineAnnealingLrUpdaterHook and hook.by_epoch is False

    def want(e, i):
        f = warmup_factor('linear', 0.5, i, 3) if i < 3 else 1.
        return per_group(BASE_LR['sgd'], lambda b: cos_anneal(b, 0., i / ITERS) * f)
    check_rows(rows, ITERS, want)


@pytest.mark.parametrize('policy,cls', [('fixed', FixedLrUpdaterHook), ('exp', ExpLrUpdaterHook),
                                        ('poly', PolyLrUpdaterHook), ('cyclic', CyclicLrUpdaterHook),
                                        ('OneCycle', OneCycleLrUpdaterHook),
                                        ('FlatCosineAnnealing', FlatCosineAnnealingLrUpdaterHook),
                                        ('CosineRestart', CosineRestartLrUpdaterHook),
                                        ('LinearAnnealing', LinearAnnealingLrUpdaterHook)])
def test_policy_names(policy, cls):
    args = {'exp': dict(gamma=0.9), 'OneCycle': dict(max_lr=0.1), 'FlatCosineAnnealing': dict(min_lr=0.),
            'CosineRestart': dict(periods=[ITERS], min_lr=0.), 'LinearAnnealing': dict(min_lr=0.)}
    runners = []
    train(iters=ITERS, lr_config=dict(policy=policy, **args.get(policy, {})), runner_out=runners)
    assert type(runners[0].hooks[0]) is cls


# ---------------------------------------------------------------- helpers
def test_helpers():
    assert annealing_cos(1., 0., 0.) == 1. and annealing_cos(1., 0., 1.) == pytest.approx(0.)
    assert annealing_cos(1., 0., 0.5) == pytest.approx(0.5)
    assert annealing_cos(1., 0., 0., weight=0.5) == 0.5
    assert annealing_linear(2., 1., 0.25) == 1.75
    assert [get_position_from_periods(i, [100, 200, 300, 400]) for i in (0, 50, 99, 100, 210, 300)] == \
        [0, 0, 0, 1, 2, 3]
    with pytest.raises(ValueError, match='exceeds'):
        get_position_from_periods(400, [100, 200, 300, 400])
    opt = make_optimizer(ToyModel(), 'sgd')
    assert format_param('SGD', opt, 0.5) == [0.5, 0.5]
    assert format_param('SGD', opt, [0.5, 0.2]) == [0.5, 0.2]
    assert format_param('a', opt, {'a': [0.5, 0.2]}) == [0.5, 0.2]
    with pytest.raises(ValueError, match='expected 2 values'):
        format_param('SGD', opt, [0.5])
    with pytest.raises(KeyError, match='b is not found'):
        format_param('b', opt, {'a': 0.5})


def test_cosine_restart_past_the_last_period_is_an_error():
    with pytest.raises(ValueError, match='exceeds cumulative_periods'):
        train([CosineRestartLrUpdaterHook(periods=[2, 3], restart_weights=[1, 1], min_lr=0.,
                                          by_epoch=False)], iters=6)


# ---------------------------------------------------------------- argument errors
@pytest.mark.parametrize('cls,kwargs,exc,match', [
    (FixedLrUpdaterHook, dict(warmup='cosine', warmup_iters=3), ValueError, 'not a supported type for warming up'),
    (FixedLrUpdaterHook, dict(warmup='linear', warmup_iters=0), ValueError, 'warmup_iters must be positive'),
    (FixedLrUpdaterHook, dict(warmup='linear', warmup_iters=2.5), TypeError, 'warmup_iters must be an int'),
    (FixedLrUpdaterHook, dict(warmup='linear', warmup_iters=3, warmup_ratio=0), ValueError,
     r'warmup_ratio must be in range \(0, 1\]'),
    (FixedLrUpdaterHook, dict(warmup='exp', warmup_iters=3, warmup_ratio=1.5), ValueError, 'warmup_ratio'),
    (StepLrUpdaterHook, dict(step='2'), TypeError, '"step" must be a list or integer'),
    (StepLrUpdaterHook, dict(step=[2, 1.5]), TypeError, '"step" must be an int or a list of ints'),
    (StepLrUpdaterHook, dict(step=[2, 0]), ValueError, 'every "step" must be positive'),
    (StepLrUpdaterHook, dict(step=0), ValueError, '"step" must be positive'),
    (CosineAnnealingLrUpdaterHook, dict(), ValueError, 'exactly one of min_lr and min_lr_ratio'),
    (CosineAnnealingLrUpdaterHook, dict(min_lr=0., min_lr_ratio=0.1), ValueError, 'exactly one of min_lr'),
    (LinearAnnealingLrUpdaterHook, dict(), ValueError, 'exactly one of min_lr'),
    (FlatCosineAnnealingLrUpdaterHook, dict(min_lr=0., start_percent=1), ValueError, 'start_percent'),
    (FlatCosineAnnealingLrUpdaterHook, dict(min_lr=0., start_percent=1.5), ValueError, 'start_percent'),
    (CosineRestartLrUpdaterHook, dict(periods=[2, 3], min_lr=0.), ValueError, 'same length'),
    (CosineRestartLrUpdaterHook, dict(periods=[], restart_weights=[], min_lr=0.), ValueError, 'periods'),
    (CyclicLrUpdaterHook, dict(by_epoch=True), ValueError, 'only support "by_epoch" = False'),
    (CyclicLrUpdaterHook, dict(target_ratio=(1, 2, 3)), ValueError, 'target_ratio'),
    (CyclicLrUpdaterHook, dict(target_ratio='10'), ValueError, 'target_ratio should be either float or tuple'),
    (CyclicLrUpdaterHook, dict(step_ratio_up=1.0), ValueError, 'step_ratio_up'),
    (CyclicLrUpdaterHook, dict(gamma=0), ValueError, r'"gamma" must be in range \(0, 1\]'),
    (CyclicLrUpdaterHook, dict(anneal_strategy='exp'), ValueError, 'anneal_strategy must be one of'),
    (CyclicLrUpdaterHook, dict(cyclic_times=0), ValueError, 'cyclic_times'),
    (OneCycleLrUpdaterHook, dict(max_lr='big'), ValueError, 'max_lr'),
    (OneCycleLrUpdaterHook, dict(max_lr=0.1, by_epoch=True), ValueError, 'only support "by_epoch" = False'),
    (OneCycleLrUpdaterHook, dict(max_lr=0.1, total_steps=10.), ValueError, 'total_steps must be int'),
    (OneCycleLrUpdaterHook, dict(max_lr=0.1, pct_start=1), ValueError, 'pct_start'),
    (OneCycleLrUpdaterHook, dict(max_lr=0.1, anneal_strategy='cosine'), ValueError, 'anneal_strategy'),
])
def test_argument_errors(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_config_errors_name_the_hook():
    with pytest.raises(ValueError, match='CosineAnnealingLrUpdaterHook: exactly one of min_lr'):
        train(epochs=1, lr_config=dict(policy='CosineAnnealing'))
    with pytest.raises(KeyError, match='StepsLrUpdaterHook'):
        train(epochs=1, lr_config=dict(policy='steps', step=1))


def test_runner_without_optimizer():
    runner = EpochBasedRunner(ToyModel(), logger=LOGGER, max_epochs=1)
    runner.register_hook(FixedLrUpdaterHook(), 'VERY_HIGH')
    with pytest.raises(RuntimeError, match='needs runner.optimizer'):
        runner.run([make_loader(1)], [('train', 1)])
