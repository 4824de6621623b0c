"""One run per work dir: the lock file (two real processes), a stale lock taken over, the
best-effort lock object of a URL work dir, and log names of runs started in the same second."""
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest
import torch
from fsspec.implementations.memory import MemoryFileSystem

from fastrun import Hook, Runner, storage, workdir
from fastrun.hooks.checkpoint import CheckpointHook
from fastrun.hooks.logger.text import TextLoggerHook
from fastrun.hooks.optimizer import OptimizerHook
from tests.conftest import ToyModel, make_loader
from tests.test_faults import CONFIG, HELPERS, TIMEOUT, env, fastrun, wait_for


@pytest.fixture
def cfg_dir(tmp_path):
    (tmp_path / 'fault_helpers.py').write_text(HELPERS)
    # the first run stalls 60 s in iteration 3, after writing its marker
    (tmp_path / 'cfg.py').write_text(CONFIG.replace(
        "dict(type='Pace', delay=0.03, mark=11)", "dict(type='Pace', mark=3, stall_at=3, stall=60)"))
    (tmp_path / 'free.py').write_text(CONFIG.replace(
        "custom_hooks = [dict(type='Pace', delay=0.03, mark=11)]", 'custom_hooks = []'))
    return tmp_path


def test_a_second_run_in_a_work_dir_fails_naming_the_owner_and_a_dead_owner_is_taken_over(cfg_dir):
    work = cfg_dir / 'w'
    first = subprocess.Popen([sys.executable, '-m', 'fastrun', 'train', 'cfg.py', '--work-dir',
                              str(work)], cwd=cfg_dir, env=env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(work / 'marker_rank0', first)  # training, stalled in iteration 3
        owner = json.loads((work / '.fastrun.lock').read_text())
        assert (owner['pid'], owner['host']) == (first.pid, socket.gethostname())
        logs = sorted(n for n in os.listdir(work) if '.log' in n)

        code, out = fastrun(cfg_dir, 'free.py', '--work-dir', 'w', check=False)
        assert code == 2, out[-3000:]
        last = out.strip().splitlines()[-1]
        assert last == (f'fastrun: error: w: in use by another run (pid {first.pid} on '
                        f'{socket.gethostname()}, started {owner["started"]}; lock file '
                        f'{work / ".fastrun.lock"}): wait for it to end or give another work '
                        f'dir; if that run is gone, delete the lock file'), out[-3000:]
        assert 'Traceback' not in out
        # the second run wrote nothing there: no log of its own, the config is the first's
        assert sorted(n for n in os.listdir(work) if '.log' in n) == logs
        assert 'Pace' in (work / 'config.py').read_text()
    finally:
        first.kill()  # SIGKILL: the lock file stays, naming a process that is gone
        first.wait(timeout=TIMEOUT)
    assert (work / '.fastrun.lock').exists()

    code, out = fastrun(cfg_dir, 'free.py', '--work-dir', 'w')
    assert (f'work dir {work}: taking over the lock of a run that is gone (pid {first.pid} on '
            f'{socket.gethostname()}, started {owner["started"]})') in out
    assert not (work / '.fastrun.lock').exists()  # released at the end of the run
    assert (work / 'epoch_4.pth').exists()


# ---------------------------------------------------------------- in one process
def toy_runner(work_dir, *hooks, max_epochs=1):
    torch.manual_seed(0)
    model = ToyModel()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    work_dir=work_dir, max_epochs=max_epochs)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    for hook in hooks:
        runner.register_hook(hook)
    return runner


def test_runs_started_in_the_same_second_get_their_own_logs(tmp_path):
    names = []
    for _ in range(3):
        runner = toy_runner(str(tmp_path), TextLoggerHook(interval=1))
        runner.timestamp = '20260101_120000'  # as if started in the same second
        runner.run([make_loader(2)], [('train', 1)])
        names.append(runner.timestamp)
    assert names == ['20260101_120000', '20260101_120000_2', '20260101_120000_3']
    for name in names:  # one run per file: two records each (one per iteration)
        with open(tmp_path / f'{name}.log.json') as f:
            assert sum(1 for line in f if '"loss"' in line) == 2
    (tmp_path / '20260101_130000.log').write_text('')
    assert workdir.unique_stamp(str(tmp_path), '20260101_130000') == '20260101_130000_2'
    assert not (tmp_path / '.fastrun.lock').exists()


