"""Code written for mmcv 1.x runs on fastrun with only its imports changed.

One section per difference that used to break such code: model wrappers, the ``Runner`` type,
exception types, checkpoints edited by hand, meta values, the logger hooks' handles,
parameter-wise optimizer options and ``GradientCumulativeOptimizerHook``'s helper methods.
"""
import collections
import logging
import os
import pathlib
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import torch

import fastrun
import fastrun.hooks.logger.dvclive
import fastrun.hooks.logger.segmind
from fastrun import (CheckpointHook, EMAHook, EpochBasedRunner, GradientCumulativeOptimizerHook,
                     HOOKS, IterBasedRunner, IterTimerHook, OptimizerHook, Runner, build_optimizer,
                     build_runner)
from fastrun.checkpoint import (CheckpointError, find_resumable_checkpoint, load_checkpoint,
                                read_checkpoint, seal)
from fastrun.errors import ArgumentError, ArgumentTypeError
from fastrun.hooks.logger.pavi import PaviLoggerHook
from fastrun.parallel import MMDataParallel, MMDistributedDataParallel
from tests.conftest import ToyModel, make_loader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Records(logging.Handler):
    """Keeps the messages of a logger."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def recording_logger(name):
    logger = logging.getLogger(f'fastrun-compat.{name}')
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    records = Records()
    logger.addHandler(records)
    return logger, records


def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr)


def trained_weights(model):
    """The weights after two epochs of SGD on three batches (the model may be wrapped)."""
    inner = getattr(model, 'module', model)
    runner = Runner(model, optimizer=sgd(inner), max_epochs=2)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    runner.run([make_loader(3)], [('train', 1)])
    return inner.state_dict()


# --------------------------------------------------------------------------- 1. model wrappers


def test_mm_data_parallel_trains_on_the_cpu_as_the_bare_model(core, tmp_path):
    torch.manual_seed(0)
    bare = trained_weights(ToyModel())
    torch.manual_seed(0)
    wrapped = MMDataParallel(ToyModel())
    assert wrapped.device_ids == []  # no CUDA here: mmcv's CPU mode
    through_wrapper = trained_weights(wrapped)
    assert list(through_wrapper) == list(bare)
    assert all(torch.equal(through_wrapper[k], bare[k]) for k in bare)
    runner = Runner(wrapped, max_epochs=1, work_dir=str(tmp_path))
    assert runner.model_name == 'ToyModel'
    # The step is the wrapped module's own, given the batch as it is.
    out = wrapped.train_step(make_loader(1)[0], None)
    assert out['num_samples'] == 2 and out['loss'].requires_grad
    # Checkpoints hold the plain weights.
    runner.save_checkpoint(str(tmp_path))
    assert set(torch.load(tmp_path / 'latest.pth')['state_dict']) == {'linear.weight', 'linear.bias'}


def test_the_batch_processor_check_looks_through_the_wrapper():
    class OldStyle(torch.nn.Module):  # no train_step: trained by a batch processor
        pass

    def batch_processor(model, data, train_mode):
        return {}

    with pytest.warns(DeprecationWarning, match='batch_processor is deprecated'):
        Runner(MMDataParallel(OldStyle()), batch_processor, max_epochs=1)
    with pytest.raises(RuntimeError, match='cannot be both available'):
        with pytest.warns(DeprecationWarning):
            Runner(MMDataParallel(ToyModel()), batch_processor, max_epochs=1)


def test_a_plain_torch_wrapper_is_refused_with_the_wrapper_to_use():
    with pytest.raises(TypeError, match=r'DataParallel has no train_step\(\); wrap it with '
                                        r'fastrun.parallel.MMDataParallel') as e:
        Runner(torch.nn.DataParallel(ToyModel()), max_epochs=1)
    assert isinstance(e.value, AssertionError)  # mmcv asserts hasattr(model, 'train_step')


def test_the_wrappers_are_mmcv_parallel_names():
    import fastrun.dist
    assert MMDistributedDataParallel is fastrun.dist.MMDistributedDataParallel
    assert fastrun.MMDataParallel is MMDataParallel
    assert fastrun.MMDistributedDataParallel is MMDistributedDataParallel
    assert fastrun.parallel.is_module_wrapper(MMDataParallel(ToyModel()))


@pytest.mark.cuda
def test_mm_data_parallel_moves_the_batch_to_its_gpu():
    seen = []

    class Model(ToyModel):
        def train_step(self, data_batch, optimizer=None, **kwargs):
            seen.append(data_batch[0].device)
            return super().train_step(data_batch, optimizer, **kwargs)

    batch = make_loader(1)[0]
    wrapped = MMDataParallel(Model().cuda(), device_ids=[0])
    out = wrapped.train_step(batch, None)
    assert seen == [torch.device('cuda', 0)] and out['loss'].is_cuda
    wrapped.module.cpu()
    with pytest.raises(RuntimeError, match='must have its parameters and buffers on device cuda:0'):
        wrapped.train_step(batch, None)
    wrapped.module.cuda()
    wrapped.device_ids = [0, 1]
    with pytest.raises(ArgumentError, match='one GPU'):
        wrapped.train_step(batch, None)


# --------------------------------------------------------------------------- 2. the Runner type


def test_type_runner_is_mmcvs_deprecated_epoch_based_runner(tmp_path):
    with pytest.warns(DeprecationWarning, match='Runner was deprecated, please use EpochBasedRunner'):
        runner = build_runner(dict(type='Runner', max_epochs=2),
                              default_args=dict(model=ToyModel(), work_dir=str(tmp_path),
                                                logger=logging.getLogger('fastrun')))
    assert isinstance(runner, EpochBasedRunner) and runner.max_epochs == 2
    runner.run([make_loader(2)], [('train', 1)])
    assert runner.epoch == 2 and runner.iter == 4
    # fastrun's own Runner (the factory class) does not warn.
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert type(Runner(ToyModel(), max_iters=3)) is IterBasedRunner


def test_a_config_with_type_runner_evaluates_by_epoch(tmp_path):
    from fastrun.builder import build_model, build_runner_from_cfg
    from fastrun.hooks.evaluation import EvalHook
    synthetic = dict(type='SyntheticClassification', num_samples=16, shape=(1, 2, 2), num_classes=2, seed=0)
    cfg = fastrun.Config(dict(
        model=dict(type='ImageClassifier', backbone=dict(type='MLP', in_channels=4, hidden_channels=(8,)),
                   head=dict(type='LinearClsHead', num_classes=2, in_channels=8, topk=(1,))),
        data=dict(samples_per_gpu=8, train=synthetic, val=synthetic),
        optimizer=dict(type='SGD', lr=0.1), runner=dict(type='Runner', max_epochs=2),
        evaluation=dict(interval=1, metric='accuracy'), work_dir=str(tmp_path)))
    with pytest.warns(DeprecationWarning, match='Runner was deprecated'):
        runner, loaders = build_runner_from_cfg(cfg, build_model(cfg.model), device='cpu')
    (evaluation,) = [h for h in runner.hooks if isinstance(h, EvalHook)]
    assert isinstance(runner, EpochBasedRunner) and evaluation.by_epoch


def test_logger_none_and_non_loggers_raise_as_in_mmcv():
    with pytest.raises(TypeError, match='logger must be a logging.Logger object, but got NoneType'):
        Runner(ToyModel(), logger=None)
    with pytest.raises(TypeError, match='but got str'):
        Runner(ToyModel(), logger='fastrun')
    # Left out, the runner logs to fastrun's logger (mmcv had no default).
    assert Runner(ToyModel()).logger is logging.getLogger('fastrun')


# --------------------------------------------------------------------------- 3. exception types


class NoStep(torch.nn.Module):
    pass


BAD_ARGUMENTS = [
    # (what, call, fastrun's clear type, message)
    ('a runner without max_epochs', lambda: Runner(ToyModel()).run([make_loader(1)], [('train', 1)]),
     ValueError, 'max_epochs must be set'),
    ('a runner without max_iters',
     lambda: IterBasedRunner(ToyModel()).run([make_loader(1)], [('train', 1)]),
     ValueError, 'max_iters must be set'),
    ('a model without train_step', lambda: Runner(NoStep()), TypeError, 'has no train_step'),
    ('loaders and workflow of different lengths',
     lambda: Runner(ToyModel(), max_epochs=1).run([make_loader(1)] * 2, [('train', 1)]),
     ValueError, 'same length'),
    ('a hook that is not a Hook', lambda: Runner(ToyModel()).register_hook(object()),
     TypeError, 'hook must be a fastrun.Hook'),
    ('an lr_config without policy', lambda: Runner(ToyModel()).register_lr_hook(dict(step=[1])),
     KeyError, 'needs a "policy" key'),
    ('cumulative_iters=0', lambda: GradientCumulativeOptimizerHook(cumulative_iters=0),
     ValueError, 'cumulative_iters must be a positive int'),
    ('cumulative_iters of the wrong type',
     lambda: GradientCumulativeOptimizerHook(cumulative_iters='4'), TypeError, 'got str'),
    ('a by-epoch one-cycle schedule', lambda: HOOKS.build(dict(type='OneCycleLrUpdaterHook',
                                                                 max_lr=0.1, by_epoch=True)),
     ValueError, 'by_epoch'),
    ('a by-epoch cyclic schedule', lambda: HOOKS.build(dict(type='CyclicLrUpdaterHook', by_epoch=True)),
     ValueError, 'by_epoch'),
    ('a negative step', lambda: HOOKS.build(dict(type='StepLrUpdaterHook', step=-10)),
     ValueError, 'must be positive'),
    ('a negative step in a list', lambda: HOOKS.build(dict(type='StepLrUpdaterHook', step=[10, -2])),
     ValueError, 'must be positive'),
    ('steps that are not ints', lambda: HOOKS.build(dict(type='StepLrUpdaterHook', step=[1.5])),
     TypeError, 'list of ints'),
    ('min_lr and min_lr_ratio both', lambda: HOOKS.build(dict(
        type='CosineAnnealingLrUpdaterHook', min_lr=0.1, min_lr_ratio=0.1)),
     ValueError, 'exactly one of min_lr'),
    ('periods and restart_weights of different lengths', lambda: HOOKS.build(dict(
        type='CosineRestartLrUpdaterHook', periods=[2, 10], restart_weights=[0.5], min_lr_ratio=0)),
     ValueError, 'same length'),
    ('step_ratio_up out of [0, 1)', lambda: HOOKS.build(dict(type='CyclicLrUpdaterHook',
                                                              step_ratio_up=1.4)),
     ValueError, 'step_ratio_up'),
    ('a cyclic target_ratio of three values', lambda: HOOKS.build(dict(
        type='CyclicLrUpdaterHook', target_ratio=(10.0, 0.1, 0.2))), ValueError, 'target_ratio'),
    ('gamma=0', lambda: HOOKS.build(dict(type='CyclicLrUpdaterHook', gamma=0)), ValueError, 'gamma'),
    ('warmup_iters=0 with a warmup', lambda: HOOKS.build(dict(
        type='StepLrUpdaterHook', step=[2], warmup='linear', warmup_iters=0)),
     ValueError, 'warmup_iters must be positive'),
    ('warmup_ratio out of (0, 1]', lambda: HOOKS.build(dict(
        type='StepMomentumUpdaterHook', step=[2], warmup='linear', warmup_iters=2, warmup_ratio=1.5)),
     ValueError, 'warmup_ratio'),
    ('EMA interval 0', lambda: EMAHook(interval=0), ValueError, 'interval'),
    ('EMA momentum 2', lambda: EMAHook(momentum=2), ValueError, 'momentum'),
    ('an evaluation by_epoch that is not a bool', lambda: HOOKS.build(dict(
        type='EvalHook', dataloader=torch.utils.data.DataLoader([1]), by_epoch='yes')),
     TypeError, 'by_epoch must be a bool'),
    ('a closure for no stage', lambda: HOOKS.build(dict(type='ClosureHook', fn_name='nope',
                                                         fn=print)), ValueError, 'fn_name'),
    ('log values that are not a dict', lambda: fastrun.LogBuffer().update([1]), TypeError, 'dict'),
    ('averaging a negative count', lambda: fastrun.LogBuffer().average(-1), ValueError, 'n must'),
]


@pytest.mark.parametrize('what,call,clear_type,message', BAD_ARGUMENTS,
                         ids=[case[0] for case in BAD_ARGUMENTS])
def test_bad_arguments_raise_the_clear_type_and_mmcvs_assertion_error(what, call, clear_type, message):
    with pytest.raises(AssertionError, match=message) as e:
        call()
    assert isinstance(e.value, clear_type)


def test_the_checks_hold_under_python_dash_o():
    # Not assert statements: they stay with -O, where mmcv's own checks vanish.
    code = ('import fastrun\n'
            'for bad in (0, -1, "4"):\n'
            '    try:\n'
            '        fastrun.GradientCumulativeOptimizerHook(cumulative_iters=bad)\n'
            '    except AssertionError as e:\n'
            '        print(type(e).__name__)\n')
    out = subprocess.run([sys.executable, '-O', '-c', code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert out == ['ArgumentError', 'ArgumentError', 'ArgumentTypeError']
    assert issubclass(ArgumentError, ValueError) and issubclass(ArgumentTypeError, TypeError)


# --------------------------------------------------------------------------- 4. edited checkpoints


class EmaModel(torch.nn.Module):
    """mmcv's EMA test model: a 1x1 conv whose weights start at zero."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, kernel_size=1, padding=1)
        torch.nn.init.zeros_(self.conv.weight)
        torch.nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return self.conv(x).sum()

    def train_step(self, x, optimizer=None, **kwargs):
        return dict(loss=self(x))

    def val_step(self, x, optimizer=None, **kwargs):
        return dict(loss=self(x))


