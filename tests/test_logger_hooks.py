"""The logger hooks on real runs: text lines, JSON records, TensorBoard events, W&B offline runs
and MLflow SQLite stores are read back and checked against the values the model returned."""
import glob
import json
import logging
import os
import re
import struct
import sys

import pytest
import torch
import torch.nn.functional as F

import fastrun.hooks.logger  # noqa: F401  (registers the logger hooks)
from fastrun import HOOKS, Hook, Runner, build_from_cfg
from fastrun.hooks.logger import LoggerHook, TensorboardLoggerHook, TextLoggerHook
from fastrun.optional import require

LINE_RE = {
    'epoch': re.compile(r'^Epoch \[(\d+)\]\[(\d+)/(\d+)\]\tlr: (\S+), eta: \d+:\d\d:\d\d, '
                        r'time: \d+\.\d{3}, data_time: \d+\.\d{3}, (?:memory: (\d+), )?loss: (\S+)$'),
    'iter': re.compile(r'^Iter \[(\d+)/(\d+)\]\tlr: (\S+), eta: \d+:\d\d:\d\d, '
                       r'time: \d+\.\d{3}, data_time: \d+\.\d{3}, (?:memory: (\d+), )?loss: (\S+)$'),
}


# --------------------------------------------------------------------------- helpers


class Net(torch.nn.Module):
    """A linear model that remembers every loss it logged, per mode, to compute expected averages."""

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
        self.logged[mode].append(loss.detach().clone())
        return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(x))

    def train_step(self, batch, optimizer=None, **kwargs):
        return self._step(batch, 'train')

    def val_step(self, batch, optimizer=None, **kwargs):
        return self._step(batch, 'val')


def loader(n_batches, seed=0, device='cpu'):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(2, 2, generator=g).to(device), torch.randn(2, 1, generator=g).to(device))
            for _ in range(n_batches)]


class Lines(logging.Handler):
    """Collects the messages of a logger."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def log_lines(self):
        return [m for m in self.messages if m.startswith(('Epoch', 'Iter'))]


def make_runner(tmp_path, hooks, interval=2, model=None, max_epochs=None, max_iters=None,
                meta=None, optimizer='sgd'):
    model = model or Net()
    logger = logging.getLogger(f'fastrun-test.{tmp_path.name}')
    logger.handlers.clear()
    lines = Lines()
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if optimizer == 'sgd':
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    runner = Runner(model, optimizer=optimizer, work_dir=str(tmp_path / 'work'), logger=logger,
                    meta=meta, max_epochs=max_epochs, max_iters=max_iters)
    runner.register_training_hooks(None, optimizer_config=dict() if optimizer is not None else None,
                                   log_config=dict(interval=interval, hooks=hooks))
    return runner, lines


def mean(values):
    return sum(float(v) for v in values) / len(values)


def json_records(runner):
    with open(os.path.join(runner.work_dir, f'{runner.timestamp}.log.json')) as f:
        return [json.loads(line) for line in f]


def tb_scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


class LinearLr(Hook):
    """lr = 0.01 * (1-based iteration), so each log shows the lr of its own iteration."""

    def before_train_iter(self, runner):
        for group in runner.optimizer.param_groups:
            group['lr'] = 0.01 * (runner.iter + 1)


class FakeEval(Hook):
    """Puts evaluation results in the log output after each train epoch, as mmcls' EvalHook."""

    def after_train_epoch(self, runner):
        runner.log_buffer.output['eval_iter_num'] = 3
        runner.log_buffer.output['accuracy_top-1'] = 50.0 + runner.epoch
        runner.log_buffer.ready = True


class Probe(Hook):
    """Records, after the loggers, whether the newest logged loss is still a device tensor."""

    def __init__(self):
        self.seen = []

    def after_train_iter(self, runner):
        last = runner.log_buffer.val_history['loss'][-1]
        self.seen.append((runner.iter + 1, isinstance(last, torch.Tensor)))


def expected_epoch_logs(model, n_train, interval, n_val, epochs):
    """(mode, epoch, iter, mean loss) of every log of an epoch-based train+val run."""
    out = []
    train, val = model.logged['train'], model.logged['val']
    for e in range(epochs):
        for k in range(interval, n_train + 1, interval):
            out.append(('train', e + 1, k, mean(train[e * n_train + k - interval:e * n_train + k])))
        out.append(('val', e + 1, n_val, mean(val[e * n_val:(e + 1) * n_val])))
    return out


