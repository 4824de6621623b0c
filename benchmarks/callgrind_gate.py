"""Instruction-count regression gate for the dispatch core (run by CI).

Wall-clock timings on shared machines are too noisy to gate on; instruction counts under
``valgrind --tool=callgrind`` repeat to within 0.01 %. This script counts instructions per
hook call and per loop iteration for the compiled core, the pure-Python twin and a naive
mmcv-style loop, and compares them with ``callgrind_baseline.json``: a rise of more than 2 %
fails.

    python benchmarks/callgrind_gate.py            # compare with the baseline (exit 1 on a rise)
    python benchmarks/callgrind_gate.py --update   # write the current counts as the baseline

Each count is the difference of two runs (N2 and N1 repetitions) divided by N2 - N1, so
interpreter start-up cancels out. The workloads load the core modules from their files without
importing fastrun (and so torch), to keep each valgrind run to a few seconds.
"""
import argparse
import glob
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


class _Runner:
    def __init__(self):
        self._iter = 0
        self._inner_iter = 0
        self.stop_training = False
        self.hooks = [_Hook() for _ in range(HOOKS)]

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
    """The measured program: ``n`` repetitions of ``workload``."""
    kind, impl = workload.split('-')
    runner = _Runner()
    step = lambda batch: None  # noqa: E731
    if impl != 'naive':
        core = _load('_core_cy', '_core_cy*.so') if impl == 'cython' else _load('_core_py', '_core_py.py')
        d = core.Dispatcher(STAGES)
        tables = [()] * len(STAGES)
        for name in ('before_train_iter', 'after_train_iter'):
            tables[STAGES.index(name)] = tuple(getattr(h, name) for h in runner.hooks)
        d.set_tables(tables)
        idx = STAGES.index('after_train_iter')
    if kind == 'dispatch':
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


def measure():
    results = {}
    for kind, unit in (('dispatch', HOOKS), ('loop', 1)):
        for impl in ('cython', 'python', 'naive'):
            w = f'{kind}-{impl}'
            per = (count(w, N2) - count(w, N1)) / (N2 - N1) / unit
            key = f'{kind}/{impl}/' + ('instructions_per_hook_call' if kind == 'dispatch'
                                       else f'instructions_per_iteration_{HOOKS}x2_hooks')
            results[key] = round(per, 1)
            print(f'{key:60s} {per:12.1f}', flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--update', action='store_true', help='write the baseline')
    parser.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    current = measure()
    ratio = current['dispatch/cython/instructions_per_hook_call'] / current['dispatch/naive/instructions_per_hook_call']
    print(f'compiled core / naive loop, per hook call: {ratio:.2f}x')
    if args.update:
        with open(BASELINE, 'w') as f:
            json.dump(current, f, indent=2, sort_keys=True)
            f.write('\n')
        print(f'baseline written to {os.path.relpath(BASELINE, ROOT)}')
        return 0
    with open(BASELINE) as f:
        baseline = json.load(f)
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
