"""Checkpoints and logs on fsspec URLs (``memory://``, ``file://``, a store without whole-object
writes): what lands where, in which order, what a failed upload leaves, and that a URL is never
a local path. S3 for real (a local S3 server) is in ``test_storage_s3.py``.
"""
import logging
import os
import re
import sys
import threading
import time

import fsspec
import pytest
import torch
from fsspec.implementations.memory import MemoryFileSystem

from fastrun import Config, ConfigError, Runner, storage, workdir
from fastrun.checkpoint import find_resumable_checkpoint, read_checkpoint
from fastrun.cli import main as cli_main
from fastrun.config import check_types
from fastrun.errors import ArgumentError
from fastrun.hooks.checkpoint import CheckpointHook
from fastrun.hooks.logger.text import TextLoggerHook
from fastrun.hooks.optimizer import OptimizerHook
from fastrun.hook import Hook
from tests.conftest import ToyModel, make_loader


class RecordingFS(MemoryFileSystem):
    """An in-memory store whose writes are not whole objects (fastrun writes a temporary name
    and moves it): it records every write, move and removal, can hold writes until
    ``gate`` is set, and fails writes of paths containing ``fail_on``.
    """

    protocol = 'recmem'
    store = {}
    pseudo_dirs = ['']
    ops = []
    gate = None
    fail_on = None

    def _check(self, path):
        if RecordingFS.gate is not None:
            RecordingFS.gate.wait(30)
        if RecordingFS.fail_on and RecordingFS.fail_on in path:
            raise ConnectionError(f'connection reset while writing {path}')

    def put_file(self, lpath, rpath, **kwargs):
        self._check(rpath)
        super().put_file(lpath, rpath, **kwargs)
        self.ops.append(('put', rpath))

    def pipe_file(self, path, value, **kwargs):
        self._check(path)
        super().pipe_file(path, value, **kwargs)
        self.ops.append(('pipe', path))

    def mv(self, path1, path2, **kwargs):
        self.cp_file(path1, path2)
        MemoryFileSystem.rm(self, path1)
        self.ops.append(('mv', path1, path2))

    def rm(self, path, *args, **kwargs):
        super().rm(path, *args, **kwargs)
        self.ops.append(('rm', path))


fsspec.register_implementation('recmem', RecordingFS, clobber=True)


@pytest.fixture(autouse=True)
def staging(tmp_path, monkeypatch):
    """A staging root per test; the upload queue drained and the stores emptied after it."""
    root = tmp_path / 'staging'
    monkeypatch.setenv('FASTRUN_STAGING_DIR', str(root))
    monkeypatch.setattr(storage, 'UPLOAD_BACKOFF_S', 0.01)
    monkeypatch.setattr(workdir, 'SETTLE_S', 0.01)  # the lock object of a URL work dir
    RecordingFS.ops, RecordingFS.gate, RecordingFS.fail_on = [], None, None
    yield root
    RecordingFS.gate = None
    storage.wait_uploads(raise_errors=False)
    storage._uploads._mirrors.clear()  # test hygiene: runners of other tests mirror nothing
    MemoryFileSystem.store.clear()
    RecordingFS.store.clear()


@pytest.fixture
def warnings_of_fastrun():
    """The WARNING messages of the ``fastrun`` logger (which does not propagate: caplog sees
    them only if another test made it)"""
    messages = []

    class Handler(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())
    handler = Handler()
    logger = logging.getLogger('fastrun')
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def objects(url):
    """``{name: bytes}`` of the files directly under ``url``, read from the store itself."""
    fs, path = fsspec.core.url_to_fs(url)
    try:
        names = fs.ls(path, detail=False)
    except FileNotFoundError:
        return {}
    return {n.rsplit('/', 1)[-1]: fs.cat_file(n) for n in names if fs.isfile(n)}


def make_runner(work_dir, *hooks, max_epochs=4, seed=0):
    torch.manual_seed(seed)
    model = ToyModel()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                    work_dir=work_dir, max_epochs=max_epochs)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    for hook in hooks:
        runner.register_hook(hook)
    return runner


def train(runner):
    runner.run([make_loader(n_batches=3)], [('train', 1)])
    return runner


