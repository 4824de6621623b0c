"""The mmcv 1.x logger hooks for DVCLive, Neptune, ClearML, Segmind and PAVI.

DVCLive, Neptune (offline mode) and ClearML (offline mode) run for real when installed, and
what they wrote is read back; Segmind's tracking SDK and PAVI's SDK cannot be installed with
this project's other packages (see the hooks), so only their build-time errors are tested.
"""
import glob
import json
import logging
import re
import signal
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

import fastrun.hooks.logger.clearml
import fastrun.hooks.logger.dvclive
import fastrun.hooks.logger.neptune
import fastrun.hooks.logger.pavi
import fastrun.hooks.logger.segmind
import fastrun.hooks.logger.text  # noqa: F401
from fastrun import HOOKS, Hook, Runner
from fastrun.checkpoint import read_checkpoint
from fastrun.hooks.logger.base import LoggerHook

HOOK_MODULES = {
    'DvcliveLoggerHook': fastrun.hooks.logger.dvclive,
    'NeptuneLoggerHook': fastrun.hooks.logger.neptune,
    'ClearMLLoggerHook': fastrun.hooks.logger.clearml,
    'SegmindLoggerHook': fastrun.hooks.logger.segmind,
    'PaviLoggerHook': fastrun.hooks.logger.pavi,
}

N_TRAIN, N_VAL, INTERVAL = 5, 3, 2


class Net(torch.nn.Module):
    """A linear model that keeps every loss it logged, per mode, to compute the averages."""

    def __init__(self, fail_at=None):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(2, 1)
        self.logged = {'train': [], 'val': []}
        self.fail_at = fail_at

    def forward(self, x):
        return self.linear(x)

    def _step(self, batch, mode):
        if mode == 'train' and len(self.logged['train']) + 1 == self.fail_at:
            raise RuntimeError('boom')
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.logged[mode].append(loss.detach().item())  # the test's own record, not fastrun's
        return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(x))

    def train_step(self, batch, optimizer=None, **kwargs):
        return self._step(batch, 'train')

    def val_step(self, batch, optimizer=None, **kwargs):
        return self._step(batch, 'val')


class Evaluation(Hook):
    """Puts an accuracy in the log output after each train epoch, as mmcls' EvalHook does."""

    def after_train_epoch(self, runner):
        runner.log_buffer.output['accuracy'] = 50.0 + runner.epoch
        runner.log_buffer.ready = True


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.train_lines = []

    def emit(self, record):
        if record.getMessage().startswith('Epoch ['):
            self.train_lines.append(record.getMessage())


def loader(n, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(2, 2, generator=g), torch.randn(2, 1, generator=g)) for _ in range(n)]


def make_runner(tmp_path, hooks, max_epochs=2, model=None):
    model = model or Net()
    logger = logging.getLogger(f'fastrun-more-loggers.{tmp_path.name}')
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    lines = Lines()
    logger.addHandler(lines)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    runner = Runner(model, optimizer=optimizer, work_dir=str(tmp_path / 'work'), logger=logger,
                    max_epochs=max_epochs)
    runner.register_training_hooks(None, optimizer_config=dict(),
                                   log_config=dict(interval=INTERVAL, hooks=hooks))
    return runner, lines


def run(runner, with_val=True):
    if with_val:
        runner.run([loader(N_TRAIN, 0), loader(N_VAL, 1)], [('train', 1), ('val', 1)])
    else:
        runner.run([loader(N_TRAIN, 0)], [('train', 1)])


def mean(values):
    return sum(values) / len(values)


def train_windows(model, epochs=2):
    """(global iteration, mean loss) of each full ``INTERVAL`` window of each epoch."""
    losses = model.logged['train']
    return [(e * N_TRAIN + k, mean(losses[e * N_TRAIN + k - INTERVAL:e * N_TRAIN + k]))
            for e in range(epochs) for k in range(INTERVAL, N_TRAIN + 1, INTERVAL)]


def val_means(model, epochs=2):
    losses = model.logged['val']
    return [mean(losses[e * N_VAL:(e + 1) * N_VAL]) for e in range(epochs)]


def approx(pairs):
    return [(step, pytest.approx(value, rel=1e-6)) for step, value in pairs]


# --------------------------------------------------------------------------- registry, errors


@pytest.mark.parametrize('name', sorted(HOOK_MODULES))
def test_registered_under_the_mmcv_names(name):
    cls = HOOKS.get(name)
    assert cls is getattr(HOOK_MODULES[name], name)
    assert issubclass(cls, LoggerHook)