def ema_run(work_dir, model, max_epochs, ema, logger=None):
    # No optimizer hook: the weights change only by the EMA swaps, as in mmcv's EMA test.
    runner = Runner(model, optimizer=sgd(model, 0.02), work_dir=str(work_dir),
                    logger=logger or logging.getLogger('fastrun'), max_epochs=max_epochs)
    runner.register_hook(ema, 'HIGHEST')
    runner.register_hook(CheckpointHook(interval=1))
    data = [torch.ones(1, 1, 1, 1)]
    runner.run([data, data], [('train', 1), ('val', 1)])
    return runner


def test_a_checkpoint_edited_and_saved_with_torch_save_resumes_with_a_warning(tmp_path):
    model = EmaModel()
    ema_run(tmp_path / 'a', model, 1, EMAHook(momentum=0.1, interval=2, warm_up=100))
    path = tmp_path / 'a' / 'epoch_1.pth'
    ckpt = torch.load(path)
    for name, value in ckpt['state_dict'].items():
        if name.startswith('ema_'):
            value.fill_(1)  # EMA weights swapped in by hand
    del ckpt['optimizer']
    torch.save(ckpt, path)

    logger, records = recording_logger('edited')
    runner = ema_run(tmp_path / 'b', model, 2, EMAHook(momentum=0.5, warm_up=0, resume_from=str(path)),
                     logger=logger)
    assert runner.epoch == 2
    (warning,) = [m for m in records.messages if 'checksum' in m]
    assert 'epoch_1.pth: the checksum of its content does not match (changed: state_dict; ' \
           'removed: optimizer): it was edited and saved again' in warning
    # What was loaded is the edited content: mmcv's expected values after one more epoch.
    state = torch.load(tmp_path / 'b' / 'epoch_2.pth')['state_dict']
    assert {k: v.sum().item() for k, v in state.items()} == {
        'conv.weight': 1.0, 'conv.bias': 1.0, 'ema_conv_weight': 2.0, 'ema_conv_bias': 2.0}