# --------------------------------------------------------------------------- text and JSON


def test_text_and_json_logs_epoch_based(tmp_path, core):
    meta = dict(exp_name='toy', env_info='python', config='lr = 0.1', seed=3)
    runner, lines = make_runner(tmp_path, [dict(type='TextLoggerHook')], max_epochs=2, meta=meta)
    runner.register_hook(LinearLr(), 'VERY_HIGH')
    runner.run([loader(4), loader(3, seed=1)], [('train', 1), ('val', 1)])
    expected = expected_epoch_logs(runner.model, 4, 2, 3, 2)

    # The human lines, in mmcv's format.
    logged = lines.log_lines()
    assert len(logged) == len(expected)
    for line, (mode, epoch, it, loss) in zip(logged, expected):
        if mode == 'train':
            m = LINE_RE['epoch'].match(line)
            assert m, line
            global_iter = (epoch - 1) * 4 + it
            assert m.group(1, 2, 3) == (str(epoch), str(it), '4')
            assert m.group(4) == f'{0.01 * global_iter:.3e}'
            assert m.group(5) is None  # memory only with CUDA (this test runs the model on CPU)
            assert m.group(6) == f'{loss:.4f}'
        else:
            assert line == f'Epoch(val) [{epoch}][{it}]\tloss: {loss:.4f}'
    assert lines.messages.count('Exp name: toy') == 4  # at each end of a train or val epoch

    # The JSON records: meta first, then one object per log, values rounded to 5 decimals.
    records = json_records(runner)
    assert records[0] == meta
    assert len(records) == 1 + len(expected)
    for rec, (mode, epoch, it, loss) in zip(records[1:], expected):
        assert (rec['mode'], rec['epoch'], rec['iter']) == (mode, epoch, it)
        assert rec['loss'] == round(loss, 5)
        assert set(rec) == {'mode', 'epoch', 'iter', 'lr', 'loss', 'time', 'data_time'}
        assert rec['time'] >= 0 and rec['data_time'] >= 0
    train_recs = [r for r in records[1:] if r['mode'] == 'train']
    assert [r['lr'] for r in train_recs] == [round(0.01 * k, 5) for k in (2, 4, 6, 8)]


def test_text_and_json_logs_iter_based(tmp_path, core):
    runner, lines = make_runner(tmp_path, [dict(type='TextLoggerHook')], interval=2, max_iters=6)
    hook = next(h for h in runner.hooks if isinstance(h, TextLoggerHook))
    assert hook.by_epoch is False and hook.interval == 2  # the iter-based runner's defaults
    runner.run([loader(4)], [('train', 1)])
    train = runner.model.logged['train']
    assert len(train) == 6

    logged = lines.log_lines()
    assert [LINE_RE['iter'].match(line).group(1, 2) for line in logged] == \
        [('2', '6'), ('4', '6'), ('6', '6')]
    assert [LINE_RE['iter'].match(line).group(5) for line in logged] == \
        [f'{mean(train[k - 2:k]):.4f}' for k in (2, 4, 6)]

    records = json_records(runner)
    # No meta line (the runner has none); epochs come from the loader's passes, as mmcv.
    assert [(r['mode'], r['epoch'], r['iter']) for r in records] == \
        [('train', 1, 2), ('train', 1, 4), ('train', 2, 6)]
    assert [r['loss'] for r in records] == [round(mean(train[k - 2:k]), 5) for k in (2, 4, 6)]
    assert all(r['lr'] == 0.1 for r in records)


def test_ignore_last_false_logs_the_end_of_each_epoch(tmp_path):
    hooks = [dict(type='TextLoggerHook', ignore_last=False)]
    runner, _ = make_runner(tmp_path, hooks, interval=3, max_epochs=2)
    runner.run([loader(4)], [('train', 1)])
    train = runner.model.logged['train']
    records = json_records(runner)
    assert [(r['epoch'], r['iter']) for r in records] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    # The end-of-epoch record averages the last `interval` values, as mmcv ("more stable").
    assert [r['loss'] for r in records] == [round(mean(train[a:b]), 5)
                                            for a, b in ((0, 3), (1, 4), (4, 7), (5, 8))]