@pytest.mark.parametrize('name, blocked, message', [
    ('DvcliveLoggerHook', 'dvclive', 'pip install fastrun[dvclive]'),
    ('NeptuneLoggerHook', 'neptune', 'pip install fastrun[neptune]'),
    ('ClearMLLoggerHook', 'clearml', 'pip install fastrun[clearml]'),
    ('SegmindLoggerHook', 'segmind', 'pip install fastrun[segmind]'),
    ('PaviLoggerHook', 'pavi', 'ask the PAVI team'),
])
def test_a_missing_package_fails_when_the_hook_is_built(monkeypatch, tmp_path, name, blocked,
                                                        message):
    monkeypatch.setitem(sys.modules, blocked, None)
    runner = Runner(Net(), work_dir=str(tmp_path), max_epochs=1)
    with pytest.raises(ImportError, match=re.escape(message)):
        runner.register_logger_hooks(dict(interval=2, hooks=[dict(type=name)]))
    assert not any(isinstance(h, LoggerHook) for h in runner.hooks)


def test_a_segmind_release_without_tracking_is_named(monkeypatch):
    # segmind >= 0.2 on PyPI is an API client: a package without the ``tracking`` modules.
    api_client = types.ModuleType('segmind')
    api_client.__version__ = '1.3.0'
    monkeypatch.setitem(sys.modules, 'segmind', api_client)
    message = re.escape('segmind 1.3.0 has no experiment tracking')
    with pytest.raises(ImportError, match=message) as e:
        HOOKS.build(dict(type='SegmindLoggerHook'))
    assert 'segmind>=0.1.9,<0.2' in str(e.value)


def test_the_pypi_pavi_placeholder_is_named(monkeypatch):
    # The "pavi" package on PyPI is a module holding only ``name = "pavi"``.
    placeholder = types.ModuleType('pavi')
    placeholder.name = 'pavi'
    monkeypatch.setitem(sys.modules, 'pavi', placeholder)
    with pytest.raises(ImportError, match='the installed pavi package has no SummaryWriter'):
        HOOKS.build(dict(type='PaviLoggerHook'))


def test_pavi_session_text_is_the_config_as_yaml(tmp_path):
    # What PAVI is given as session_text, from runner.meta as mmcv's tools/train.py sets it.
    session_text = fastrun.hooks.logger.pavi.PaviLoggerHook._session_text
    runner = Runner(Net(), work_dir=str(tmp_path), max_iters=7)
    assert session_text(runner) is None
    runner.meta = dict(config_dict=dict(lr=np.float32(0.5), sizes=(1, 2), ids={3}, max_iter=9))
    assert yaml.safe_load(session_text(runner)) == dict(lr=0.5, sizes=[1, 2], ids=[3], max_iter=9)
    config_file = tmp_path / 'config.py'
    config_file.write_text('model = dict(type="Net", depth=2)\n')
    runner.meta = dict(config_file=str(config_file))
    assert yaml.safe_load(session_text(runner)) == dict(model=dict(type='Net', depth=2), max_iter=7)
    runner.meta = dict(config_dict='lr = 0.1')
    with pytest.raises(TypeError, match='has to be a dict'):
        session_text(runner)


# --------------------------------------------------------------------------- DVCLive


@pytest.fixture
def dvclive(monkeypatch, tmp_path):
    dvclive = pytest.importorskip('dvclive',
                                  reason='dvclive is not installed (pip install fastrun[dvclive])')
    # Live writes dvc.yaml to the current directory, and would find a DVC repository there.
    monkeypatch.chdir(tmp_path)
    return dvclive


def dvclive_series(folder, name):
    """(step, value) rows of ``plots/metrics/<name>.tsv``."""
    with open(folder / 'plots' / 'metrics' / f'{name}.tsv') as f:
        header, *rows = [line.rstrip('\n').split('\t') for line in f]
    assert header == ['step', name.rsplit('/', 1)[-1]]
    return [(int(step), float(value)) for step, value in rows]


