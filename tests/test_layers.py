"""The package's layers (the import-linter contracts in pyproject.toml) hold, and a crossing breaks them."""
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

pytest.importorskip('importlinter', reason='pip install fastrun[test] (import-linter)')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LINT = 'import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))'


def lint(folder):
    """Run lint-imports on the package in ``folder``; (exit code, output)."""
    done = subprocess.run([sys.executable, '-c', LINT], cwd=folder, capture_output=True, text=True,
                          env={'PATH': '', 'PYTHONPATH': folder, 'NO_COLOR': '1', 'COLUMNS': '200'})
    return done.returncode, done.stdout + done.stderr


def package_copy(tmp_path):
    """The package's Python files and pyproject.toml, copied into ``tmp_path``."""
    shutil.copy(osp.join(ROOT, 'pyproject.toml'), tmp_path)
    shutil.copytree(osp.join(ROOT, 'fastrun'), tmp_path / 'fastrun',
                    ignore=shutil.ignore_patterns('*.so', '*.pyd', '*.c', '__pycache__'))
    return tmp_path


def test_the_layers_hold():
    code, out = lint(ROOT)
    assert code == 0, out
    kept = re.search(r'Contracts: (\d+) kept, 0 broken\.', out)
    assert kept and int(kept.group(1)) >= 6, out


@pytest.mark.parametrize('module, line, broken', [
    # A function-level import counts as much as one at the top.
    ('hooks/checkpoint.py', 'from ..runner import Runner', 'Hooks import neither the runner'),
    ('runner.py', 'from .hooks.logger.base import LoggerHook', 'The runner imports no hook module'),
    ('state.py', 'from .signals import Preempted', 'No import circles'),
    ('_core_py.py', 'from .hook import STAGES', 'The dispatch core imports nothing of fastrun'),
    ('models/base.py', 'from ..runner import Runner', 'Models and data sets import no runner'),
])
def test_a_crossing_import_breaks_its_contract(tmp_path, module, line, broken):
    folder = package_copy(tmp_path)
    with open(folder / 'fastrun' / module, 'a') as f:
        f.write(f'\n\ndef _crossing():\n    {line}\n')
    code, out = lint(str(folder))
    assert code != 0
    broken_lines = [s for s in out.splitlines() if ' BROKEN' in s]
    assert any(s.startswith(broken) for s in broken_lines), out