def test_weights_of_an_edited_file_load_and_choosing_a_file_still_refuses_it(tmp_path):
    model = ToyModel()
    runner = Runner(model, optimizer=sgd(model), work_dir=str(tmp_path), max_epochs=1)
    runner.save_checkpoint(str(tmp_path))
    path = str(tmp_path / 'epoch_1.pth')
    ckpt = torch.load(path)
    ckpt['state_dict'] = {'linear.' + k.split('.')[-1]: torch.full_like(v, 3.0)
                          for k, v in ckpt['state_dict'].items()}
    torch.save(ckpt, path)

    logger, records = recording_logger('load')
    fresh = ToyModel()
    load_checkpoint(fresh, path, logger=logger)
    assert torch.equal(fresh.linear.weight, torch.full((1, 4), 3.0))
    assert any('changed: state_dict' in m for m in records.messages)
    # Where fastrun picks a file itself (auto-resume) or is asked to verify, it is refused.
    with pytest.raises(CheckpointError, match=r'does not match \(changed: state_dict\)'):
        read_checkpoint(path)
    assert find_resumable_checkpoint(str(tmp_path), logger) is None
    # seal(): the edit declared on purpose; the file verifies again.
    torch.save(seal(ckpt), path)
    assert find_resumable_checkpoint(str(tmp_path), logger) == str(tmp_path / 'latest.pth')
    # A damaged container is still an error, wherever the file is named.
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_checkpoint(ToyModel(), path, logger=logger)


