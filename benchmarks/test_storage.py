"""Step time with checkpoints written locally and to a URL (uploaded in the background).

Group ``checkpoint out_dir``: 100 iterations of an ``nn.Linear(256, 256)`` SGD step (a 0.5 MiB
checkpoint with its momentum), a checkpoint every 25 iterations, keeping 2, written to:

- ``none``: no checkpoint hook (the step alone);
- ``local``: a local folder;
- ``memory``: ``memory://`` (fsspec's in-process store): written locally, uploaded by the
  background thread;
- ``memory, waited``: the same, but each save waits for its upload (what an upload in the
  training thread would cost);
- ``slow``, ``slow, waited``: a store where each write takes 50 ms and no CPU (a network
  round trip);
- ``s3``, ``s3, waited``: ``s3://`` on the local S3 server of the tests (moto, a process on
  the same cores), through s3fs.

Uploads left when a round ends are finished before the next one (untimed), so each round
starts with an idle upload thread. The step runs on one intra-op thread: on a shared 2-core
machine two threads made the step itself 10x noisier than anything measured here.
"""
import json
import time

import fsspec
import pytest
import torch
from fsspec.implementations.memory import MemoryFileSystem

import fastrun
from fastrun import Hook, OptimizerHook, Runner, storage
from fastrun.hooks.checkpoint import CheckpointHook

N_ITERS = 100
EVERY = 25  # iterations between checkpoints


class Linear256(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(256, 256)

    def train_step(self, data, optimizer=None, **kwargs):
        loss = self.fc(data).pow(2).mean()
        return dict(loss=loss, log_vars={'loss': loss.detach()}, num_samples=len(data))


class SlowStore(MemoryFileSystem):
    """An in-memory store whose writes each take 50 ms of waiting (latency, not CPU)."""

    protocol = 'slowmem'
    store = {}
    pseudo_dirs = ['']

    def put_file(self, lpath, rpath, **kwargs):
        time.sleep(0.05)
        super().put_file(lpath, rpath, **kwargs)

    def pipe_file(self, path, value, **kwargs):
        time.sleep(0.05)
        super().pipe_file(path, value, **kwargs)


fsspec.register_implementation('slowmem', SlowStore, clobber=True)


class WaitForUploads(Hook):
    """After each checkpoint save: wait until it is uploaded (the synchronous alternative)."""

    def after_train_iter(self, runner):
        if (runner.iter + 1) % EVERY == 0:
            storage.wait_uploads()


try:  # the local S3 server of the tests, when s3fs and moto are installed
    from tests.test_storage_s3 import s3_env
except pytest.skip.Exception:
    s3_env = None


@pytest.fixture
def out_dir(tmp_path, monkeypatch, request):
    """The ``out_dir`` of the variant; the store emptied after it."""
    where = request.node.callspec.params['where']
    staging = tmp_path / 'staging'
    monkeypatch.setenv('FASTRUN_STAGING_DIR', str(staging))
    scheme = {'s3': 's3', 'slow': 'slowmem'}.get(where.split(',')[0], 'memory')
    url = {'none': None, 'local': str(tmp_path / 'ckpt')}.get(where, f'{scheme}://bench/ckpt')
    if where.startswith('s3'):
        if s3_env is None:
            pytest.skip('needs s3fs and moto (pip install fastrun[test])')
        import fsspec.config
        import s3fs
        env = s3_env(request.getfixturevalue('s3_server'), staging)
        for key in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_DEFAULT_REGION'):
            monkeypatch.setenv(key, env[key])
        monkeypatch.setitem(fsspec.config.conf, 's3', json.loads(env['FSSPEC_S3']))
        s3fs.S3FileSystem().makedirs('bench', exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield url
    torch.set_num_threads(threads)
    storage.wait_uploads()
    MemoryFileSystem.store.clear()
    SlowStore.store.clear()


@pytest.mark.parametrize('where', ['none', 'local', 'memory', 'memory, waited', 'slow',
                                   'slow, waited', 's3', 's3, waited'])
def test_step_time_by_checkpoint_out_dir(benchmark, out_dir, tmp_path, where):
    torch.manual_seed(0)
    model = Linear256()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    runner = Runner(model, optimizer=opt, work_dir=str(tmp_path / 'work'), max_iters=10 ** 9,
                    logger=fastrun.get_logger('bench'))
    runner.logger.setLevel('WARNING')
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    hook = CheckpointHook(interval=EVERY, by_epoch=False, max_keep_ckpts=2, out_dir=out_dir)
    if out_dir is not None:
        runner.register_hook(hook)
    if where.endswith('waited'):
        runner.register_hook(WaitForUploads(), 'LOW')
    data = [torch.randn(16, 256) for _ in range(N_ITERS)]
    benchmark.group = 'checkpoint out_dir (100 iterations, a 0.5 MiB checkpoint every 25)'
    runner.call_hook('before_run')
    loader = fastrun.IterLoader(data)
    runner.call_hook('before_epoch')
    benchmark.pedantic(lambda: runner._run_iters('train', loader, N_ITERS),
                       setup=storage.wait_uploads, rounds=20, warmup_rounds=2)
    storage.wait_uploads()
    if out_dir is not None:  # the newest checkpoint is where it should be, whole
        latest = storage.join(hook.save_dir, 'latest.pth')
        assert fastrun.checkpoint.read_checkpoint(latest)['meta']['iter'] == runner.iter