def weights(path):
    return read_checkpoint(path)['state_dict']


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- URLs are not local paths
def test_a_url_is_never_a_local_folder(tmp_path, monkeypatch, staging):
    monkeypatch.chdir(tmp_path)
    runner = train(make_runner('memory://runs/a', CheckpointHook(interval=1)))
    assert runner.work_url == 'memory://runs/a'
    assert runner.work_dir == str(staging / 'memory' / 'runs' / 'a')
    assert sorted(os.listdir(tmp_path)) == ['staging']  # no ./memory:/runs/a
    assert sorted(n for n in objects('memory://runs/a') if n.endswith('.pth')) == \
        ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth', 'epoch_4.pth', 'latest.pth']
    assert not [n for n in os.listdir(runner.work_dir) if n.endswith('.pth')]  # uploaded, removed

    with pytest.raises(ArgumentError, match="unknown storage protocol 'nosuch'"):
        Runner(ToyModel(), work_dir='nosuch://runs/a', max_epochs=1)
    with pytest.raises(ArgumentError, match='not a local path'):
        storage.local_path('s3://runs/a')
    with pytest.raises(ArgumentError, match=r"looks like a URL missing a '/' \(s3://...\)"):
        Runner(ToyModel(), work_dir='s3:/runs/a', max_epochs=1)  # what `s3://x` + normpath gives
    assert sorted(os.listdir(tmp_path)) == ['staging']


def test_file_urls_are_the_local_paths(tmp_path):
    work = tmp_path / 'w'
    runner = train(make_runner(f'file://{work}', CheckpointHook(interval=1, max_keep_ckpts=2)))
    assert runner.work_dir == str(work) and runner.work_url is None
    assert os.readlink(work / 'latest.pth') == 'epoch_4.pth'  # a symlink, as for a plain path
    assert sorted(os.listdir(work)) == ['epoch_3.pth', 'epoch_4.pth', 'latest.pth']
    assert find_resumable_checkpoint(f'file://{work}') == str(work / 'latest.pth')
    assert_same_weights(weights(f'file://{work}/latest.pth'), weights(str(work / 'epoch_4.pth')))
    check_types(Config(dict(load_from=f'file://{work}/epoch_4.pth')))
    with pytest.raises(ConfigError, match='load_from: checkpoint file not found'):
        check_types(Config(dict(load_from=f'file://{work}/epoch_1.pth')))


# ---------------------------------------------------------------- what lands where, in order
@pytest.mark.parametrize('url', ['memory://runs/rot', 'recmem://runs/rot'])
def test_rotation_and_latest_on_a_url(url):
    train(make_runner(url, CheckpointHook(interval=1, max_keep_ckpts=2)))
    files = objects(url)
    assert sorted(n for n in files if n.endswith('.pth')) == ['epoch_3.pth', 'epoch_4.pth',
                                                             'latest.pth']
    assert files['latest.pth'] == b'fastrun-pointer epoch_4.pth\n'
    assert storage.resolve(f'{url}/latest.pth') == f'{url}/epoch_4.pth'
    assert read_checkpoint(f'{url}/latest.pth')['meta']['epoch'] == 4
    assert read_checkpoint(f'{url}/epoch_3.pth')['meta']['epoch'] == 3
    assert not [n for n in files if '.tmp' in n]


def test_the_object_first_then_the_pointer_then_the_deletions():
    train(make_runner('recmem://runs/order', CheckpointHook(interval=1, max_keep_ckpts=2)))
    done = [op[2] for op in RecordingFS.ops if op[0] == 'mv']  # names complete, in order
    done = [p.rsplit('/', 1)[-1] for p in done]
    removed = [op[1].rsplit('/', 1)[-1] for op in RecordingFS.ops if op[0] == 'rm'
               and '.tmp' not in op[1] and not op[1].endswith(workdir.LOCK_NAME)]
    # each checkpoint is complete before latest.pth names it, and that before any deletion
    assert [n for n in done if n.endswith('.pth')][:8] == [
        'epoch_1.pth', 'latest.pth', 'epoch_2.pth', 'latest.pth', 'epoch_3.pth', 'latest.pth',
        'epoch_4.pth', 'latest.pth']
    assert removed == ['epoch_1.pth', 'epoch_2.pth']
    order = [op for op in RecordingFS.ops if op[0] in ('mv', 'rm')]
    rm1 = next(i for i, op in enumerate(order) if op[0] == 'rm' and op[1].endswith('epoch_1.pth'))
    latest3 = [i for i, op in enumerate(order) if op[0] == 'mv' and op[2].endswith('latest.pth')][2]
    assert latest3 < rm1