# --------------------------------------------------------------------------- 5. meta values


Point = collections.namedtuple('Point', 'x y')


def test_meta_values_with_a_plain_form_are_stored_as_it(tmp_path):
    runner = Runner(ToyModel(), work_dir=str(tmp_path), max_epochs=1)
    runner.meta = dict(config_dict=dict(lr=0.02, gpu_ids=range(2)), shape=(3, 4), ids={3, 1, 2},
                       out=pathlib.Path('a') / 'b', score=np.float32(0.5), hist=np.arange(3),
                       grid=np.ones((2, 2), dtype=np.int8), corner=Point(1, 2),
                       best=np.int64(7), dtype=torch.float16)
    runner.save_checkpoint(str(tmp_path))
    meta = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)['meta']
    assert meta['config_dict'] == dict(lr=0.02, gpu_ids=[0, 1])
    assert meta['shape'] == (3, 4) and meta['ids'] == [1, 2, 3]
    assert meta['out'] == os.path.join('a', 'b')
    assert meta['score'] == 0.5 and type(meta['score']) is float
    assert meta['hist'] == [0, 1, 2] and meta['grid'] == [[1, 1], [1, 1]]
    assert meta['corner'] == dict(x=1, y=2)
    assert meta['best'] == 7 and type(meta['best']) is int
    assert meta['dtype'] == 'torch.float16'


