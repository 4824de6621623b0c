"""Checkpoints on S3 for real: a local S3 server (moto in server mode) reached through s3fs.

``fastrun train --work-dir s3://...`` runs in real processes: one is killed (SIGKILL) while a
checkpoint upload is in flight, one is stopped by SIGTERM while its last upload is in flight,
and ``--auto-resume`` from the bucket finishes with the weights of a run never interrupted.
Uploads are held in flight by a small TCP proxy in front of the server, which forwards the
headers of a chosen PUT and the first bytes of its body, then nothing more until the test
says so.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

s3fs = pytest.importorskip('s3fs')
pytest.importorskip('moto')

from fastrun.checkpoint import read_checkpoint  # noqa: E402
from fastrun.hooks.checkpoint import CheckpointHook  # noqa: E402
from fastrun.hooks.logger.text import TextLoggerHook  # noqa: E402
from tests.test_storage import assert_same_weights, make_runner, staging, train  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 120  # seconds for one launch; a healthy one takes a few
SECRET = 'fastrun-test-secret-7f3a9c'  # the S3 secret key: must never be written anywhere


def s3_env(endpoint, staging):
    """The environment of a process talking to ``endpoint``: credentials the way AWS tools
    take them, the endpoint through fsspec's own configuration variable."""
    return dict(os.environ, AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY=SECRET,
                AWS_DEFAULT_REGION='us-east-1', AWS_EC2_METADATA_DISABLED='true',
                AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                FSSPEC_S3=json.dumps({'client_kwargs': {'endpoint_url': endpoint}}),
                FASTRUN_STAGING_DIR=str(staging), OMP_NUM_THREADS='1',
                PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


@pytest.fixture
def s3(s3_server, staging, monkeypatch, request):
    """A fresh bucket; this process reaches the server as the launched ones do."""
    import fsspec.config
    for key, value in s3_env(s3_server, staging).items():
        if key.startswith('AWS_'):
            monkeypatch.setenv(key, value)
    monkeypatch.setitem(fsspec.config.conf, 's3', {'client_kwargs': {'endpoint_url': s3_server}})
    bucket = re.sub(r'[^a-z0-9]', '-', request.node.name.lower())[:50].strip('-')
    fs = s3fs.S3FileSystem()
    fs.mkdir(bucket)
    return fs, bucket


def s3_objects(fs, prefix):
    """``{name: bytes}`` of the objects under ``prefix``, read from the server."""
    fs.invalidate_cache()
    return {p[len(prefix) + 1:]: fs.cat_file(p) for p in fs.find(prefix)}


# ---------------------------------------------------------------- in this process
def test_checkpoints_rotation_logs_and_a_missing_bucket_on_s3(s3, tmp_path):
    fs, bucket = s3
    url = f's3://{bucket}/unit'
    hooks = (CheckpointHook(interval=1, max_keep_ckpts=2),
             TextLoggerHook(interval=1, out_dir=f's3://{bucket}/logs'))
    runner = train(make_runner(url, *hooks))
    files = s3_objects(fs, f'{bucket}/unit')
    assert sorted(n for n in files if n.endswith('.pth')) == ['epoch_3.pth', 'epoch_4.pth',
                                                             'latest.pth']
    assert files['latest.pth'] == b'fastrun-pointer epoch_4.pth\n'
    assert read_checkpoint(f'{url}/latest.pth')['meta']['epoch'] == 4
    assert f'{runner.timestamp}.log.json' in s3_objects(fs, f'{bucket}/logs/unit')

    # a bucket that does not exist: an error naming it before the first iteration
    runner = make_runner(str(tmp_path / 'local'),
                         CheckpointHook(interval=1, out_dir=f's3://{bucket}-missing/x'))
    with pytest.raises(FileNotFoundError, match=rf"s3://{bucket}-missing/x/local: the bucket "
                                                rf"'{bucket}-missing' does not exist"):
        train(runner)
    assert runner.iter == 0



def test_the_command_with_a_work_dir_in_a_missing_bucket_fails_before_writing(
        s3, tmp_path, monkeypatch, capsys):
    from fastrun.cli import main
    from tests.test_storage import CONFIG
    fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'cfg.py').write_text(CONFIG)
    assert main(['train', 'cfg.py', '--work-dir', f's3://{bucket}-missing/run']) == 2
    err = capsys.readouterr().err
    # one line naming the bucket, and no upload was tried (no retries, nothing staged)
    assert err.strip().splitlines() == [
        f"fastrun: error: s3://{bucket}-missing/run: the bucket '{bucket}-missing' does not "
        f"exist or is not visible with the credentials in the environment"]
    assert not list(tmp_path.glob('staging/**/config.py'))


