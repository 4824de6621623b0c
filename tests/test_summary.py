"""The end of a run: its summary (time, best metric, files) and the optional per-hook time table."""
import glob
import json
import os
import re

import pytest
import torch

from fastrun import EvalHook, Hook, Runner
from fastrun.cli import main
from fastrun.hook import DISPATCH_NAMES, stage_method
from fastrun.summary import RunSummary, format_seconds
from tests.conftest import make_loader
from tests.test_cli import BASE

ITERS_PER_EPOCH = 4  # BASE: 64 samples, 16 per batch
EPOCHS = 2


def summary_of(work):
    """The summary lines at the end of the text log of the run in ``work``."""
    [log] = glob.glob(os.path.join(work, '*.log'))
    with open(log) as f:
        lines = f.read().splitlines()
    start = max(i for i, line in enumerate(lines) if ' - INFO - Run finished in ' in line)
    return [lines[start].split(' - INFO - ', 1)[1]] + lines[start + 1:]


def val_records(work):
    [path] = glob.glob(os.path.join(work, '*.log.json'))
    with open(path) as f:
        return [r for r in map(json.loads, f) if r.get('mode') == 'val']


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'base.py').write_text(BASE)
    return 'base.py'


def test_a_run_ends_with_time_best_metric_and_its_files(cfg, core):
    assert main(['train', cfg, '--work-dir', 'work']) == 0
    lines = summary_of('work')
    assert re.fullmatch(rf'Run finished in [\d.]+ m?s: {EPOCHS} epochs, {EPOCHS * ITERS_PER_EPOCH} '
                        r'iterations, [\d.]+ (µs|ms|s) per iteration, evaluations and '
                        r'checkpoints included', lines[0]), lines[0]
    records = val_records('work')
    best = max(records, key=lambda r: r['accuracy_top-1'])  # max() keeps the first of equals
    assert lines[1] == (f"Best accuracy_top-1: {best['accuracy_top-1']:.4f} at epoch {best['epoch']} "
                        f"(of {EPOCHS} evaluations; the last: {records[-1]['accuracy_top-1']:.4f})")
    assert lines[2] == f'Checkpoints: work{os.sep} (latest.pth -> epoch_2.pth)'
    assert lines[3] == f"Best checkpoint: work{os.sep}best_accuracy_top-1_epoch_{best['epoch']}.pth"
    assert os.path.isfile(f"work/best_accuracy_top-1_epoch_{best['epoch']}.pth")
    logs = lines[4][len('Logs: '):].split(', ')
    assert lines[4].startswith('Logs: ') and [os.path.splitext(p)[1] for p in logs] == ['.log', '.json']
    assert all(os.path.isfile(p) and os.path.dirname(p) == 'work' for p in logs)
    assert lines[5:] == []  # no hook table unless asked


@pytest.mark.parametrize('how', [['--hook-times'], ['--cfg-options', 'profiling.hook_times=True']])
def test_hook_times_count_every_call_of_every_hook_at_every_stage(cfg, how):
    assert main(['train', cfg, '--work-dir', 'work', *how]) == 0
    lines = summary_of('work')
    head = next(i for i, line in enumerate(lines) if line.startswith('Time in hooks: '))
    run_s = _seconds(re.match(r'Run finished in ([\d.]+ m?s)', lines[0]).group(1))
    in_hooks = re.match(r'Time in hooks: ([\d.]+ (?:µs|ms|s)), (\d+)% of the run', lines[head])
    assert lines[head + 1].split() == ['stage', 'hook', 'calls', 'total', 'per', 'call']
    rows = {}
    for line in lines[head + 2:]:
        stage, hook, calls, total, unit, per, per_unit = line.split()
        rows[stage, hook] = int(calls)
        assert _seconds(f'{per} {per_unit}') <= _seconds(f'{total} {unit}') * 1.01
    iters = EPOCHS * ITERS_PER_EPOCH
    assert rows[('after_train_iter', 'OptimizerHook')] == iters
    assert rows[('before_train_iter', 'StepLrUpdaterHook')] == iters
    assert rows[('after_train_iter', 'IterTimerHook')] == iters
    assert rows[('after_train_epoch', 'CheckpointHook')] == EPOCHS
    assert rows[('after_train_epoch', 'EvalHook')] == EPOCHS
    assert rows[('before_run', 'TextLoggerHook')] == 1  # timed from the run's first stage on
    assert rows[('after_run', 'TextLoggerHook')] == 1
    # The table follows the dispatch order: stages in run order, hooks by priority within one.
    stages = [stage for stage, _ in rows]
    assert stages == sorted(stages, key=DISPATCH_NAMES.index)
    assert [h for s, h in rows if s == 'after_train_iter'] == [
        'OptimizerHook', 'CheckInvalidLossHook', 'IterTimerHook', 'TextLoggerHook']
    assert _seconds(in_hooks.group(1)) <= run_s