def test_objects_in_meta_are_refused_naming_the_key(tmp_path):
    runner = Runner(ToyModel(), work_dir=str(tmp_path), max_epochs=1)
    runner.meta = dict(config_dict=dict(model=ToyModel()))
    with pytest.raises(TypeError, match=r"cannot store meta\['config_dict'\]\['model'\] in a "
                                        r'checkpoint: it is a tests.conftest.ToyModel object'):
        runner.save_checkpoint(str(tmp_path))
    assert not (tmp_path / 'epoch_1.pth').exists()


# --------------------------------------------------------------------------- 6. logger handles


def logged_runner(tmp_path, hook, max_epochs=1):
    model = ToyModel()
    runner = Runner(model, optimizer=sgd(model), work_dir=str(tmp_path), max_epochs=max_epochs,
                    logger=recording_logger(tmp_path.name)[0])
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    runner.register_hook(IterTimerHook(), 'LOW')  # its 'time' marks the logs as train ones
    runner.register_hook(hook, 'VERY_LOW')
    return runner


@pytest.fixture
def wandb_offline(monkeypatch):
    wandb = pytest.importorskip('wandb', reason='wandb is not installed (pip install fastrun[wandb])')
    monkeypatch.setenv('WANDB_MODE', 'offline')
    monkeypatch.setenv('WANDB_SILENT', 'true')
    monkeypatch.setenv('WANDB_CONSOLE', 'off')
    monkeypatch.delenv('WANDB_DIR', raising=False)
    wandb.teardown()  # W&B reads its settings once per process setup
    yield wandb
    if wandb.run is not None:
        wandb.run.finish()
    wandb.teardown()