def test_a_url_missing_a_slash_is_a_config_error_not_a_folder(tmp_path, monkeypatch, capsys):
    from fastrun.cli import main
    from tests.test_storage import CONFIG
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'cfg.py').write_text(CONFIG)
    for option in (['--work-dir', 's3:/runs/x'],
                   ['--cfg-options', 'checkpoint_config.out_dir=gs:/runs/x']):
        assert main(['train', 'cfg.py', *option]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "looks like a URL missing a '/'" in err[0], err
    assert not (tmp_path / 's3:').exists() and not (tmp_path / 'gs:').exists()


# ---------------------------------------------------------------- real processes
class HoldingProxy:
    """A TCP proxy to the S3 server. The first request whose request line matches ``pattern``
    is held: its headers and the first bytes of its body go through, the rest waits until
    ``release`` (then it completes) or ``drop`` (then the connection is closed)."""

    def __init__(self, endpoint, pattern):
        self.upstream = ('127.0.0.1', int(endpoint.rsplit(':', 1)[1]))
        self.pattern = re.compile(pattern)
        self.held, self.release, self.drop = threading.Event(), threading.Event(), threading.Event()
        self._taken = False
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.bind(('127.0.0.1', 0))
        self._server.listen(16)
        self.endpoint = f'http://127.0.0.1:{self._server.getsockname()[1]}'
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.drop.set()
        self._server.close()

    def _accept(self):
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _hold_point(self, data):
        # Where to stop forwarding: after the headers and 64 bytes of the body, or None.
        match = self.pattern.search(data)
        if match is None:
            return None
        with self._lock:
            if self._taken:
                return None
            self._taken = True
        end = data.find(b'\r\n\r\n', match.start())
        return len(data) if end < 0 else min(len(data), end + 4 + 64)

    def _pump(self, src, dst, requests):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                cut = self._hold_point(data) if requests else None
                if cut is not None:
                    dst.sendall(data[:cut])
                    self.held.set()
                    while not (self.release.wait(0.05) or self.drop.is_set()):
                        pass
                    if self.drop.is_set():
                        break  # the rest of the request never reaches the server
                    data = data[cut:]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


HELPERS = '''
import os
import time

from fastrun import HOOKS, Hook


@HOOKS.register_module()
class Mark(Hook):
    """Sleeps ``delay`` per iteration; after the iterations in ``at`` writes ``mark_<iter>``
    into the (local) work dir."""

    def __init__(self, delay=0.0, at=()):
        self.delay, self.at = delay, tuple(at)

    def after_train_iter(self, runner):
        time.sleep(self.delay)
        if runner.iter + 1 in self.at:
            open(os.path.join(runner.work_dir, f'mark_{runner.iter + 1}'), 'w').close()
'''

CONFIG = '''
custom_imports = dict(imports=['s3_helpers'])
model = dict(type='ImageClassifier',
             backbone=dict(type='MLP', in_channels=16, hidden_channels=(32,), dropout=0.2),
             head=dict(type='LinearClsHead', num_classes=4, in_channels=32))
data = dict(samples_per_gpu=8, workers_per_gpu=0,
            train=dict(type='SyntheticClassification', num_samples=64, shape=(1, 4, 4),
                       num_classes=4, seed=0))
optimizer = dict(type='SGD', lr=0.05, momentum=0.9)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[3])
runner = dict(type='EpochBasedRunner', max_epochs=4)
checkpoint_config = dict(interval=1, max_keep_ckpts=2)
log_config = dict(interval=4, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='Mark', delay=0.03, at=(12, 20))]
workflow = [('train', 1)]
seed = 0
'''


def launch(cfg_dir, url, endpoint, staging, *args):
    return subprocess.Popen([sys.executable, '-m', 'fastrun', 'train', 'cfg.py', '--work-dir', url,
                             *args], cwd=cfg_dir, env=s3_env(endpoint, staging),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc):
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f'the run did not end:\n{out[-4000:]}')
    return proc.returncode, out


def wait_until(condition, proc, what):
    end = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f'the run ended ({proc.returncode}) before {what}:\n{proc.communicate()[0][-4000:]}')
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f'timed out waiting for {what}')
        time.sleep(0.02)


def assert_every_object_loads(fs, prefix):
    """Every checkpoint object under ``prefix`` loads; latest.pth points at one that does."""
    names = sorted(n for n in s3_objects(fs, prefix) if n.endswith('.pth'))
    for name in names:
        read_checkpoint(f's3://{prefix}/{name}')  # raises if truncated or corrupt
    return names