def test_a_resume_from_a_url_ends_with_the_weights_of_the_straight_run(tmp_path):
    straight = train(make_runner(str(tmp_path / 'straight'), CheckpointHook(interval=1)))
    url = 'memory://runs/resumed'
    train(make_runner(url, CheckpointHook(interval=1, max_keep_ckpts=1), max_epochs=2))
    assert storage.resolve(f'{url}/latest.pth') == f'{url}/epoch_2.pth'

    path = find_resumable_checkpoint(url)
    assert path == f'{url}/latest.pth'
    runner = make_runner(url, CheckpointHook(interval=1, max_keep_ckpts=1), seed=1)
    runner.resume(path)
    train(runner)
    assert_same_weights(weights(f'{url}/epoch_4.pth'),
                        weights(str(tmp_path / 'straight' / 'epoch_4.pth')))
    assert_same_weights(straight.model.state_dict(), runner.model.state_dict())
    # max_keep_ckpts=1 holds at the end: epoch_2 (resumed from) went once epoch_3 was complete
    assert sorted(n for n in objects(url) if n.endswith('.pth')) == ['epoch_4.pth', 'latest.pth']


def test_auto_resume_on_a_url_takes_the_newest_loadable_object(caplog):
    url = 'memory://runs/broken'
    train(make_runner(url, CheckpointHook(interval=1), max_epochs=3))
    fs = MemoryFileSystem()
    time.sleep(0.01)
    fs.pipe_file('/runs/broken/epoch_9.pth', b'PK\x03\x04 not a whole checkpoint')  # the newest
    fs.pipe_file('/runs/broken/latest.pth', b'fastrun-pointer epoch_7.pth\n')  # names nothing
    with caplog.at_level(logging.WARNING, logger='fastrun'):
        assert find_resumable_checkpoint(url) == f'{url}/epoch_3.pth'
    skipped = [r.getMessage() for r in caplog.records if 'auto-resume: skipping' in r.getMessage()]
    assert len(skipped) == 2
    assert 'latest.pth' in skipped[0] and 'epoch_7.pth' in skipped[0]
    assert 'epoch_9.pth' in skipped[1] and 'truncated or corrupt' in skipped[1]
    assert 'use the previous checkpoint instead: memory://runs/broken/epoch_3.pth' in skipped[1]


# ---------------------------------------------------------------- the upload thread
class CheckHeld(Hook):
    """After the first checkpoint save: records what the store and fastrun see, then lets the
    held upload go a little later (the run keeps training meanwhile)."""

    def __init__(self, url):
        self.url = url
        self.seen = None

    def before_run(self, runner):
        RecordingFS.gate = threading.Event()  # from now on every write waits for it

    def after_train_epoch(self, runner):
        if self.seen is None:
            ours = lambda names: sorted(n for n in names if n != workdir.LOCK_NAME)  # noqa: E731
            self.seen = (ours(objects(self.url)), storage.isfile(f'{self.url}/epoch_1.pth'),
                         ours(storage.listdir(self.url)))
            threading.Timer(0.3, RecordingFS.gate.set).start()


def test_uploads_run_in_the_background_and_the_run_waits_for_them():
    url = 'recmem://runs/bg'
    check = CheckHeld(url)
    runner = make_runner(url, CheckpointHook(interval=1))
    # After the epoch's checkpoint is written (once the hooks up to LOW have run).
    runner.register_hook(check, 'VERY_LOW')
    train(runner)
    # the save returned while its upload was held: the store had nothing, fastrun's view had it
    assert check.seen == ([], True, ['epoch_1.pth', 'latest.pth'])
    # run() returned only once every upload was complete
    assert sorted(n for n in objects(url) if n.endswith('.pth')) == \
        ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth', 'epoch_4.pth', 'latest.pth']
    assert objects(url)['latest.pth'] == b'fastrun-pointer epoch_4.pth\n'


