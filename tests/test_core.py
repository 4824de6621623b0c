"""The dispatch core: tables, default chaining, both implementations agreeing."""
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastrun
from fastrun import Hook, Priority, get_priority
from fastrun._core_py import Dispatcher as PyDispatcher
from fastrun.hook import DISPATCH_NAMES, GENERIC_OF, STAGES, stage_method


def test_compiled_core_is_built_and_selected():
    import fastrun._core_cy as cy
    assert cy.Dispatcher.__module__ == 'fastrun._core_cy'
    if os.environ.get('FASTRUN_PURE_PYTHON', '') in ('', '0'):
        assert fastrun.CORE == 'cython'


def test_pure_python_switch_and_fallback(tmp_path):
    code = 'import fastrun; print(fastrun.CORE)'
    env = dict(os.environ, FASTRUN_PURE_PYTHON='1')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == 'python'
    # A broken extension falls back to the twin with one warning, never an import error.
    blocker = tmp_path / 'sitecustomize.py'
    blocker.write_text('import sys\nsys.modules["fastrun._core_cy"] = None\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path), FASTRUN_PURE_PYTHON='0')
    out = subprocess.run([sys.executable, '-W', 'always', '-c', code], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'python'
    assert out.stderr.count('compiled core is unavailable') == 1


def test_both_cores_expose_the_same_names():
    import fastrun._core_cy as cy
    import fastrun._core_py as py
    # Both directions: neither core has a name the other lacks (modules and dispatchers).
    def names(obj):
        return {n for n in dir(obj) if not n.startswith('__')}
    assert names(py) == names(cy)
    assert names(py.Dispatcher(('a', 'b'))) == names(cy.Dispatcher(('a', 'b')))
    for name in ('set_tables', 'table', 'call', 'call_index', 'run_epoch', 'run_iters'):
        assert hasattr(cy.Dispatcher, name) and hasattr(py.Dispatcher, name)


@pytest.mark.parametrize('value,expected', [
    (0, 0), (100, 100), (37, 37), ('HIGHEST', 0), ('very_high', 10), ('High', 30),
    ('ABOVE_NORMAL', 40), ('normal', 50), ('BELOW_NORMAL', 60), ('low', 70), ('VERY_LOW', 90),
    ('lowest', 100), (Priority.LOW, 70)])
def test_get_priority(value, expected):
    assert get_priority(value) == expected


@pytest.mark.parametrize('bad', [-1, 101, 'URGENT', 1.5, None, True, [50]])
def test_get_priority_rejects(bad):
    with pytest.raises(ValueError, match='HIGHEST'):
        get_priority(bad)


class OnlyEpoch(Hook):
    def before_epoch(self, runner):
        pass


class TrainEpochAndGeneric(Hook):
    def before_epoch(self, runner):
        pass

    def before_train_epoch(self, runner):
        pass


def test_default_chaining_resolution():
    h = OnlyEpoch()
    assert h.get_triggered_stages() == ['before_train_epoch', 'before_val_epoch']
    assert stage_method(h, 'before_train_epoch') == h.before_epoch
    assert stage_method(h, 'after_train_iter') is None
    h2 = TrainEpochAndGeneric()
    assert stage_method(h2, 'before_train_epoch') == h2.before_train_epoch
    assert stage_method(h2, 'before_val_epoch') == h2.before_epoch
    assert Hook().get_triggered_stages() == []
    assert set(GENERIC_OF) | {'before_run', 'after_run'} == set(STAGES)


def test_instance_attribute_counts_as_override():
    h = Hook()
    calls = []
    h.after_train_iter = lambda runner: calls.append(runner)
    assert h.get_triggered_stages() == ['after_train_iter']


def _dispatchers():
    import fastrun._core_cy as cy
    return [cy.Dispatcher(DISPATCH_NAMES), PyDispatcher(DISPATCH_NAMES)]


def test_dispatcher_calls_in_table_order_and_names_errors():
    for d in _dispatchers():
        trace = []

        class Boom(Hook):
            def after_train_iter(self, runner):
                raise RuntimeError('disk on fire')

        tables = [()] * len(DISPATCH_NAMES)
        i = DISPATCH_NAMES.index('after_train_iter')
        tables[i] = (lambda r: trace.append(1), lambda r: trace.append(2), Boom().after_train_iter)
        d.set_tables(tables)
        with pytest.raises(RuntimeError, match=r'^after_train_iter of Boom: disk on fire$'):
            d.call('after_train_iter', None)
        assert trace == [1, 2]
        with pytest.raises(KeyError):
            d.call('no_such_stage', None)
        with pytest.raises(ValueError):
            d.set_tables([()])


# -- both implementations build identical tables and call traces for random hook sets ---------

_OVERRIDABLE = STAGES + tuple(dict.fromkeys(GENERIC_OF.values()))


def _make_hook_class(stages, trace, tag):
    def make(stage):
        def method(self, runner):
            trace.append((stage, tag))
        return method
    return type(f'H{tag}', (Hook,), {s: make(s) for s in stages})


hook_specs = st.lists(
    st.tuples(st.sampled_from([0, 10, 30, 40, 50, 60, 70, 90, 100, 'HIGH', 'LOW', Priority.NORMAL]),
              st.sets(st.sampled_from(_OVERRIDABLE), max_size=5)),
    max_size=8)


@settings(max_examples=60, deadline=None)
@given(specs=hook_specs)
def test_cores_agree_on_random_hook_sets(specs):
    import fastrun._core_cy as cy
    import fastrun._core_py as py
    from fastrun import _core
    from tests.conftest import ToyModel, make_loader
    traces = {}
    for name, impl in (('cython', cy), ('python', py)):
        old = _core.impl
        _core.impl = impl
        try:
            trace = []
            runner = fastrun.Runner(ToyModel(), max_epochs=2)
            for tag, (priority, stages) in enumerate(specs):
                runner.register_hook(_make_hook_class(stages, trace, tag)(), priority)
            runner.run([make_loader(2), make_loader(1)], [('train', 1), ('val', 1)])
            tables = [tuple((type(f.__self__).__name__, f.__name__) for f in runner._dispatch.table(n))
                      for n in DISPATCH_NAMES]
            traces[name] = (trace, tables)
        finally:
            _core.impl = old
    assert traces['cython'] == traces['python']
    # and the trace is the one mmcv's naive loop gives: priority order, stable among ties
    order = sorted(range(len(specs)), key=lambda t: get_priority(specs[t][0]))
    expected = []
    for stage in ('before_run',):
        expected += [(stage, t) for t in order if stage in specs[t][1]]
    trace = traces['python'][0]
    assert trace[:len(expected)] == expected