def test_killed_during_an_upload_stopped_during_another_then_resumed_from_the_bucket(
        s3, s3_server, tmp_path, staging):
    fs, bucket = s3
    (tmp_path / 's3_helpers.py').write_text(HELPERS)
    (tmp_path / 'cfg.py').write_text(CONFIG)
    local = staging / 's3' / bucket / 'run'  # the run's local staging folder
    run = f's3://{bucket}/run'
    straight = launch(tmp_path, f's3://{bucket}/straight', s3_server, staging)

    # 1. SIGKILL while epoch_2.pth is uploading (8 iterations an epoch), after training went on
    proxy = HoldingProxy(s3_server, rb'PUT /%s/run/epoch_2\.pth' % bucket.encode())
    proc = launch(tmp_path, run, proxy.endpoint, staging)
    try:
        wait_until(lambda: proxy.held.is_set() and (local / 'mark_20').exists(), proc,
                   'the upload of epoch_2.pth was held and iteration 20 was done')
        proc.kill()  # SIGKILL: nothing of fastrun runs after it
        finish(proc)
    finally:
        proxy.close()
    assert assert_every_object_loads(fs, f'{bucket}/run') == ['epoch_1.pth', 'latest.pth']
    assert s3_objects(fs, f'{bucket}/run')['latest.pth'] == b'fastrun-pointer epoch_1.pth\n'
    # the checkpoint that never reached the bucket is whole on the local disk
    assert read_checkpoint(str(local / 'epoch_2.pth'))['meta']['epoch'] == 2

    # 2. --auto-resume from the bucket; SIGTERM in epoch 2: the run waits for its last upload
    for mark in local.glob('mark_*'):
        mark.unlink()
    proxy = HoldingProxy(s3_server, rb'PUT /%s/run/epoch_\d+_iter_\d+\.pth' % bucket.encode())
    proc = launch(tmp_path, run, proxy.endpoint, staging, '--auto-resume')
    try:
        wait_until(lambda: (local / 'mark_12').exists(), proc, 'iteration 12')
        proc.send_signal(signal.SIGTERM)
        wait_until(proxy.held.is_set, proc, 'the upload of the SIGTERM checkpoint was held')
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting for its upload
        proxy.release.set()
        code, out = finish(proc)
    finally:
        proxy.close()
    assert code == 143, out[-4000:]
    assert f'auto-resume: resuming from {run}/latest.pth' in out
    assert 'resumed epoch 1, iter 8 (from' in out
    stop = re.search(r'SIGTERM received: stopped after epoch 1, iter \d+ \((\d+) batches into '
                     r'epoch 2\)', out)
    assert stop, out[-4000:]
    name = f'epoch_2_iter_{stop.group(1)}.pth'
    assert s3_objects(fs, f'{bucket}/run')['latest.pth'] == f'fastrun-pointer {name}\n'.encode()
    # the file the run resumed from is never rotated away, even with max_keep_ckpts=2
    assert assert_every_object_loads(fs, f'{bucket}/run') == ['epoch_1.pth', name, 'latest.pth']

    # 3. --auto-resume again, to the end: the weights of the run never interrupted
    code, out = finish(launch(tmp_path, run, s3_server, staging, '--auto-resume'))
    assert code == 0, out[-4000:]
    assert f'auto-resume: resuming from {run}/latest.pth' in out
    code, straight_out = finish(straight)
    assert code == 0, straight_out[-4000:]
    names = assert_every_object_loads(fs, f'{bucket}/run')
    assert names[-2:] == ['epoch_4.pth', 'latest.pth']
    ours = read_checkpoint(f'{run}/latest.pth')
    theirs = read_checkpoint(f's3://{bucket}/straight/epoch_4.pth')
    assert ours['meta']['epoch'] == theirs['meta']['epoch'] == 4
    assert_same_weights(ours['state_dict'], theirs['state_dict'])
    for i, state in theirs['optimizer']['state'].items():
        assert_same_weights(state, ours['optimizer']['state'][i])

    # the logs and the config are in the bucket too; the secret key is nowhere
    everything = s3_objects(fs, bucket)
    assert any(n.startswith('run/') and n.endswith('.log.json') for n in everything)
    assert 'run/config.py' in everything
    assert not any(SECRET.encode() in data for data in everything.values())
    assert SECRET not in out + straight_out
    assert not (tmp_path / 's3:').exists()
