"""Per-stage dispatch cost: compiled core vs pure-Python twin vs mmcv's naive getattr loop.

``pytest benchmarks --benchmark-only`` measures; a plain ``pytest`` runs each once as a test.
Compare ratios within one run (same machine, same moment), never absolute numbers across runs.
"""
import pytest

import fastrun._core_cy as cy
import fastrun._core_py as py
from fastrun import Hook
from fastrun.hook import DISPATCH_NAMES, stage_method

STAGE = 'after_train_iter'
IDX = DISPATCH_NAMES.index(STAGE)
COUNTS = (0, 10, 100, 1000)


class Overrides(Hook):
    def after_train_iter(self, runner):
        pass


class Elsewhere(Hook):
    """Overrides only ``after_run``: it should cost nothing at ``after_train_iter``."""

    def after_run(self, runner):
        pass


def naive_call(hooks, runner):
    # mmcv 1.x's call_hook: every hook, every stage, a getattr each time
    for hook in hooks:
        getattr(hook, STAGE)(runner)


def make_dispatcher(impl, hooks):
    d = impl.Dispatcher(DISPATCH_NAMES)
    d.set_tables([tuple(fn for fn in (stage_method(h, n) for h in hooks) if fn is not None)
                  for n in DISPATCH_NAMES])
    return d


@pytest.mark.parametrize('kind', ['overrides', 'elsewhere'])
@pytest.mark.parametrize('n', COUNTS)
@pytest.mark.parametrize('impl', ['cython', 'python', 'naive'])
def test_dispatch(benchmark, impl, n, kind):
    cls = Overrides if kind == 'overrides' else Elsewhere
    hooks = [cls() for _ in range(n)]
    benchmark.group = f'dispatch {kind} x{n}'
    if impl == 'naive':
        benchmark(naive_call, hooks, None)
        return
    d = make_dispatcher(cy if impl == 'cython' else py, hooks)
    expected = n if kind == 'overrides' else 0
    assert len(d.table(STAGE)) == expected
    benchmark(d.call_index, IDX, None)