def test_dvclive_by_iteration(tmp_path, dvclive):
    hooks = [dict(type='DvcliveLoggerHook', by_epoch=False, dir=str(tmp_path / 'live'))]
    runner, _ = make_runner(tmp_path, hooks)
    runner.register_hook(Evaluation(), 'LOW')
    run(runner)
    live, losses = tmp_path / 'live', runner.model.logged['train']
    # Every INTERVAL runner iterations, at step iter + 1 (the buffer restarts with each epoch:
    # iteration 6 is averaged alone); an evaluation and a val epoch at the step after an epoch.
    assert dvclive_series(live, 'train/loss') == approx(
        [(2, mean(losses[0:2])), (4, mean(losses[2:4])), (6, losses[5]),
         (8, mean(losses[6:8])), (10, mean(losses[8:10]))])
    assert dvclive_series(live, 'val/accuracy') == [(6, 50.0), (11, 51.0)]
    assert dvclive_series(live, 'val/loss') == approx(zip([6, 11], val_means(runner.model)))
    steps = [2, 4, 6, 6, 6, 8, 10, 11, 11]
    assert dvclive_series(live, 'learning_rate') == [(s, 0.1) for s in steps]
    assert dvclive_series(live, 'momentum') == [(s, 0.9) for s in steps]
    assert not (live / 'plots' / 'metrics' / 'train' / 'time.tsv').exists()
    with open(live / 'metrics.json') as f:
        summary = json.load(f)
    assert summary == dict(train=dict(loss=pytest.approx(mean(losses[8:10]))),
                           val=dict(loss=pytest.approx(val_means(runner.model)[-1]), accuracy=51.0),
                           learning_rate=0.1, momentum=0.9, step=11)
    hook = next(h for h in runner.hooks if isinstance(h, LoggerHook))
    # the Live it built stays on the hook after the run, as in mmcv (ended: see test_mmcv_compat)
    assert isinstance(hook.dvclive, dvclive.Live) and hook.dvclive.dir == str(live)


def test_dvclive_by_epoch_with_a_text_logger(tmp_path, dvclive):
    model_file = tmp_path / 'models' / 'model.pth'
    hooks = [dict(type='TextLoggerHook'),
             dict(type='DvcliveLoggerHook', dir=str(tmp_path / 'live'), model_file=str(model_file))]
    runner, lines = make_runner(tmp_path, hooks)
    runner.register_hook(Evaluation(), 'LOW')
    run(runner)
    live, losses = tmp_path / 'live', runner.model.logged['train']
    # One point per epoch, at step epoch: the last INTERVAL iterations of the epoch.
    assert dvclive_series(live, 'train/loss') == approx([(1, mean(losses[3:5])),
                                                         (2, mean(losses[8:10]))])
    assert dvclive_series(live, 'val/accuracy') == [(1, 50.0), (2, 51.0)]
    assert dvclive_series(live, 'val/loss') == approx(zip([1, 2], val_means(runner.model)))
    # The text logger logs as it would alone: every INTERVAL iterations, not every one.
    assert [re.match(r'Epoch \[(\d)\]\[(\d)/5\]', line).groups() for line in lines.train_lines] \
        == [('1', '2'), ('1', '4'), ('2', '2'), ('2', '4')]
    # model_file: the checkpoint of the last epoch, and no latest.pth link next to it.
    assert sorted(p.name for p in model_file.parent.iterdir()) == ['model.pth']
    assert read_checkpoint(str(model_file))['meta']['epoch'] == 2


def test_dvclive_alone_logs_each_epoch_and_leaves_a_given_live_open(tmp_path, dvclive):
    given = dvclive.Live(dir=str(tmp_path / 'mine'), save_dvc_exp=False)
    hook = HOOKS.build(dict(type='DvcliveLoggerHook', dvclive=given, interval=INTERVAL))
    runner, _ = make_runner(tmp_path, [])
    runner.register_hook(hook, 'VERY_LOW')
    run(runner, with_val=False)
    losses = runner.model.logged['train']
    assert dvclive_series(tmp_path / 'mine', 'train/loss') == approx(
        [(1, mean(losses[3:5])), (2, mean(losses[8:10]))])
    assert hook.dvclive is given  # neither replaced nor ended: the caller goes on with it
    given.log_metric('test/accuracy', 0.75)
    given.end()
    with open(tmp_path / 'mine' / 'metrics.json') as f:
        assert json.load(f)['test'] == dict(accuracy=0.75)


def test_dvclive_crash_ends_the_live(tmp_path, dvclive):
    hooks = [dict(type='DvcliveLoggerHook', by_epoch=False, dir=str(tmp_path / 'live'))]
    runner, _ = make_runner(tmp_path, hooks, model=Net(fail_at=4))
    with pytest.raises(RuntimeError, match='boom'):
        run(runner)
    hook = next(h for h in runner.hooks if isinstance(h, LoggerHook))
    assert isinstance(hook.dvclive, dvclive.Live)
    hook.flush_and_close(runner)  # again: harmless
    with open(tmp_path / 'live' / 'metrics.json') as f:
        summary = json.load(f)
    assert summary['step'] == 2
    assert summary['train']['loss'] == pytest.approx(mean(runner.model.logged['train'][:2]))


def test_dvclive_options_are_checked_when_built(dvclive):
    with pytest.raises(TypeError, match='dirr'):
        HOOKS.build(dict(type='DvcliveLoggerHook', dirr='live'))


# --------------------------------------------------------------------------- Neptune


@pytest.fixture
def neptune(monkeypatch, tmp_path):
    neptune = pytest.importorskip('neptune',
                                  reason='neptune is not installed (pip install fastrun[neptune])')
    monkeypatch.chdir(tmp_path)  # offline runs are written to ./.neptune
    return neptune