def test_interval_default_and_ignore_last(tmp_path):
    runner, _ = make_runner(tmp_path, [dict(type='TextLoggerHook')], interval=3, max_epochs=1)
    runner.run([loader(4)], [('train', 1)])
    assert [(r['epoch'], r['iter']) for r in json_records(runner)] == [(1, 3)]


def test_loggers_never_sync_between_logs(tmp_path):
    runner, _ = make_runner(tmp_path, [dict(type='TextLoggerHook'),
                                       dict(type='TensorboardLoggerHook')], max_epochs=1)
    probe = Probe()
    runner.register_hook(probe, 'LOWEST')
    runner.run([loader(4)], [('train', 1)])
    # Iterations 1 and 3 do not log: their values are still tensors after the loggers ran.
    assert probe.seen == [(1, True), (2, False), (3, True), (4, False)]


def test_eval_results_in_train_mode_are_logged_as_val(tmp_path):
    hooks = [dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]
    runner, lines = make_runner(tmp_path, hooks, max_epochs=2)
    runner.register_hook(FakeEval(), 'LOW')
    runner.run([loader(4)], [('train', 1)])
    evals = [line for line in lines.log_lines() if line.startswith('Epoch(val)')]
    # eval_iter_num replaces the iteration and is not logged as a value.
    assert evals == ['Epoch(val) [1][3]\taccuracy_top-1: 50.0000',
                     'Epoch(val) [2][3]\taccuracy_top-1: 51.0000']
    records = [r for r in json_records(runner) if r['mode'] == 'val']
    assert records == [dict(mode='val', epoch=1, iter=3, lr=0.1, **{'accuracy_top-1': 50.0}),
                       dict(mode='val', epoch=2, iter=3, lr=0.1, **{'accuracy_top-1': 51.0})]
    scalars = tb_scalars(tmp_path / 'work' / 'tf_logs')
    assert scalars['val/accuracy_top-1'] == [(5, 50.0), (9, 51.0)]
    # Only the last logger hook clears the output, so both saw it; nothing is logged twice.
    assert [h.reset_flag for h in runner.hooks if isinstance(h, LoggerHook)] == [False, True]
    assert [s for s, _ in scalars['train/loss']] == [2, 4, 6, 8]


def test_lr_of_each_optimizer(tmp_path):
    class TwoOptimNet(Net):
        def train_step(self, batch, optimizer=None, **kwargs):
            out = self._step(batch, 'train')
            for opt in optimizer.values():
                opt.zero_grad()
            out['loss'].backward()
            for opt in optimizer.values():
                opt.step()
            return out

    model = TwoOptimNet()
    optimizers = dict(gen=torch.optim.SGD([model.linear.weight], lr=0.1),
                      disc=torch.optim.Adam([model.linear.bias], lr=0.02, betas=(0.5, 0.999)))
    logger = logging.getLogger(f'fastrun-test.{tmp_path.name}')
    logger.handlers.clear()
    lines = Lines()
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    runner = Runner(model, optimizer=optimizers, work_dir=str(tmp_path / 'work'), logger=logger,
                    max_epochs=1)
    runner.register_training_hooks(None, log_config=dict(interval=2, hooks=[
        dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]))
    runner.run([loader(2)], [('train', 1)])
    assert '\tlr_gen: 1.000e-01 lr_disc: 2.000e-02, eta: ' in lines.log_lines()[0]
    assert json_records(runner)[0]['lr'] == {'gen': 0.1, 'disc': 0.02}
    scalars = tb_scalars(tmp_path / 'work' / 'tf_logs')
    assert {k: v[0][1] for k, v in scalars.items() if '/' in k and not k.startswith('train')} == \
        pytest.approx({'learning_rate/gen': 0.1, 'learning_rate/disc': 0.02,
                       'momentum/gen': 0.0, 'momentum/disc': 0.5})