def test_wandb_files_go_to_the_work_dir_and_the_handles_stay(tmp_path, monkeypatch, wandb_offline):
    wandb = wandb_offline
    (tmp_path / 'cwd').mkdir()
    monkeypatch.chdir(tmp_path / 'cwd')
    for name in ('a', 'b'):  # the second run too: W&B's setting is put back after each init
        hook = HOOKS.build(dict(type='WandbLoggerHook', interval=1, log_artifact=False))
        assert hook.wandb is wandb
        runner = logged_runner(tmp_path / name, hook)
        runner.run([make_loader(2)], [('train', 1)])
        assert hook.run is not None and hook.run.dir.startswith(str(tmp_path / name / 'wandb'))
        assert wandb.run is None  # finished (wandb.join)
    assert os.listdir(tmp_path / 'cwd') == []
    # A plain wandb.init afterwards uses W&B's own default again (the current folder).
    run = wandb.init()
    assert run.dir.startswith(str(tmp_path / 'cwd' / 'wandb'))
    run.finish()


@pytest.fixture
def mlflow_sqlite(monkeypatch, tmp_path):
    mlflow = pytest.importorskip('mlflow', reason='mlflow is not installed (pip install fastrun[mlflow])')
    monkeypatch.setenv('MLFLOW_DISABLE_TELEMETRY', 'true')
    for var in ('MLFLOW_TRACKING_URI', 'MLFLOW_EXPERIMENT_NAME', 'MLFLOW_EXPERIMENT_ID'):
        monkeypatch.setenv(var, '')
        monkeypatch.delenv(var)
    (tmp_path / 'cwd').mkdir()
    monkeypatch.chdir(tmp_path / 'cwd')
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()


def test_mlflow_handles_are_the_modules_and_the_experiment_is_set_by_name(tmp_path, mlflow_sqlite):
    mlflow = mlflow_sqlite
    import mlflow.pytorch
    hook = HOOKS.build(dict(type='MlflowLoggerHook', exp_name='compat', log_model=False, interval=1))
    assert hook.mlflow is mlflow and hook.mlflow_pytorch is mlflow.pytorch
    runner = logged_runner(tmp_path / 'w', hook)
    runner.run([make_loader(2)], [('train', 1)])
    # set_experiment(name) made it current: a later fluent call lands in it.
    assert mlflow.get_experiment(os.environ['MLFLOW_EXPERIMENT_ID']).name == 'compat'
    client = mlflow.tracking.MlflowClient(f'sqlite:///{tmp_path / "w" / "mlflow.db"}')
    (run,) = client.search_runs([client.get_experiment_by_name('compat').experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, 'train/loss')] == [1, 2]


class OldLive:
    """dvclive 0.x's ``Live`` API (``set_step`` / ``log``), which mmcv's hook was written for;
    dvclive 0.x does not install with this project's other packages."""

    def __init__(self, **kwargs):
        self.calls = []

    def set_step(self, step):
        self.calls.append(('set_step', step))

    def log(self, name, value):
        self.calls.append(('log', name, value))


def test_dvclive_0x_api_sets_each_step_once(tmp_path, monkeypatch):
    monkeypatch.setattr(fastrun.hooks.logger.dvclive, 'require',
                        lambda name, extra: types.SimpleNamespace(Live=OldLive))
    hook = HOOKS.build(dict(type='DvcliveLoggerHook'))
    assert isinstance(hook.dvclive, OldLive)  # built with the hook, as mmcv does
    live = hook.dvclive
    runner = logged_runner(tmp_path, hook)
    runner.run([make_loader(2), make_loader(1)], [('train', 1), ('val', 1)])
    # The train epoch and its val epoch share step 1: it is set once.
    assert [c for c in live.calls if c[0] == 'set_step'] == [('set_step', 1)]
    assert ('log', 'momentum', 0) in live.calls and ('log', 'learning_rate', 0.1) in live.calls
    assert hook.dvclive is live


def test_dvclive_live_is_built_with_the_hook_ended_after_each_run_and_renewed(tmp_path, monkeypatch):
    dvclive = pytest.importorskip('dvclive', reason='dvclive is not installed (pip install fastrun[dvclive])')
    monkeypatch.chdir(tmp_path)
    ended = []
    real_end = dvclive.Live.end
    monkeypatch.setattr(dvclive.Live, 'end', lambda self: (ended.append(self), real_end(self))[1])
    hook = HOOKS.build(dict(type='DvcliveLoggerHook', dir=str(tmp_path / 'live'), save_dvc_exp=False))
    first = hook.dvclive
    assert isinstance(first, dvclive.Live)
    logged_runner(tmp_path / 'a', hook).run([make_loader(2)], [('train', 1)])
    assert ended == [first] and hook.dvclive is first
    hook.flush_and_close(None)
    assert ended == [first]  # once
    logged_runner(tmp_path / 'b', hook).run([make_loader(2)], [('train', 1)])
    assert hook.dvclive is not first and ended == [first, hook.dvclive]


