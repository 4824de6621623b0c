"""Instruction-count regression gate for the dispatch core (run by CI).

Wall-clock timings on shared machines are too noisy to gate on; instruction counts under
``valgrind --tool=callgrind`` repeat to within 0.01 %. This script counts instructions per
hook call and per loop iteration for the compiled core, the pure-Python twin and a naive
mmcv-style loop, with hooks that do nothing (``pass``) and hooks that keep state
(``self.n += 1``, attribute access on every call), and compares them with
``callgrind_baseline.json``: a rise of more than 2 % fails. It also fails when a stateful
hook costs more per call after registration (its tables built by ``fastrun.hook.stage_method``,
its ``priority`` set, as ``Runner.register_hook`` does) than the same hook never registered:
registration must leave the hook's attributes on CPython's fast path.

    python benchmarks/callgrind_gate.py            # compare with the baseline (exit 1 on a rise)
    python benchmarks/callgrind_gate.py --update   # write the current counts as the baseline

Each count is the difference of two runs (N2 and N1 repetitions) divided by N2 - N1, so
interpreter start-up cancels out. The workloads load the core modules from their files without
importing fastrun (and so torch), to keep each valgrind run to a few seconds.
"""
import argparse
import glob
import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASELINE = os.path.join(HERE, 'callgrind_baseline.json')
TOLERANCE = 0.02
HOOKS = 10            # hooks per stage in the dispatch workloads
N1, N2 = 2000, 6000   # repetitions of the two runs whose difference is measured

STAGES = ('before_run', 'before_train_epoch', 'before_train_iter', 'after_train_iter',
          'after_train_epoch', 'before_val_epoch', 'before_val_iter', 'after_val_iter',
          'after_val_epoch', 'after_run')


def _load(name, pattern):
    path = sorted(glob.glob(os.path.join(ROOT, 'fastrun', pattern)))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Hook:
    def before_train_iter(self, runner):
        pass

    def after_train_iter(self, runner):
        pass


def _counter_class(base):
    class Counter(base):
        """A hook keeping state: each call reads and writes an attribute of the hook."""

        def __init__(self):
            self.n = 0

        def before_train_iter(self, runner):
            self.n += 1

        def after_train_iter(self, runner):
            self.n += 1
    return Counter


class _Runner:
    def __init__(self, hook_class=_Hook):
        self._iter = 0
        self._inner_iter = 0
        self.stop_training = False
        self.hooks = [hook_class() for _ in range(HOOKS)]

    def call_hook(self, name):
        for hook in self.hooks:
            getattr(hook, name)(self)


def _naive_epoch(runner, loader, step):
    # mmcv 1.x EpochBasedRunner.train's loop, without its sleep
    for i, batch in enumerate(loader):
        runner.data_batch = batch
        runner._inner_iter = i
        runner.call_hook('before_train_iter')
        step(batch)
        runner.call_hook('after_train_iter')
        del runner.data_batch
        runner._iter += 1


def child(workload, n):
    """The measured program: ``n`` repetitions of ``workload`` (``kind-impl``).

    kind: ``dispatch`` / ``stateful`` (one stage of HOOKS no-op / stateful hooks), ``loop`` /
    ``loopstateful`` (an epoch of n iterations), ``timed`` (the stateful stage with the tables
    a :class:`fastrun.profiling.HookTimer` annotates: what ``--hook-times`` costs per call). impl: ``cython`` / ``python`` (the hooks go
    through fastrun's registration path: ``priority`` set, tables from ``stage_method``),
    ``unregistered`` (the compiled core over tables of never-registered hooks' bound methods)
    or ``naive`` (mmcv's ``getattr`` loop over fresh hooks).
    """
    kind, impl = workload.split('-')
    stateful = kind in ('stateful', 'loopstateful', 'timed')
    hook_mod = _load('_hook', 'hook.py') if stateful else None
    runner = _Runner(_counter_class(hook_mod.Hook) if stateful else _Hook)
    step = lambda batch: None  # noqa: E731
    if impl != 'naive':
        core = (_load('_core_py', '_core_py.py') if impl == 'python'
                else _load('_core_cy', '_core_cy' + importlib.machinery.EXTENSION_SUFFIXES[0]))
        d = core.Dispatcher(STAGES)
        tables = [()] * len(STAGES)
        for name in ('before_train_iter', 'after_train_iter'):
            if stateful and impl != 'unregistered':
                for h in runner.hooks:
                    h.priority = 50  # what Runner.register_hook sets
                table = tuple(hook_mod.stage_method(h, name) for h in runner.hooks)
            else:
                table = tuple(getattr(h, name) for h in runner.hooks)
            if kind == 'timed':
                timer = _load('_profiling', 'profiling.py').HookTimer()
                table = tuple(timer(name, fn) for fn in table)
            tables[STAGES.index(name)] = table
        d.set_tables(tables)
        idx = STAGES.index('after_train_iter')
    if kind in ('dispatch', 'stateful', 'timed'):
        if impl == 'naive':
            for _ in range(n):
                runner.call_hook('after_train_iter')
        else:
            call = d.call_index
            for _ in range(n):
                call(idx, runner)
    else:  # one epoch of n iterations: batch fetch, two stages of HOOKS hooks, step, counters
        loader = range(n)
        if impl == 'naive':
            _naive_epoch(runner, loader, step)
        else:
            d.run_epoch(runner, loader, STAGES.index('before_train_iter'), idx, step, True)