def test_a_failed_upload_raises_naming_the_url_and_loses_nothing(staging, warnings_of_fastrun,
                                                                 monkeypatch):
    url = 'recmem://runs/fail'
    monkeypatch.setattr(storage, 'UPLOAD_RETRIES', 2)
    RecordingFS.fail_on = 'epoch_3.pth'
    runner = make_runner(url, CheckpointHook(interval=1, max_keep_ckpts=1))
    with pytest.raises(storage.UploadError) as err:
        train(runner)
    message = str(err.value)
    assert f'cannot upload to {url}/epoch_3.pth after 3 attempts (ConnectionError' in message
    local = staging / 'recmem' / 'runs' / 'fail' / 'epoch_3.pth'
    assert f'the local copy is kept at {local}' in message
    retries = [m for m in warnings_of_fastrun if 'retrying in' in m]
    assert [m.rsplit(' ', 2)[-2] for m in retries] == ['0.01', '0.02']  # the backoff doubles
    assert all(f'{url}/epoch_3.pth' in m for m in retries)
    # raised at the next save or at the end of the run: nothing after the failed upload ran
    # (no pointer to epoch_3, no deletion of epoch_2), so the store is as it was before it
    files = objects(url)
    assert sorted(n for n in files if n.endswith('.pth')) == ['epoch_2.pth', 'latest.pth']
    assert files['latest.pth'] == b'fastrun-pointer epoch_2.pth\n'
    assert read_checkpoint(f'{url}/latest.pth')['meta']['epoch'] == 2
    # the training state is not lost: epochs 3 and 4 stay on the local disk, whole
    assert read_checkpoint(str(local))['meta']['epoch'] == 3
    assert read_checkpoint(str(local.with_name('epoch_4.pth')))['meta']['epoch'] == 4


def test_the_best_checkpoint_goes_to_a_url_out_dir(tmp_path):
    from torch.utils.data import DataLoader

    from fastrun.hooks.evaluation import EvalHook
    from tests.test_eval_hook import Classifier, ScriptedSet
    torch.manual_seed(0)
    model = Classifier()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    work_dir=str(tmp_path / 'exp'), max_epochs=4)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    scores = ScriptedSet(scores=[0.5, 0.7, 0.6, 0.9])
    runner.register_hook(EvalHook(DataLoader(scores, batch_size=2), save_best='accuracy_top-1',
                                  out_dir='memory://best'), 'LOW')
    runner.run([DataLoader(ScriptedSet(), batch_size=2)], [('train', 1)])
    best = 'memory://best/exp/best_accuracy_top-1_epoch_4.pth'
    assert runner.meta['hook_msgs']['best_ckpt'] == best
    assert list(objects('memory://best/exp')) == ['best_accuracy_top-1_epoch_4.pth']
    assert read_checkpoint(best)['meta']['epoch'] == 4
    assert not [n for n in os.listdir(tmp_path / 'exp') if n.endswith('.pth')]


def test_pretrained_weights_and_load_from_read_a_url():
    from fastrun.models import SmallCNN
    from tests.test_models import cnn_classifier
    torch.manual_seed(0)
    trained = cnn_classifier()
    url = 'memory://zoo/cnn.pth'
    with fsspec.open(url, 'wb') as f:
        torch.save({'meta': {'epoch': 1}, 'state_dict': trained.state_dict()}, f)
    torch.manual_seed(1)
    fresh = SmallCNN(in_channels=3, channels=(8, 16), init_cfg=dict(
        type='Pretrained', checkpoint=url, prefix='backbone.'))
    fresh.init_weights()
    assert_same_weights(fresh.state_dict(), trained.backbone.state_dict())
    other = cnn_classifier()
    runner = Runner(other, work_dir=None, max_epochs=1)
    runner.load_checkpoint(url)
    assert_same_weights(other.state_dict(), trained.state_dict())
    with pytest.raises(FileNotFoundError, match="memory://zoo/nothing.pth' not found"):
        SmallCNN(in_channels=3, init_cfg=dict(type='Pretrained',
                                              checkpoint='memory://zoo/nothing.pth')).init_weights()