def _seconds(text):
    value, unit = text.split()
    return float(value) * {'s': 1, 'ms': 1e-3, 'µs': 1e-6}[unit]


class Counter(Hook):
    def before_train_iter(self, runner):
        pass

    def after_train_epoch(self, runner):
        pass


def _runner(toy_model, tmp_path, hooks=()):
    runner = Runner(toy_model, optimizer=torch.optim.SGD(toy_model.parameters(), lr=0.01),
                    work_dir=str(tmp_path), max_epochs=2)
    runner.register_training_hooks(lr_config=None, optimizer_config=dict(grad_clip=None))
    for hook in hooks:
        runner.register_hook(hook)
    return runner


def _plain_tables(runner):
    return [tuple(fn for fn in (stage_method(h, name) for h in runner.hooks) if fn is not None)
            for name in DISPATCH_NAMES]


def test_off_the_tables_hold_the_hooks_own_methods_and_on_only_until_the_summary(
        core, toy_model, tmp_path):
    runner = _runner(toy_model, tmp_path, [Counter()])
    RunSummary(runner)  # hook times off: nothing is wrapped, nothing costs a call more
    tables = [runner._dispatch.table(name) for name in DISPATCH_NAMES]
    assert tables == _plain_tables(runner)
    summary = RunSummary(runner, hook_times=True)
    wrapped = runner._dispatch.table('before_train_iter')
    assert len(wrapped) == 2 and all(fn.__wrapped__ in _plain_tables(runner)[2] for fn in wrapped)
    runner.run([make_loader()], [('train', 1)])
    calls = {(stage, name): n for stage, name, n, _ in summary.timer.rows()}
    assert calls[('before_train_iter', 'Counter')] == 8
    assert calls[('after_train_epoch', 'Counter')] == 2
    summary.log()
    assert [runner._dispatch.table(name) for name in DISPATCH_NAMES] == _plain_tables(runner)


class Boom(Hook):
    def after_train_iter(self, runner):
        raise RuntimeError('boom')


def test_an_error_in_a_timed_hook_still_names_the_hook(core, toy_model, tmp_path):
    runner = _runner(toy_model, tmp_path, [Boom()])
    RunSummary(runner, hook_times=True)
    with pytest.raises(RuntimeError, match='after_train_iter of Boom: boom'):
        runner.run([make_loader()], [('train', 1)])


class ScriptedScores(torch.utils.data.Dataset):
    """A val set whose evaluate() returns the next of ``scores`` as ``loss``."""

    def __init__(self, scores):
        self.scores = list(scores)

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return torch.zeros(1)

    def evaluate(self, results, logger=None, **kwargs):
        return {'loss': self.scores.pop(0)}


def test_a_loss_is_best_when_lowest_and_the_first_of_equal_scores_wins(toy_model, tmp_path):
    runner = Runner(toy_model, optimizer=torch.optim.SGD(toy_model.parameters(), lr=0.01),
                    work_dir=str(tmp_path), max_epochs=4)
    runner.register_training_hooks(lr_config=None, optimizer_config=dict(grad_clip=None))
    loader = torch.utils.data.DataLoader(ScriptedScores([0.9, 0.4, 0.4, 0.7]))
    runner.register_hook(EvalHook(loader, test_fn=lambda model, data: []), priority='LOW')
    summary = RunSummary(runner)
    runner.run([make_loader()], [('train', 1)])
    lines = summary.log()
    assert lines[1] == 'Best loss: 0.4000 at epoch 2 (of 4 evaluations; the last: 0.7000)'


@pytest.mark.parametrize('seconds, text', [(5e-6, '5 µs'), (8.14e-6, '8.14 µs'), (4.2e-4, '420 µs'),
                                           (3.21e-3, '3.21 ms'), (0.5, '500 ms'),
                                           (12.34, '12.3 s'), (245, '0:04:05')])
def test_durations_read_at_a_glance(seconds, text):
    assert format_seconds(seconds) == text