def count(workload, n):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONHASHSEED='0')
        cmd = ['valgrind', '--tool=callgrind', f'--callgrind-out-file={tmp}/out',
               sys.executable, os.path.abspath(__file__), '--child', workload, str(n)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'valgrind failed on {workload}:\n{proc.stderr[-2000:]}')
        m = re.search(r'Collected\s*:\s*(\d+)', proc.stderr)
        return int(m.group(1))


WORKLOADS = (
    ('dispatch', ('cython', 'python', 'naive')),
    ('stateful', ('cython', 'python', 'unregistered', 'naive')),
    ('loop', ('cython', 'python', 'naive')),
    ('loopstateful', ('cython', 'python', 'naive')),
    ('timed', ('cython', 'python')),
)


def measure():
    results = {}
    for kind, impls in WORKLOADS:
        unit = HOOKS if kind in ('dispatch', 'stateful', 'timed') else 1
        for impl in impls:
            w = f'{kind}-{impl}'
            per = (count(w, N2) - count(w, N1)) / (N2 - N1) / unit
            key = f'{kind}/{impl}/' + ('instructions_per_hook_call' if unit == HOOKS
                                       else f'instructions_per_iteration_{HOOKS}x2_hooks')
            results[key] = round(per, 1)
            print(f'{key:60s} {per:12.1f}', flush=True)
    return results


def _ratios(current):
    for kind in ('dispatch', 'stateful'):
        naive = current[f'{kind}/naive/instructions_per_hook_call']
        for impl in ('cython', 'python'):
            ratio = current[f'{kind}/{impl}/instructions_per_hook_call'] / naive
            print(f'{kind:8s} hook call, {impl} core / naive loop: {ratio:.2f}x')
    for impl in ('cython', 'python'):
        ratio = (current[f'timed/{impl}/instructions_per_hook_call']
                 / current[f'stateful/{impl}/instructions_per_hook_call'])
        print(f'stateful hook call, {impl} core, hook times on / off: {ratio:.2f}x')


def registration_slows(current):
    """True when a registered stateful hook costs more per call than the never-registered one."""
    registered = current['stateful/cython/instructions_per_hook_call']
    fresh = current['stateful/unregistered/instructions_per_hook_call']
    print(f'stateful hook call, registered / never registered: {registered / fresh:.3f}x')
    return registered > fresh * 1.005


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--update', action='store_true', help='write the baseline')
    parser.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    current = measure()
    _ratios(current)
    if registration_slows(current):
        print('FAIL registering a hook makes its calls dearer: something on the registration path '
              'reads the hook\'s __dict__ (vars(), copy), which de-optimises its attribute access')
        return 1
    python = '.'.join(map(str, sys.version_info[:2]))
    if args.update:
        with open(BASELINE, 'w') as f:
            json.dump(dict(current, python=python), f, indent=2, sort_keys=True)
            f.write('\n')
        print(f'baseline written to {os.path.relpath(BASELINE, ROOT)}')
        return 0
    with open(BASELINE) as f:
        baseline = json.load(f)
    if baseline.get('python', python) != python:
        # Each interpreter version runs a different number of instructions for the same code.
        print(f'the baseline was counted under Python {baseline["python"]}, this is {python}: '
              'counts not compared (the registration check above passed)')
        return 0
    failed = []
    for key, value in current.items():
        base = baseline.get(key)
        if base is None:
            continue
        change = (value - base) / base
        status = 'FAIL' if change > TOLERANCE and key.split('/')[1] != 'naive' else 'ok'
        print(f'{status:4s} {key:60s} {base:10.1f} -> {value:10.1f} ({change:+.2%})')
        if status == 'FAIL':
            failed.append(key)
    if failed:
        print(f'instruction counts rose by more than {TOLERANCE:.0%}: {", ".join(failed)}')
        return 1
    print('callgrind gate: no regression')
    return 0


if __name__ == '__main__':
    sys.exit(main())