# ---------------------------------------------------------------- logs and the CLI
def test_text_logs_are_uploaded_to_a_url_out_dir(tmp_path):
    work = tmp_path / 'exp'
    runner = make_runner(str(work), TextLoggerHook(interval=1, out_dir='memory://logs',
                                                   keep_local=False), max_epochs=1)
    train(runner)
    name = f'{runner.timestamp}.log.json'
    uploaded = objects('memory://logs/exp')
    assert list(uploaded) == [name]
    assert len(uploaded[name].decode().splitlines()) == 3  # one record per iteration
    assert not (work / name).exists()


CONFIG = '''
model = dict(type='ImageClassifier',
             backbone=dict(type='MLP', in_channels=16, hidden_channels=(8,)),
             head=dict(type='LinearClsHead', num_classes=4, in_channels=8))
data = dict(samples_per_gpu=16, workers_per_gpu=0,
            train=dict(type='SyntheticClassification', num_samples=32, shape=(1, 4, 4),
                       num_classes=4, seed=0),
            test=dict(type='SyntheticClassification', num_samples=16, shape=(1, 4, 4),
                      num_classes=4, seed=1))
optimizer = dict(type='SGD', lr=0.05, momentum=0.9)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[3])
runner = dict(type='EpochBasedRunner', max_epochs=2)
checkpoint_config = dict(interval=1, max_keep_ckpts=1)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
workflow = [('train', 1)]
seed = 0
'''


def test_the_cli_with_a_url_work_dir_puts_the_whole_run_there(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'cfg.py').write_text(CONFIG)
    url = 'memory://user:hunter2@runs/cli'
    assert cli_main(['train', 'cfg.py', '--work-dir', url]) == 0
    assert cli_main(['train', 'cfg.py', '--work-dir', url, '--auto-resume',
                     '--cfg-options', 'runner.max_epochs=3']) == 0
    files = objects(url)
    logs = sorted(n for n in files if n.endswith('.log'))  # one per run
    assert logs and len([n for n in files if n.endswith('.log.json')]) == len(logs)
    # max_keep_ckpts=1 holds: epoch_2 (resumed from) went once epoch_3 was complete
    assert sorted(n for n in files if n.endswith('.pth')) == ['epoch_3.pth', 'latest.pth']
    assert 'config.py' in files
    second = files[logs[-1]].decode()
    assert 'auto-resume: resuming from memory://***@runs/cli/latest.pth' in second
    assert 'resumed epoch 2, iter 4' in second
    # the user info is never logged
    assert not any(b'hunter2' in data for n, data in files.items() if '.log' in n)
    # the summary names the folder and the logs by their URLs, redacted and intact
    assert 'Checkpoints: memory://***@runs/cli/' in second
    assert re.search(r'Logs: memory://\*\*\*@runs/cli/(\d{8}_\d{6}(_2)?)\.log, '
                     r'memory://\*\*\*@runs/cli/\1\.log\.json', second)
    assert len(logs) == 2  # the second run's logs never append to the first's (same second: _2)
    assert '.fastrun.lock' not in files  # the work dir's lock is neither mirrored nor left
    assert sorted(os.listdir(tmp_path)) == ['cfg.py', 'staging']
    capsys.readouterr()
    # fastrun test on the URL of latest.pth: the pointer object is followed
    assert cli_main(['test', 'cfg.py', f'{url}/latest.pth', '--metric-options', 'topk=1']) == 0
    assert 'accuracy' in capsys.readouterr().out


# ---------------------------------------------------------------- what is refused, and how
def test_a_missing_backend_names_the_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 's3fs', None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install fastrun\[s3\]'):
        storage.check_url('s3://bucket/run')
    with pytest.raises(ConfigError, match=r'work_dir: .*pip install fastrun\[s3\]'):
        check_types(Config(dict(work_dir='s3://bucket/run')))
    runner = make_runner(str(tmp_path), CheckpointHook(interval=1, out_dir='s3://bucket/ckpt'))
    with pytest.raises(ImportError, match=r'pip install fastrun\[s3\]'):
        train(runner)
    assert runner.iter == 0  # before training
    for module, url, extra in (('gcsfs', 'gs://b/run', 'gcs'), ('adlfs', 'az://c/run', 'azure')):
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(ImportError, match=rf'pip install fastrun\[{extra}\]'):
            storage.check_url(url)