def test_json_log_is_flushed_after_every_record(tmp_path):
    runner, _ = make_runner(tmp_path, [dict(type='TextLoggerHook')], max_epochs=1)
    seen = []

    class ReadBack(Hook):
        def after_train_iter(self, runner):
            path = os.path.join(runner.work_dir, f'{runner.timestamp}.log.json')
            if not os.path.exists(path):
                seen.append(0)
                return
            with open(path) as f:  # a second reader: sees only what was flushed
                seen.append(len(f.readlines()))

    runner.register_hook(ReadBack(), 'LOWEST')
    runner.run([loader(4)], [('train', 1)])
    assert seen == [0, 1, 1, 2]


def test_a_crash_keeps_and_closes_every_log(tmp_path):
    hooks = [dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]
    runner, _ = make_runner(tmp_path, hooks, model=Net(fail_at=6), max_epochs=3)
    with pytest.raises(RuntimeError, match='boom'):
        runner.run([loader(4)], [('train', 1)])
    train = runner.model.logged['train']
    assert [(r['iter'], r['loss']) for r in json_records(runner)] == \
        [(2, round(mean(train[0:2]), 5)), (4, round(mean(train[2:4]), 5))]
    # The runner closed every logger as the error went by (the TensorBoard writer stays on the
    # hook, as in mmcv, closed); closing again is harmless.
    loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
    assert loggers[0]._json_file is None
    assert loggers[1].writer is not None and loggers[1].writer.all_writers is None
    for hook in loggers:
        hook.flush_and_close(runner)
    scalars = tb_scalars(tmp_path / 'work' / 'tf_logs')
    assert [s for s, _ in scalars['train/loss']] == [2, 4]
    assert scalars['train/loss'][1][1] == pytest.approx(mean(train[2:4]), rel=1e-6)


def test_out_dir_copies_the_logs(tmp_path):
    hooks = [dict(type='TextLoggerHook', out_dir=str(tmp_path / 'out'), keep_local=False)]
    runner, lines = make_runner(tmp_path, hooks, max_epochs=1)
    work = tmp_path / 'work'
    (work / 'sub').mkdir()
    (work / 'sub' / 'config.py').write_text('lr = 0.1\n')
    (work / 'notes.txt').write_text('kept\n')
    runner.run([loader(4)], [('train', 1)])
    out = tmp_path / 'out' / 'work'
    name = f'{runner.timestamp}.log.json'
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file()) == \
        sorted([name, 'sub/config.py'])
    assert len((out / name).read_text().splitlines()) == 2
    assert not (work / name).exists() and not (work / 'sub' / 'config.py').exists()
    assert (work / 'notes.txt').exists()
    assert any(m.startswith('Text logs will be saved to') for m in lines.messages)


def test_text_logger_argument_checks():
    with pytest.raises(ValueError, match='file_client_args'):
        TextLoggerHook(file_client_args=dict(backend='disk'))
    with pytest.raises(ValueError, match="backend 'petrel' .*no fsspec equivalent"):
        TextLoggerHook(out_dir='s3://bucket', file_client_args=dict(backend='petrel'))
    with pytest.raises(ValueError, match='is a URL but file_client_args names the local disk'):
        TextLoggerHook(out_dir='memory://logs', file_client_args=dict(backend='disk'))
    TextLoggerHook(out_dir='logs', file_client_args=dict(backend='disk'))
    TextLoggerHook(out_dir='memory://logs')


def test_is_scalar_and_loggable_tags(tmp_path):
    import numpy as np
    assert all(LoggerHook.is_scalar(v) for v in (1, 2.5, np.float32(1), np.array(2.0),
                                                 torch.tensor(1.0), torch.tensor([1.0])))
    assert not any(LoggerHook.is_scalar(v) for v in ('a', [1.0], torch.ones(2), np.ones(2)))
    assert not LoggerHook.is_scalar(np.array(2.0), include_np=False)
    assert not LoggerHook.is_scalar(torch.tensor(1.0), include_torch=False)

    runner, _ = make_runner(tmp_path, [], max_epochs=1)
    runner.mode = 'train'
    runner.log_buffer.output.update(time=0.1, data_time=0.0, loss=0.5, note='hi', top=[1, 2])
    hook = LoggerHook()
    assert hook.get_loggable_tags(runner) == {
        'train/loss': 0.5, 'train/top': [1, 2], 'learning_rate': 0.1, 'momentum': 0.9}
    assert hook.get_loggable_tags(runner, allow_text=True, add_mode=False,
                                  tags_to_skip=('data_time',))['note'] == 'hi'
    assert 'train/loss' not in hook.get_loggable_tags(runner, allow_scalar=False)
    with pytest.raises(NotImplementedError):
        hook.log(runner)
    runner.mode = None
    with pytest.raises(ValueError, match='mode'):
        hook.get_mode(runner)


