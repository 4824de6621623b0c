"""Compiled core vs pure-Python twin vs mmcv's naive loop, per Python version (wall-clock, one run).

Not a test: a script that needs neither torch nor fastrun's package, only the two core
modules (loaded from their files), so it runs under any CPython with the extension built for
it (``pythonX.Y setup.py build_ext --inplace`` puts ``fastrun/_core_cy.cpython-XY-*.so`` beside
the others):

    python3.11 benchmarks/core_compare.py
    python3.13 benchmarks/core_compare.py

It prints, for hooks that do nothing and hooks that keep state (``self.n += 1``), the cost per
hook call of one stage with 1 to 100 hooks (``call_index``), and the cost of a whole iteration
(``run_epoch``: fetch, counters, two stages of 2 + 4 or 10 + 10 hooks) of each core, each the
minimum of interleaved repeats. Calls from the compiled core into Python hooks enter the interpreter
anew each time, where Python-to-Python calls are inlined (3.11+): this is where that shows.
"""
import gc
import glob
import importlib.machinery
import importlib.util
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ('before_run', 'before_train_iter', 'after_train_iter')
BEFORE, AFTER = 1, 2


def load_core(name, filename):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, 'fastrun', filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compiled_core_file():
    """The extension built for the running interpreter, or exit with how to build it."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    found = glob.glob(os.path.join(ROOT, 'fastrun', '_core_cy' + suffix))
    if not found:
        sys.exit(f'no fastrun/_core_cy{suffix}: run `{os.path.basename(sys.executable)} setup.py '
                 f'build_ext --inplace` first')
    return os.path.basename(found[0])


class Noop:
    def before_train_iter(self, runner):
        pass

    def after_train_iter(self, runner):
        pass


class Stateful:
    def __init__(self):
        self.n = 0

    def before_train_iter(self, runner):
        self.n += 1

    def after_train_iter(self, runner):
        self.n += 1


class Runner:
    def __init__(self):
        self._iter = 0
        self._inner_iter = 0
        self.stop_training = False


def naive_stage(hooks, runner, name):
    # mmcv 1.x's call_hook
    for hook in hooks:
        getattr(hook, name)(runner)


def best_of(fn, rounds=7):
    best = float('inf')
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    cores = {'compiled': load_core('_core_cy', compiled_core_file()),
             'twin': load_core('_core_py', '_core_py.py')}
    gc.disable()  # collections would land in random rounds
    print(f'Python {sys.version.split()[0]}: ns per hook call (one stage), min of interleaved repeats')
    print(f'{"hooks":>14s} {"compiled":>9s} {"twin":>9s} {"naive":>9s} {"compiled/naive":>15s} '
          f'{"twin/naive":>11s}')
    for cls in (Noop, Stateful):
        for n in (1, 3, 10, 100):
            reps = 100_000 // n
            hooks, fresh = [cls() for _ in range(n)], [cls() for _ in range(n)]
            runner = Runner()
            loops = {}
            for name, core in cores.items():
                d = core.Dispatcher(STAGES)
                d.set_tables([(), tuple(h.before_train_iter for h in hooks),
                              tuple(h.after_train_iter for h in hooks)])

                def loop(call=d.call_index):
                    for _ in range(reps):
                        call(AFTER, runner)
                loops[name] = loop

            def naive():
                for _ in range(reps):
                    naive_stage(fresh, runner, 'after_train_iter')
            loops['naive'] = naive
            result = {k: float('inf') for k in loops}
            for _ in range(3):
                for k, fn in loops.items():
                    result[k] = min(result[k], best_of(fn) / reps / n * 1e9)
            print(f'{cls.__name__.lower() + " x" + str(n):>14s} {result["compiled"]:9.1f} '
                  f'{result["twin"]:9.1f} {result["naive"]:9.1f} '
                  f'{result["compiled"] / result["naive"]:14.2f}x {result["twin"] / result["naive"]:10.2f}x')
    print('ns per iteration (run_epoch: fetch, counters, the hooks of 2 stages, no-op step)')
    iters = 20_000
    # 2 + 4: the main job's before_train_iter / after_train_iter; 10 + 10: a hook-heavy run
    for cls, (n_before, n_after) in ((Stateful, (2, 4)), (Noop, (10, 10)), (Stateful, (10, 10))):
        before = [cls() for _ in range(n_before)]
        after = [cls() for _ in range(n_after)]
        result = {}
        for _ in range(5):
            for name, core in cores.items():
                d = core.Dispatcher(STAGES)
                d.set_tables([(), tuple(h.before_train_iter for h in before),
                              tuple(h.after_train_iter for h in after)])
                t = best_of(lambda: d.run_epoch(Runner(), range(iters), BEFORE, AFTER, lambda b: None, True))
                result[name] = min(result.get(name, float('inf')), t / iters * 1e9)
        label = f'{cls.__name__.lower()} {n_before}+{n_after}'
        print(f'{label:>14s} {result["compiled"]:9.1f} {result["twin"]:9.1f}'
              f'   compiled/twin {result["compiled"] / result["twin"]:.2f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