def test_segmind_is_read_as_mmcv_reads_it(monkeypatch):
    calls = []
    segmind = types.ModuleType('segmind')
    segmind.tracking = types.SimpleNamespace(fluent=types.SimpleNamespace(log_metrics=print))
    segmind.utils = types.SimpleNamespace(logging_utils=types.SimpleNamespace(
        try_mlflow_log=lambda *a, **k: calls.append((a, k))))
    monkeypatch.setitem(sys.modules, 'segmind', segmind)
    hook = HOOKS.build(dict(type='SegmindLoggerHook'))
    assert hook.log_metrics is print and hook.mlflow_log is segmind.utils.logging_utils.try_mlflow_log


def test_a_resumed_config_file_is_never_run_by_the_pavi_hook(tmp_path):
    marker = tmp_path / 'ran'
    evil = tmp_path / 'evil.py'
    evil.write_text(f'open({str(marker)!r}, "w").close()\nlr = 0.1\n')
    runner = Runner(ToyModel(), work_dir=str(tmp_path), max_epochs=1,
                    meta=dict(config_file=str(evil), note='kept'))
    runner.save_checkpoint(str(tmp_path))
    # What a checkpoint from elsewhere carries is data: resuming takes none of it as code.
    resumed = Runner(ToyModel(), work_dir=str(tmp_path), max_epochs=2)
    resumed.resume(str(tmp_path / 'epoch_1.pth'))
    assert resumed.meta['note'] == 'kept' and 'config_file' not in resumed.meta
    assert PaviLoggerHook._session_text(resumed) is None
    assert not marker.exists()
    # This run's own config file is this run's: kept over the checkpoint's.
    own = tmp_path / 'own.py'
    own.write_text('lr = 0.2\n')
    mine = Runner(ToyModel(), work_dir=str(tmp_path), max_epochs=2, meta=dict(config_file=str(own)))
    mine.resume(str(tmp_path / 'epoch_1.pth'))
    assert mine.meta['config_file'] == str(own) and 'lr: 0.2' in PaviLoggerHook._session_text(mine)
    assert not marker.exists()


# --------------------------------------------------------------------------- 7. paramwise options