# --------------------------------------------------------------------------- TensorBoard


def test_tensorboard_scalars_epoch_based(tmp_path):
    runner, _ = make_runner(tmp_path, [dict(type='TensorboardLoggerHook')], max_epochs=2)
    runner.run([loader(4), loader(3, seed=1)], [('train', 1), ('val', 1)])
    expected = expected_epoch_logs(runner.model, 4, 2, 3, 2)
    scalars = tb_scalars(tmp_path / 'work' / 'tf_logs')
    assert set(scalars) == {'train/loss', 'val/loss', 'learning_rate', 'momentum'}
    # Steps are runner.iter + 1: a val epoch logs after the train epoch's last iteration.
    train = [(s, v) for s, v in scalars['train/loss']]
    assert [s for s, _ in train] == [2, 4, 6, 8]
    assert [v for _, v in train] == pytest.approx([e[3] for e in expected if e[0] == 'train'], rel=1e-6)
    assert [s for s, _ in scalars['val/loss']] == [5, 9]
    assert [v for _, v in scalars['val/loss']] == pytest.approx(
        [e[3] for e in expected if e[0] == 'val'], rel=1e-6)
    assert [s for s, _ in scalars['learning_rate']] == [2, 4, 5, 6, 8, 9]
    assert [v for _, v in scalars['momentum']] == pytest.approx([0.9] * 6)


def test_tensorboard_iter_based_custom_log_dir(tmp_path):
    hooks = [dict(type='TensorboardLoggerHook', log_dir=str(tmp_path / 'tb'))]
    runner, _ = make_runner(tmp_path, hooks, interval=3, max_iters=6)
    runner.run([loader(4)], [('train', 1)])
    train = runner.model.logged['train']
    scalars = tb_scalars(tmp_path / 'tb')
    assert scalars['train/loss'] == [(3, pytest.approx(mean(train[0:3]), rel=1e-6)),
                                     (6, pytest.approx(mean(train[3:6]), rel=1e-6))]
    assert not (tmp_path / 'work' / 'tf_logs').exists()
    hook = next(h for h in runner.hooks if isinstance(h, TensorboardLoggerHook))
    # closed at after_run, and kept on the hook as mmcv keeps it
    assert hook.writer.log_dir == str(tmp_path / 'tb') and hook.writer.all_writers is None


# --------------------------------------------------------------------------- missing packages


@pytest.mark.parametrize('blocked, cfg, extra', [
    (('tensorboard', 'torch.utils.tensorboard'), dict(type='TensorboardLoggerHook'), 'tensorboard'),
    (('wandb',), dict(type='WandbLoggerHook'), 'wandb'),
    (('mlflow',), dict(type='MlflowLoggerHook'), 'mlflow'),
])
def test_missing_package_names_the_pip_extra(monkeypatch, tmp_path, blocked, cfg, extra):
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=re.escape(f'pip install fastrun[{extra}]')):
        build_from_cfg(cfg, HOOKS)
    # Through a config too, failing before anything runs.
    runner = Runner(Net(), work_dir=str(tmp_path), max_epochs=1)
    with pytest.raises(ImportError, match=cfg['type']):
        runner.register_training_hooks(None, log_config=dict(interval=1, hooks=[cfg]))


def test_require(monkeypatch):
    assert require('json', 'x') is json
    monkeypatch.setitem(sys.modules, 'json', None)
    with pytest.raises(ImportError, match=re.escape('`pip install fastrun[extra]`')):
        require('json', 'extra')


# --------------------------------------------------------------------------- W&B


