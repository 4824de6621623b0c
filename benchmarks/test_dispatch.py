"""Per-stage dispatch cost: compiled core vs pure-Python twin vs mmcv's naive getattr loop.

Two kinds of hooks that override the stage: ``noop`` (``pass``: only the call is measured) and
``stateful`` (``self.n += 1``: an attribute read and write per call, as real hooks do), and
``elsewhere`` hooks that override another stage only. fastrun's hooks are registered with a
real ``Runner`` (its registration path is part of what is measured: it must not slow the hook
down); the naive loop gets fresh, never-registered hooks.

``pytest benchmarks --benchmark-only`` measures; a plain ``pytest`` runs each once as a test.
Compare ratios within one run (same machine, same moment), never absolute numbers across runs.
"""
import pytest
import torch

from fastrun import Hook, Runner, _core
from fastrun.hook import DISPATCH_NAMES

STAGE = 'after_train_iter'
IDX = DISPATCH_NAMES.index(STAGE)
COUNTS = (0, 1, 10, 100, 1000)


class Noop(Hook):
    def after_train_iter(self, runner):
        pass


class Stateful(Hook):
    def __init__(self):
        self.n = 0

    def after_train_iter(self, runner):
        self.n += 1


class Elsewhere(Hook):
    """Overrides only ``after_run``: it should cost nothing at ``after_train_iter``."""

    def after_run(self, runner):
        pass


KINDS = {'noop': Noop, 'stateful': Stateful, 'elsewhere': Elsewhere}


class _Model(torch.nn.Module):
    def train_step(self, data, optimizer=None, **kwargs):
        return {}


def naive_call(hooks, runner):
    # mmcv 1.x's call_hook: every hook, every stage, a getattr each time
    for hook in hooks:
        getattr(hook, STAGE)(runner)


@pytest.fixture
def registered_runner():
    """A factory: a Runner on core ``impl`` with ``hooks`` registered (the core is restored after)."""
    impl = _core.impl

    def make(name, hooks):
        _core.impl = _core.get(name)
        runner = Runner(_Model(), max_epochs=1)
        for hook in hooks:
            runner.register_hook(hook)
        return runner
    yield make
    _core.impl = impl


@pytest.mark.parametrize('kind', list(KINDS))
@pytest.mark.parametrize('n', COUNTS)
@pytest.mark.parametrize('impl', ['cython', 'python', 'naive'])
def test_dispatch(benchmark, registered_runner, impl, n, kind):
    if kind != 'noop' and n == 0:
        pytest.skip('no hooks: measured once, as noop x0')
    hooks = [KINDS[kind]() for _ in range(n)]
    benchmark.group = f'dispatch {kind} x{n}'
    if impl == 'naive':
        benchmark(naive_call, hooks, None)
        return
    runner = registered_runner(impl, hooks)
    expected = 0 if kind == 'elsewhere' else n
    assert len(runner._dispatch.table(STAGE)) == expected
    benchmark(runner._dispatch.call_index, IDX, runner)
    if kind == 'stateful' and n:
        assert hooks[0].n > 0  # the hooks really ran through the table