class Block(torch.nn.Module):
    """A ConvNeXt-like block: a 1-channel stem, a depth-wise conv, a norm and a linear head."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 4, 3)           # in_channels == groups == 1: depth-wise
        self.dw = torch.nn.Conv2d(4, 4, 3, groups=4)   # depth-wise
        self.pw = torch.nn.Conv2d(4, 8, 1)
        self.norm = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8, 2)


def param_groups(model, **paramwise_cfg):
    opt = build_optimizer(model, dict(type='SGD', lr=0.1, weight_decay=1e-4, paramwise_cfg=paramwise_cfg))
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(g['params'][0])]: (g['lr'], g['weight_decay']) for g in opt.param_groups}


def test_depthwise_convs_follow_mmcv_swin_and_convnext_schedules():
    g = param_groups(Block(), norm_decay_mult=0., bias_decay_mult=0.)
    # A depth-wise conv's bias keeps its weight decay (dwconv_decay_mult, default 1, comes first).
    assert g['dw.bias'] == (0.1, 1e-4) and g['dw.weight'] == (0.1, 1e-4)
    assert g['stem.bias'] == (0.1, 1e-4)
    assert g['pw.bias'] == (0.1, 0.0) and g['pw.weight'] == (0.1, 1e-4)
    assert g['norm.weight'] == (0.1, 0.0) and g['head.bias'] == (0.1, 0.0)
    g = param_groups(Block(), dwconv_decay_mult=0.5, bias_decay_mult=0., bias_lr_mult=2.)
    assert g['dw.bias'] == (0.2, 5e-5) and g['stem.weight'] == (0.1, 5e-5)
    assert g['norm.bias'] == (0.1, 1e-4)  # norms keep their lr, norm_decay_mult defaults to 1


def test_custom_keys_match_the_dotted_name_as_mmcv():
    # At the top level mmcv matches '.<name>': a key '.weight' takes every weight, nested too.
    class Top(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(2))
            self.inner = torch.nn.Linear(2, 2)

    g = param_groups(Top(), custom_keys={'.weight': dict(lr_mult=0.5, decay_mult=0.)})
    assert g['weight'] == (0.05, 0.0) and g['inner.weight'] == (0.05, 0.0)
    assert g['inner.bias'] == (0.1, 1e-4)


def test_tied_weights_and_missing_weight_decay():
    model = Block()
    model.tied = torch.nn.Linear(8, 2)
    model.tied.weight = model.head.weight  # one tensor in two modules: two groups would hold it
    with pytest.raises(ValueError, match='more than one parameter group'):
        param_groups(model, bias_decay_mult=0.)
    with pytest.warns(UserWarning, match='tied is duplicate'):
        g = param_groups(model, bias_decay_mult=0., bypass_duplicate=True)
    assert g['head.weight'] == (0.1, 1e-4) and g['tied.bias'] == (0.1, 0.0)
    with pytest.raises(ValueError, match='bias_decay_mult needs a weight_decay'):
        build_optimizer(Block(), dict(type='SGD', lr=0.1, paramwise_cfg=dict(bias_decay_mult=0.)))


def test_deformable_conv_offsets_take_their_lr_mult():
    deform = type('DeformConv2d', (torch.nn.Module,), {'__module__': 'mmcv.ops.deform_conv'})

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dcn = deform()
            self.dcn.conv_offset = torch.nn.Conv2d(2, 2, 1)

    g = param_groups(Net(), dcn_offset_lr_mult=0.1, bias_lr_mult=2., bias_decay_mult=0.)
    assert g['dcn.conv_offset.weight'] == pytest.approx((0.01, 1e-4))
    assert g['dcn.conv_offset.bias'] == pytest.approx((0.01, 1e-4))  # not a plain bias here


# --------------------------------------------------------------------------- 8. gradient accumulation


class NormNet(ToyModel):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.BatchNorm1d(2)))


def test_has_batch_norm_and_the_run_split_into_groups(tmp_path):
    hook = GradientCumulativeOptimizerHook(cumulative_iters=3)
    assert hook.has_batch_norm(NormNet()) and not hook.has_batch_norm(ToyModel())
    logger, records = recording_logger('accumulate')
    runner = Runner(NormNet(), logger=logger, max_iters=8)
    hook._init(runner)
    assert (hook.divisible_iters, hook.remainder_iters, hook.initialized) == (6, 2, True)
    assert any('BatchNorm' in m for m in records.messages)
    factors = []
    for it in range(8):
        runner._iter = it
        factors.append(hook._get_loss_factor(runner))
    assert factors == [3] * 6 + [2, 2]
    runner._iter = 4  # a resume in the middle of a group warns
    hook._init(runner)
    assert any('Resume iter number is not divisible' in m for m in records.messages)


class SumModel(torch.nn.Module):
    """loss = sum of the weights: each iteration adds a gradient of exactly 1 per weight."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))

    def train_step(self, batch, optimizer=None, **kwargs):
        return dict(loss=self.w.sum())


def test_a_subclass_overriding_the_loss_factor_changes_the_step(core):
    seen = []

    class NoAveraging(GradientCumulativeOptimizerHook):
        def _init(self, runner, **kwargs):
            seen.append('init')
            super()._init(runner, **kwargs)

        def _get_loss_factor(self, runner):
            seen.append(runner.iter)
            return 1  # sum the group's gradients instead of averaging them

    for hook_cls, expected in ((GradientCumulativeOptimizerHook, -1.0), (NoAveraging, -2.0)):
        model = SumModel()
        runner = Runner(model, optimizer=sgd(model, lr=1.0), max_iters=2)
        runner.register_hook(hook_cls(cumulative_iters=2), 'ABOVE_NORMAL')
        runner.run([[0, 1]], [('train', 1)])
        assert torch.equal(model.w.detach(), torch.full((3,), expected))
    assert seen == ['init', 0, 1]