def wandb_records(wandb_dir):
    """The records of the one offline run under ``wandb_dir``: [(kind, protobuf record)].

    The run file is a LevelDB-style log (32 KiB blocks of chunks with a 7-byte header: crc32,
    length, type) after a 7-byte W&B header; each record is a ``wandb_internal_pb2.Record``.
    """
    from wandb.proto import wandb_internal_pb2 as pb
    (path,) = glob.glob(os.path.join(str(wandb_dir), 'wandb', 'offline-run-*', 'run-*.wandb'))
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:4] == b':W&B'
    records, pos, pending = [], 7, b''
    block = 32768
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:  # block trailer
            pos += room
            continue
        _, length, kind = struct.unpack('<IHB', data[pos:pos + 7])
        if kind == 0:
            pos += room
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        pending += chunk
        if kind in (1, 4):  # FULL or LAST
            rec = pb.Record()
            rec.ParseFromString(pending)
            records.append((rec.WhichOneof('record_type'), rec))
            pending = b''
        elif kind == 2:  # FIRST
            pending = chunk
    return records


def wandb_history(records):
    rows = []
    for kind, rec in records:
        if kind == 'history':
            rows.append({item.key or '/'.join(item.nested_key): json.loads(item.value_json)
                         for item in rec.history.item})
    return rows


@pytest.fixture
def wandb_env(monkeypatch, tmp_path):
    wandb = pytest.importorskip('wandb', reason='wandb is not installed (pip install fastrun[wandb])')
    monkeypatch.setenv('WANDB_MODE', 'offline')
    monkeypatch.setenv('WANDB_DIR', str(tmp_path / 'wandb'))
    monkeypatch.setenv('WANDB_SILENT', 'true')
    monkeypatch.setenv('WANDB_CONSOLE', 'off')
    (tmp_path / 'wandb').mkdir()
    # W&B reads its environment once per process setup: start afresh, and leave nothing behind.
    wandb.teardown()
    yield wandb
    if wandb.run is not None:
        wandb.run.finish()
    wandb.teardown()


def test_wandb_offline_run(tmp_path, wandb_env):
    hooks = [dict(type='TextLoggerHook'),
             dict(type='WandbLoggerHook', init_kwargs=dict(project='fastrun-test', config=dict(lr=0.1)),
                  define_metric_cfg={'val/loss': 'min', 'train/loss': 'best'})]
    runner, _ = make_runner(tmp_path, hooks, max_epochs=2)
    with pytest.warns(UserWarning, match='summary=best is skipped'):
        runner.run([loader(4), loader(3, seed=1)], [('train', 1), ('val', 1)])
    expected = expected_epoch_logs(runner.model, 4, 2, 3, 2)
    assert wandb_env.run is None  # finished

    # run.finish() returns before W&B's service has written everything; its shutdown (what
    # the end of the process does) waits for that.
    wandb_env.teardown()
    records = wandb_records(tmp_path / 'wandb')
    rows = wandb_history(records)
    assert [r['_step'] for r in rows] == [2, 4, 5, 6, 8, 9]
    train_rows = [r for r in rows if 'train/loss' in r]
    val_rows = [r for r in rows if 'val/loss' in r]
    assert [r['train/loss'] for r in train_rows] == pytest.approx(
        [e[3] for e in expected if e[0] == 'train'], rel=1e-9)
    assert [r['val/loss'] for r in val_rows] == pytest.approx(
        [e[3] for e in expected if e[0] == 'val'], rel=1e-9)
    assert all(r['learning_rate'] == 0.1 and r['momentum'] == 0.9 for r in rows)
    assert not any('train/time' in r for r in rows)
    # The JSON log went up as an artifact, and the run finished cleanly.
    (artifact,) = [rec.artifact for kind, rec in records if kind == 'artifact']
    assert [e.path for e in artifact.manifest.contents] == [f'{runner.timestamp}.log.json']
    (exit_rec,) = [rec.exit for kind, rec in records if kind == 'exit']
    assert exit_rec.exit_code == 0


def test_wandb_crash_marks_the_run_failed(tmp_path, wandb_env):
    hooks = [dict(type='WandbLoggerHook', with_step=False, log_artifact=False)]
    runner, _ = make_runner(tmp_path, hooks, model=Net(fail_at=4), max_epochs=1)
    with pytest.raises(RuntimeError, match='boom'):
        runner.run([loader(4)], [('train', 1)])
    assert wandb_env.run is None  # finished by the runner as the error went by
    for hook in runner.hooks:
        if isinstance(hook, LoggerHook):
            hook.flush_and_close(runner)  # again: harmless
    wandb_env.teardown()
    records = wandb_records(tmp_path / 'wandb')
    rows = wandb_history(records)
    assert [r['global_step'] for r in rows] == [2]
    assert rows[0]['train/loss'] == pytest.approx(mean(runner.model.logged['train'][:2]))
    (exit_rec,) = [rec.exit for kind, rec in records if kind == 'exit']
    assert exit_rec.exit_code == 1