def test_a_lock_of_another_live_process_stops_the_runner_before_any_hook(tmp_path):
    other = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        (tmp_path / '.fastrun.lock').write_text(json.dumps(dict(
            pid=other.pid, host=socket.gethostname(), started='2026-01-01 12:00:00', token='x')))
        runner = toy_runner(str(tmp_path), CheckpointHook(interval=1))
        with pytest.raises(workdir.WorkDirInUse, match=f'in use by another run \\(pid {other.pid}'):
            runner.run([make_loader(2)], [('train', 1)])
        assert sorted(os.listdir(tmp_path)) == ['.fastrun.lock']  # nothing written
    finally:
        other.kill()
        other.wait()


@pytest.fixture
def memory_store(tmp_path, monkeypatch):
    monkeypatch.setenv('FASTRUN_STAGING_DIR', str(tmp_path / 'staging'))
    monkeypatch.setattr(workdir, 'SETTLE_S', 0.01)
    yield MemoryFileSystem()
    storage.wait_uploads(raise_errors=False)
    storage._uploads._mirrors.clear()
    MemoryFileSystem.store.clear()


def test_a_live_lock_object_of_another_host_stops_the_run(memory_store):
    url = 'memory://runs/locked'
    lock = '/runs/locked/.fastrun.lock'
    foreign = dict(pid=4242, host='node-17', started='2026-01-01 12:00:00', token='x',
                   heartbeat=time.time())
    memory_store.pipe_file(lock, json.dumps(foreign).encode())
    runner = toy_runner(url, CheckpointHook(interval=1))
    with pytest.raises(workdir.WorkDirInUse) as err:
        runner.run([make_loader(2)], [('train', 1)])
    assert str(err.value).startswith(f'[Errno 16] in use by another run (pid 4242 on node-17, '
                                     f'started 2026-01-01 12:00:00; lock file {url}/.fastrun.lock)')
    assert err.value.filename == url
    assert memory_store.ls('/runs/locked', detail=False) == [lock]  # nothing else written
    assert not os.path.exists(os.path.join(runner.work_dir, '.fastrun.lock'))  # local one given up


def test_a_stale_lock_object_is_taken_over_with_a_warning_and_removed_at_the_end(memory_store):
    url = 'memory://runs/stale'
    lock = '/runs/stale/.fastrun.lock'
    stale = dict(pid=4242, host='node-17', started='2026-01-01 12:00:00', token='x',
                 heartbeat=time.time() - workdir.STALE_S - 1)
    memory_store.pipe_file(lock, json.dumps(stale).encode())
    seen = {}

    class Look(Hook):
        def after_train_epoch(self, runner):
            seen['object'] = json.loads(memory_store.cat_file(lock))

    runner = toy_runner(url, CheckpointHook(interval=1), Look())
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger('fastrun').addHandler(handler)
    try:
        runner.run([make_loader(2)], [('train', 1)])
    finally:
        logging.getLogger('fastrun').removeHandler(handler)
    assert any(m.startswith(f'work dir {url}: taking over the lock object of a run that is gone '
                            f'(pid 4242 on node-17, started 2026-01-01 12:00:00; no heartbeat for')
               for m in messages), messages
    assert (seen['object']['pid'], seen['object']['host']) == (os.getpid(), socket.gethostname())
    names = [n.rsplit('/', 1)[-1] for n in memory_store.ls('/runs/stale', detail=False)]
    assert '.fastrun.lock' not in names and 'epoch_1.pth' in names


def test_a_forked_child_leaves_its_parents_lock_alone(tmp_path):
    lock = workdir.own(str(tmp_path))
    try:
        pid = os.fork()
        if pid == 0:  # the child exits as a process does: its atexit handlers run
            workdir.release_all()
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        assert json.loads((tmp_path / '.fastrun.lock').read_text())['pid'] == os.getpid()
    finally:
        workdir.release(lock)
    assert not (tmp_path / '.fastrun.lock').exists()
