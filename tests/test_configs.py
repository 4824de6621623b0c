"""Every config under configs/ (the spec's snippets among them) trains, printing its hook order.

The configs run in this process through ``fastrun.cli.main`` (what the ``fastrun`` command
runs), which spares each one a new interpreter importing torch and its compiler (about 3 s on
2 cores). A config that imports a module of its own (``custom_imports``) runs as the real
command in a new process: two configs import different modules that register the same hook name
(``MyHook``), which one process refuses, as it should.
"""
import glob
import os

import pytest
import torch

from fastrun.cli import main
from tests.test_cli import ROOT, run_cli

CONFIGS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'),
                                                             recursive=True)
                 if not p.endswith('my_hook.py'))

SPEC_PRIORITIES = {
    'CosineAnnealingLrUpdaterHook': 'VERY_HIGH', 'OptimizerHook': 'ABOVE_NORMAL',
    'CheckpointHook': 'NORMAL', 'IterTimerHook': 'LOW', 'EvalHook': 'LOW',
    'TextLoggerHook': 'VERY_LOW', 'TensorboardLoggerHook': 'VERY_LOW',
    'EMAHook': 'HIGH', 'MyHook': 'ABOVE_NORMAL',
}


def _hook_rows(out):
    rows = set()
    for line in out.splitlines():
        if line.startswith('('):
            pri, name = line[1:].split(')', 1)
            rows.add((name.strip(), pri.strip()))
    return rows


def test_all_configs_are_covered():
    assert 'configs/digits_cnn.py' in CONFIGS and len([c for c in CONFIGS if c.startswith('configs/spec/')]) >= 8


def _imports_code(config):
    with open(os.path.join(ROOT, config)) as f:
        return 'custom_imports' in f.read()


def _train(config, work):
    """``fastrun train CONFIG --work-dir WORK`` for one epoch; what it logged."""
    args = ['train', config, '--work-dir', str(work), '--cfg-options', 'runner.max_epochs=1']
    if _imports_code(config):
        return run_cli(*args).stderr
    threads = torch.get_num_threads()
    cwd = os.getcwd()
    os.chdir(ROOT)  # the configs' paths and their custom imports are relative to the repository
    try:
        assert main(args) == 0
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)  # the main job's num_threads=1 must not stay for later tests
    [log] = glob.glob(os.path.join(work, '*.log'))
    with open(log) as f:
        return f.read()


@pytest.mark.parametrize('config', CONFIGS)
def test_config_hooks_and_one_epoch(config, tmp_path):
    # the runner prints the hook order per stage before training (what `fastrun hooks` prints)
    work = tmp_path / 'w'
    logged = _train(config, work)
    order = logged.split('Hooks will be executed in the following order:')[1].split(' - INFO - ')[0]
    rows = _hook_rows(order)
    assert rows, 'no hooks printed'
    for name, pri in rows:
        if name in SPEC_PRIORITIES:
            assert pri == SPEC_PRIORITIES[name], (name, pri)
    names = {n for n, _ in rows}
    assert {'OptimizerHook', 'CheckpointHook', 'IterTimerHook', 'TextLoggerHook'} <= names
    if 'ema' in config:
        assert 'EMAHook' in names
    if config.endswith('save_best.py'):  # the spec's save_best=True keeps the best weights
        assert os.path.isfile(work / 'best_accuracy_top-1_epoch_1.pth')
    if 'custom_hook' in config:
        assert 'MyHook' in names
    if 'log_config' in config:
        assert 'TensorboardLoggerHook' in names
    assert os.path.isfile(work / 'epoch_1.pth')
    if 'log_config' in config:
        assert os.listdir(work / 'tf_logs')