# --------------------------------------------------------------------------- MLflow


@pytest.fixture
def mlflow_env(monkeypatch, tmp_path):
    mlflow = pytest.importorskip('mlflow', reason='mlflow is not installed (pip install fastrun[mlflow])')
    monkeypatch.setenv('MLFLOW_DISABLE_TELEMETRY', 'true')
    for var in ('MLFLOW_TRACKING_URI', 'MLFLOW_EXPERIMENT_NAME', 'MLFLOW_EXPERIMENT_ID'):
        # setenv first, so that the variable is restored (or removed) afterwards even though
        # mlflow.set_tracking_uri writes it behind monkeypatch's back.
        monkeypatch.setenv(var, '')
        monkeypatch.delenv(var)
    # Nothing may land in the current folder (MLflow's default artifact root).
    (tmp_path / 'cwd').mkdir()
    monkeypatch.chdir(tmp_path / 'cwd')
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()


def test_mlflow_sqlite_store_in_work_dir(tmp_path, mlflow_env):
    mlflow = mlflow_env
    hooks = [dict(type='MlflowLoggerHook', exp_name='toy', tags=dict(team='vision'),
                  params=dict(lr=0.1), log_model=True)]
    runner, _ = make_runner(tmp_path, hooks, max_epochs=2)
    runner.run([loader(4), loader(3, seed=1)], [('train', 1), ('val', 1)])
    expected = expected_epoch_logs(runner.model, 4, 2, 3, 2)

    work = tmp_path / 'work'
    uri = f'sqlite:///{work / "mlflow.db"}'
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name('toy')
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == 'FINISHED'
    assert run.data.tags['team'] == 'vision' and run.data.params == {'lr': '0.1'}
    history = client.get_metric_history(run.info.run_id, 'train/loss')
    assert [m.step for m in history] == [2, 4, 6, 8]
    assert [m.value for m in history] == pytest.approx(
        [e[3] for e in expected if e[0] == 'train'], rel=1e-9)
    val = client.get_metric_history(run.info.run_id, 'val/loss')
    assert [(m.step, m.value) for m in val] == [
        (s, pytest.approx(e[3], rel=1e-9)) for s, e in zip((5, 9), [e for e in expected if e[0] == 'val'])]
    assert {m.value for m in client.get_metric_history(run.info.run_id, 'momentum')} == {0.9}
    assert 'train/time' not in run.data.metrics
    # The model went up, next to the database and not in the current folder.
    assert os.listdir(tmp_path / 'cwd') == []
    assert (work / 'mlruns').is_dir()
    model = mlflow.pytorch.load_model(f'runs:/{run.info.run_id}/models')
    assert torch.equal(model.linear.weight, runner.model.linear.weight)
    assert mlflow.active_run() is None


def test_mlflow_default_experiment_and_crash(tmp_path, mlflow_env):
    mlflow = mlflow_env
    hooks = [dict(type='MlflowLoggerHook', log_model=False)]
    runner, _ = make_runner(tmp_path, hooks, model=Net(fail_at=6), max_epochs=2)
    with pytest.raises(RuntimeError, match='boom'):
        runner.run([loader(4)], [('train', 1)])
    assert mlflow.active_run() is None  # ended by the runner as the error went by
    for hook in runner.hooks:
        if isinstance(hook, LoggerHook):
            hook.flush_and_close(runner)  # again: harmless
    client = mlflow.tracking.MlflowClient(f'sqlite:///{tmp_path / "work" / "mlflow.db"}')
    exp = client.get_experiment_by_name('work')  # named after work_dir on the default store
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == 'FAILED'
    assert [m.step for m in client.get_metric_history(run.info.run_id, 'train/loss')] == [2, 4]
    assert os.listdir(tmp_path / 'cwd') == []


