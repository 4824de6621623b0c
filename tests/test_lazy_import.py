"""``import fastrun`` imports no torch; every public name and every registry still works.

Each case runs in a new interpreter: what a module import does depends on what ran before.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap

from tests.test_cli import ROOT


def fresh(code):
    """The JSON value ``code`` (run in a new interpreter) prints last."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_package_imports_no_torch_and_core_needs_none():
    assert fresh('''
        import json, sys
        import fastrun
        before = 'torch' in sys.modules
        core = fastrun.CORE
        from fastrun import Config, ConfigError, Priority, Hook, STAGES
        print(json.dumps([before, core in ('cython', 'python'), 'torch' in sys.modules]))
    ''') == [False, True, False]


def test_every_public_name_and_submodule_resolves_as_after_a_full_import():
    missing, unresolved, star, hooks_left_out, same, error = fresh('''
        import json
        import fastrun
        same = [fastrun.hooks.EMAHook is fastrun.EMAHook,  # a submodule, before any name
                fastrun.checkpoint.save_checkpoint is fastrun.save_checkpoint]
        try:
            fastrun.no_such_name
        except AttributeError as e:
            error = str(e)
        unresolved = [n for n in fastrun.__all__ if getattr(fastrun, n, None) is None]
        namespace = {}
        exec('from fastrun import *', namespace)
        star = sorted(set(fastrun.__all__) - set(namespace))
        left_out = sorted(set(fastrun.hooks.__all__) - set(fastrun.__all__))
        missing = [n for n in ('Runner', 'HOOKS', 'Hook', 'EMAHook', 'load_checkpoint', 'Preempted')
                   if n not in fastrun.__all__]
        print(json.dumps([missing, unresolved, star, left_out, same, error]))
    ''')
    assert (missing, unresolved, star, hooks_left_out) == ([], [], [], [])
    assert same == [True, True] and error == "module 'fastrun' has no attribute 'no_such_name'"


def test_registries_hold_the_bundled_entries_whichever_module_came_first():
    hooks, found = fresh('''
        import json, torch
        from fastrun.runner import Runner  # the runner alone, as a script may import it

        class Model(torch.nn.Linear):
            def train_step(self, batch, optimizer):
                return dict(loss=self(batch).sum())

        model = Model(2, 2)
        runner = Runner(model, max_epochs=1)  # no optimizer: torch.optim imports its compiler
        # its default hooks come from the registry, as with `import fastrun` first
        runner.register_training_hooks(lr_config=dict(policy='step', step=[1]),
                                       optimizer_config=dict(grad_clip=None))
        from fastrun.registry import DATASETS, HOOKS, MODELS, OPTIMIZER_BUILDERS, RUNNERS
        print(json.dumps([[type(h).__name__ for h in runner.hooks],
                          ['EMAHook' in HOOKS, 'ImageClassifier' in MODELS, 'Digits' in DATASETS,
                           'IterBasedRunner' in RUNNERS,
                           'DefaultOptimizerConstructor' in OPTIMIZER_BUILDERS]]))
    ''')
    assert hooks == ['StepLrUpdaterHook', 'OptimizerHook', 'IterTimerHook']
    assert found == [True] * 5


def test_a_user_hook_registered_first_with_force_replaces_the_bundled_one():
    assert fresh('''
        import json
        from fastrun.registry import HOOKS
        from fastrun.hook import Hook

        @HOOKS.register_module(name='EMAHook', force=True)
        class MyEMA(Hook):
            pass

        import fastrun.hooks  # the bundled EMAHook registers without force: no clash
        print(json.dumps(HOOKS.get('EMAHook').__name__))
    ''') == 'MyEMA'


def test_type_checkers_see_the_names_that_are_imported_lazily():
    """The ``if TYPE_CHECKING:`` imports of fastrun/__init__.py name what ``_PROVIDERS`` provides."""
    with open(os.path.join(ROOT, 'fastrun', '__init__.py')) as f:
        tree = ast.parse(f.read())
    [block] = [node for node in tree.body if isinstance(node, ast.If)
               and getattr(node.test, 'id', None) == 'TYPE_CHECKING']
    seen = {}
    for node in block.body:
        seen.setdefault('.' + node.module, set()).update(alias.name for alias in node.names)
    import fastrun
    providers = {module: set(names) for module, names in fastrun._PROVIDERS.items()}
    assert seen.pop('.hooks') == {'*'}  # all of fastrun.hooks.__all__, compared above
    providers.pop('.hooks')
    assert seen == providers