def test_mmcv_file_client_args_map_to_fsspec_or_fail_before_training():
    storage.check_location('memory://out', None)
    storage.check_location('out', dict(backend='disk'))
    for args, match in ((dict(backend='petrel'), "backend 'petrel' .*no fsspec equivalent"),
                        (dict(prefix='s3'), "backend 'petrel'"),
                        (dict(backend='lmdb'), "backend 'lmdb' .*LMDB"),
                        (dict(backend='disk', key='AKIA'), 'credentials come from the environment')):
        with pytest.raises(ArgumentError, match=match):
            storage.check_location('s3://bucket/out', args)
    with pytest.raises(ArgumentError, match='is a URL but file_client_args names the local disk'):
        storage.check_location('memory://out', dict(backend='disk'))
    with pytest.raises(ConfigError, match=r'work_dir: https://example.com/run: https:// is read-only'):
        check_types(Config(dict(work_dir='https://example.com/run')))
    cfg = Config(dict(checkpoint_config=dict(interval=1, out_dir='s3://user/data',
                                             file_client_args=dict(backend='petrel'))))
    with pytest.raises(ConfigError, match="checkpoint_config.file_client_args: .*'petrel'"):
        check_types(cfg)
    with pytest.raises(ConfigError, match="load_from: .*unknown storage protocol 'open-mmlab'"):
        check_types(Config(dict(load_from='open-mmlab://resnet50')))


# ---------------------------------------------------------------- an outage of the store
class FlakyStore(MemoryFileSystem):
    """An in-memory object store that goes down: ``hold`` (an Event, when set) makes every
    listing wait until it is set again (at most 10 s, then a timeout); ``down`` makes every
    call fail, and it goes down by itself at the first write of a path containing
    ``down_at``. ``listed`` counts the listings, ``waited`` the ones that hit the hold.
    """

    protocol = 'flaky'
    store = {}
    pseudo_dirs = ['']
    hold = None
    down = False
    down_at = None
    listed = 0
    waited = 0

    def _call(self, path):
        if FlakyStore.down_at and FlakyStore.down_at in path:
            FlakyStore.down = True
        if FlakyStore.down:
            raise ConnectionError(f'Could not connect to the endpoint URL for {path}\n(outage)')

    def ls(self, path, detail=True, **kwargs):
        FlakyStore.listed += 1
        if FlakyStore.hold is not None and not FlakyStore.hold.is_set():
            FlakyStore.waited += 1
            if not FlakyStore.hold.wait(10):
                raise TimeoutError(f'listing {path} timed out')
        self._call(path)
        return super().ls(path, detail=detail, **kwargs)

    def pipe_file(self, path, value, **kwargs):
        self._call(path)
        super().pipe_file(path, value, **kwargs)

    def put_file(self, lpath, rpath, **kwargs):
        self._call(rpath)
        super().put_file(lpath, rpath, **kwargs)

    def rm(self, path, *args, **kwargs):
        self._call(path)
        super().rm(path, *args, **kwargs)


fsspec.register_implementation('flaky', FlakyStore, clobber=True)


@pytest.fixture
def flaky():
    FlakyStore.hold, FlakyStore.down, FlakyStore.down_at = None, False, None
    FlakyStore.listed = FlakyStore.waited = 0
    yield FlakyStore
    if FlakyStore.hold is not None:
        FlakyStore.hold.set()
    FlakyStore.down = False
    storage.wait_uploads(raise_errors=False)
    FlakyStore.store.clear()