def test_mlflow_explicit_uri_does_not_leak_into_later_runs(tmp_path, mlflow_env):
    mlflow = mlflow_env
    store = tmp_path / 'store'
    store.mkdir()
    uri = f'sqlite:///{store / "shared.db"}'
    hooks = [dict(type='MlflowLoggerHook', exp_name='shared', tracking_uri=uri, log_model=False)]
    runner, _ = make_runner(tmp_path / 'a', hooks, max_epochs=1)
    runner.run([loader(2)], [('train', 1)])
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name('shared')
    assert exp.artifact_location == (store / 'mlruns').as_uri()
    (run,) = client.search_runs([exp.experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, 'train/loss')] == [2]
    assert not (tmp_path / 'a' / 'work' / 'mlflow.db').exists()

    # The URI this hook set process-wide is not mistaken for the user's choice by a later run.
    runner, _ = make_runner(tmp_path / 'b', [dict(type='MlflowLoggerHook', log_model=False)],
                            max_epochs=1)
    runner.run([loader(2)], [('train', 1)])
    assert (tmp_path / 'b' / 'work' / 'mlflow.db').exists()
    assert len(client.search_runs([exp.experiment_id])) == 1


# --------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
def test_memory_is_logged_and_values_stay_on_the_gpu(tmp_path):
    model = Net().cuda()
    hooks = [dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]
    runner, lines = make_runner(tmp_path, hooks, model=model, max_epochs=1)
    probe = Probe()
    runner.register_hook(probe, 'LOWEST')
    runner.run([loader(4, device='cuda')], [('train', 1)])
    assert probe.seen == [(1, True), (2, False), (3, True), (4, False)]
    memories = [LINE_RE['epoch'].match(line).group(5) for line in lines.log_lines()]
    assert all(m is not None and int(m) >= 0 for m in memories)
    assert [r['memory'] for r in json_records(runner)] == [int(m) for m in memories]
    train = model.logged['train']
    assert [r['loss'] for r in json_records(runner)] == [round(mean(train[0:2]), 5),
                                                         round(mean(train[2:4]), 5)]


def test_an_evaluation_and_the_val_phase_of_one_epoch_share_one_line(tmp_path):
    runner, lines = make_runner(tmp_path, [dict(type='TextLoggerHook')], max_epochs=2)
    runner.register_hook(FakeEval(), 'LOW')
    # The val loader has 3 batches, as FakeEval's eval_iter_num: both are 'Epoch(val) [e][3]'.
    runner.run([loader(4), loader(3, seed=1)], [('train', 1), ('val', 1)])
    val_losses = [loss for mode, _, _, loss in expected_epoch_logs(runner.model, 4, 2, 3, 2)
                  if mode == 'val']
    evals = [line for line in lines.log_lines() if line.startswith('Epoch(val)')]
    assert evals == [f'Epoch(val) [1][3]\taccuracy_top-1: 50.0000, loss: {val_losses[0]:.4f}',
                     f'Epoch(val) [2][3]\taccuracy_top-1: 51.0000, loss: {val_losses[1]:.4f}']
    # The JSON log keeps mmcv's records: the evaluation's and the val phase's.
    records = [r for r in json_records(runner) if r['mode'] == 'val']
    assert [(r['epoch'], r['iter'], sorted(set(r) - {'mode', 'epoch', 'iter', 'lr', 'time',
                                                     'data_time'})) for r in records] == \
        [(1, 3, ['accuracy_top-1']), (1, 3, ['loss']), (2, 3, ['accuracy_top-1']), (2, 3, ['loss'])]


def test_an_evaluation_without_a_val_phase_after_it_is_not_held_back(tmp_path):
    runner, lines = make_runner(tmp_path, [dict(type='TextLoggerHook')], max_epochs=2)
    runner.register_hook(FakeEval(), 'LOW')
    # Two train epochs, then val: the first evaluation has no val phase of its own.
    runner.run([loader(4), loader(3, seed=1)], [('train', 2), ('val', 1)])
    logged = lines.log_lines()
    first_eval = logged.index('Epoch(val) [1][3]\taccuracy_top-1: 50.0000')
    assert logged[first_eval + 1].startswith('Epoch [2]')  # out before epoch 2's lines
    assert logged[-1].startswith('Epoch(val) [2][3]\taccuracy_top-1: 51.0000, loss: ')