NEPTUNE_OFFLINE = dict(mode='offline', capture_stdout=False, capture_stderr=False,
                       capture_hardware_metrics=False, capture_traceback=False, git_ref=False,
                       source_files=[])


def neptune_series(folder):
    """{path: [(step, value)]} of the float series an offline run wrote."""
    (log_file,) = glob.glob(str(folder / '.neptune' / 'offline' / '*' / 'data-1.log'))
    series = {}
    with open(log_file) as f:
        for line in f:
            op = json.loads(line)['obj']
            if op['type'] == 'LogFloats':
                series.setdefault('/'.join(op['path']), []).extend(
                    (v['step'], v['value']) for v in op['values'])
    return series


def test_neptune_offline_run(tmp_path, neptune):
    hooks = [dict(type='NeptuneLoggerHook', init_kwargs=dict(NEPTUNE_OFFLINE, name='fastrun'))]
    runner, _ = make_runner(tmp_path, hooks)
    run(runner)
    series = neptune_series(tmp_path)
    assert series['train/loss'] == approx(train_windows(runner.model))
    assert series['val/loss'] == approx(zip([6, 11], val_means(runner.model)))
    assert series['learning_rate'] == [(s, 0.1) for s in (2, 4, 6, 7, 9, 11)]
    assert 'train/time' not in series
    hook = next(h for h in runner.hooks if isinstance(h, LoggerHook))
    assert hook.run.get_state() == 'stopped'  # stopped, and kept on the hook as in mmcv


def test_neptune_without_step(tmp_path, neptune):
    hooks = [dict(type='NeptuneLoggerHook', init_kwargs=NEPTUNE_OFFLINE, with_step=False)]
    runner, _ = make_runner(tmp_path, hooks, max_epochs=1)
    run(runner, with_val=False)
    series = neptune_series(tmp_path)
    windows = train_windows(runner.model, epochs=1)
    # Neptune numbers the values itself; the iterations are a series of their own.
    assert [v for _, v in series['train/loss']] == pytest.approx([v for _, v in windows], rel=1e-6)
    assert [v for _, v in series['global_step']] == [2, 4]


# --------------------------------------------------------------------------- ClearML


@pytest.fixture
def clearml(monkeypatch, tmp_path):
    # Read when clearml loads its configuration: offline sessions under tmp_path, and reports
    # written by a thread (the default reporter process flushes every few seconds).
    conf = tmp_path / 'clearml.conf'
    conf.write_text('sdk { storage { cache { default_base_dir: "%s" } }\n'
                    '      development { report_use_subprocess: false\n'
                    '                    store_uncommitted_code_diff: false } }\n'
                    % (tmp_path / 'clearml-cache'))
    monkeypatch.setenv('CLEARML_CONFIG_FILE', str(conf))
    monkeypatch.setenv('HOME', str(tmp_path))  # ClearML keeps its session state in ~/.clearml
    clearml = pytest.importorskip('clearml',
                                  reason='clearml is not installed (pip install fastrun[clearml])')
    # Offline stays on for this process: going back online needs a configured server.
    clearml.Task.set_offline(True)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield clearml
    task = clearml.Task.current_task()
    if task is not None:
        task.close()
    # Closing puts back the signal handlers ClearML found at Task.init: the runner's, which
    # ended with the run.
    for s, handler in handlers.items():
        signal.signal(s, handler)


@pytest.mark.filterwarnings('ignore::DeprecationWarning')  # clearml's bundled config parser
def test_clearml_offline_task(tmp_path, clearml):
    init_kwargs = dict(project_name='fastrun', task_name='test', reuse_last_task_id=False,
                       auto_connect_frameworks=False, auto_connect_arg_parser=False,
                       auto_resource_monitoring=False, auto_connect_streams=False)
    hooks = [dict(type='ClearMLLoggerHook', init_kwargs=init_kwargs)]
    runner, _ = make_runner(tmp_path, hooks)
    run(runner)
    hook = next(h for h in runner.hooks if isinstance(h, LoggerHook))
    task = clearml.Task.current_task()
    assert hook.task is task and task is not None  # left open after the run, as in mmcv
    with open(task.get_offline_mode_folder() / 'metrics.jsonl') as f:
        events = [e for line in f for e in json.loads(line)]
    scalars = {}
    for e in events:
        assert e['metric'] == e['variant']
        scalars.setdefault(e['metric'], []).append((e['iter'], e['value']))
    assert scalars['train/loss'] == approx(train_windows(runner.model))
    assert scalars['val/loss'] == approx(zip([6, 11], val_means(runner.model)))
    assert scalars['momentum'] == [(s, 0.9) for s in (2, 4, 6, 7, 9, 11)]