class HoldListings(Hook):
    """From the end of epoch 1 on, every listing of the store waits (an outage that hangs);
    at after_run (the loop is over, the run has not waited for its uploads yet) records what
    the loop saw, then lets the listings go."""

    def __init__(self):
        self.seen = None

    def after_train_epoch(self, runner):
        if runner.epoch == 0:
            FlakyStore.hold = threading.Event()

    def after_run(self, runner):
        self.seen = dict(epoch=runner.epoch, waited=FlakyStore.waited,
                         held=not FlakyStore.hold.is_set())
        FlakyStore.hold.set()


def test_a_store_whose_listing_hangs_never_holds_the_training_loop(flaky):
    url = 'flaky://runs/hang'
    hold = HoldListings()
    runner = make_runner(url, CheckpointHook(interval=1, max_keep_ckpts=1))
    runner.register_hook(hold, 'HIGHEST')  # before the checkpoint of epoch 1 is written
    start = time.monotonic()
    train(runner)
    # the four epochs trained while the rotation's listing hung in the upload thread
    assert hold.seen == dict(epoch=4, waited=1, held=True)
    assert time.monotonic() - start < 8  # the main thread never waited out a listing (10 s)
    # once the store answered, rotation ran: max_keep_ckpts=1 holds
    assert sorted(n for n in objects(url) if n.endswith('.pth')) == ['epoch_4.pth', 'latest.pth']


def test_an_outage_ends_in_one_line_exit_1_and_keeps_the_local_copies(tmp_path, monkeypatch,
                                                                      capsys, flaky, staging):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(storage, 'UPLOAD_RETRIES', 2)
    (tmp_path / 'cfg.py').write_text(CONFIG.replace('max_epochs=2', 'max_epochs=4'))
    flaky.down_at = 'epoch_2.pth'  # the store goes down for good at epoch 2's upload
    url = 'flaky://runs/outage'
    code = cli_main(['train', 'cfg.py', '--work-dir', url])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith('fastrun: error:')]
    assert code == 1, err[-3000:]  # a run that failed, as a full disk (not 2: no usage error)
    assert 'Traceback' not in err
    local = staging / 'flaky' / 'runs' / 'outage' / 'epoch_2.pth'
    assert len(errors) == 1
    assert re.fullmatch(re.escape(f'fastrun: error: cannot upload to {url}/epoch_2.pth after 3 '
                                  f'attempts (ConnectionError: Could not connect to the endpoint '
                                  f'URL for ') + r'\S+epoch_2\.pth\S* \(outage\)\); ' +
                        re.escape(f'the local copy is kept at {local}; the files uploaded before '
                                  f'are unchanged') + r'( \(--debug shows the traceback\))?',
                        errors[0]), errors
    assert read_checkpoint(str(local))['meta']['epoch'] == 2
    flaky.down = False
    files = objects(url)
    assert sorted(n for n in files if n.endswith('.pth')) == ['epoch_1.pth', 'latest.pth']
    assert files['latest.pth'] == b'fastrun-pointer epoch_1.pth\n'


class FailListings(Hook):
    def before_train_epoch(self, runner):
        FlakyStore.hold = None
        FlakyStore.ls = _failing_ls


def _failing_ls(self, path, detail=True, **kwargs):
    raise ConnectionError('listing refused')


def test_a_rotation_that_cannot_list_warns_and_the_run_goes_on(flaky, warnings_of_fastrun,
                                                               monkeypatch):
    url = 'flaky://runs/nolist'
    runner = make_runner(url, CheckpointHook(interval=1, max_keep_ckpts=1), max_epochs=2)
    runner.register_hook(FailListings())
    monkeypatch.setattr(FlakyStore, 'ls', FlakyStore.ls)  # put back after the test
    train(runner)
    warned = [m for m in warnings_of_fastrun
              if 'cannot remove the checkpoints beyond max_keep_ckpts from' in m]
    assert warned == [f'cannot remove the checkpoints beyond max_keep_ckpts from {url} after 4 '
                      f'attempts (ConnectionError: listing refused); what is there stays as it '
                      f'is'] * 2
    # nothing lost: every checkpoint uploaded, none deleted
    monkeypatch.undo()  # the store lists again
    assert sorted(n for n in objects(url) if n.endswith('.pth')) == \
        ['epoch_1.pth', 'epoch_2.pth', 'latest.pth']
