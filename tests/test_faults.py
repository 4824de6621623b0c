"""Nothing lost: kills during checkpoint writes, preemption, full disks, NaNs and bad input.

The process-level cases run real subprocesses (``python -m fastrun train``, a forking
"zygote" for the SIGKILL storm, torchrun for two ranks); every launch has a timeout, so a
hang fails the test instead of blocking the suite.
"""
import glob
import json
import logging
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import fastrun.hooks.invalid_loss  # noqa: F401  (registers the hooks used below)
from fastrun import Config, ConfigError, Hook, Runner
from fastrun.builder import build_dataset, build_model, set_random_seed, train_model
from fastrun.checkpoint import (CheckpointError, _read_safetensors, find_resumable_checkpoint,
                                read_checkpoint)
from fastrun.cli import run as cli_main  # errors propagate (main() reports them in one line)
from fastrun.hooks.checkpoint import CheckpointHook
from fastrun.hooks.invalid_loss import CheckInvalidLossHook
from fastrun.hooks.logger.text import TextLoggerHook
from tests.conftest import ToyModel, make_loader

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TIMEOUT = 120  # seconds for one launch; a healthy one takes a few


def env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
                OMP_NUM_THREADS='1')


def run(args, cwd, timeout=TIMEOUT):
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def fastrun(cwd, *args, check=True):
    code, out = run([sys.executable, '-m', 'fastrun', 'train', *map(str, args)], cwd)
    if check:
        assert code == 0, out[-6000:]
    return code, out


def wait_for(path, proc, limit=TIMEOUT):
    """Wait until ``path`` exists (the process is where the test wants it), or fail."""
    end = time.monotonic() + limit
    while not osp.exists(path):
        if proc.poll() is not None:
            pytest.fail(f'the process ended ({proc.returncode}) before {path} appeared:\n'
                        f'{proc.communicate()[0][-4000:]}')
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f'{path} did not appear')
        time.sleep(0.02)


# A module the configs import (custom_imports): hooks to pace a run and mark where it is.
HELPERS = '''
import os
import time

from fastrun import HOOKS, Hook


@HOOKS.register_module()
class Pace(Hook):
    """Sleeps ``delay`` per iteration; after iteration ``mark`` writes ``marker_rank<R>``
    (holding the pid); sleeps ``stall`` seconds after iteration ``stall_at``; records the
    last iteration in ``last_rank<R>`` at after_run."""

    def __init__(self, delay=0.0, mark=None, stall_at=None, stall=0.0):
        self.delay, self.mark, self.stall_at, self.stall = delay, mark, stall_at, stall

    def _path(self, runner, name):
        return os.path.join(runner.work_dir, f'{name}_rank{runner.rank}')

    def after_train_iter(self, runner):
        time.sleep(self.delay)
        if runner.iter + 1 == self.mark:
            # Written whole, then renamed: the test sees the file only once it holds the pid.
            path = self._path(runner, 'marker')
            with open(path + '.part', 'w') as f:
                f.write(str(os.getpid()))
            os.replace(path + '.part', path)
        if runner.iter + 1 == self.stall_at:
            time.sleep(self.stall)

    def after_run(self, runner):
        with open(self._path(runner, 'last'), 'w') as f:
            f.write(str(runner.iter))


@HOOKS.register_module()
class LimitFileSize(Hook):
    """After epoch ``epoch``, files of more than ``limit`` bytes can no longer be written."""

    def __init__(self, epoch, limit):
        self.epoch, self.limit = epoch, limit

    def after_train_epoch(self, runner):
        import resource
        import signal
        if runner.epoch + 1 == self.epoch:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, resource.RLIM_INFINITY))
'''

CONFIG = '''
custom_imports = dict(imports=['fault_helpers'])
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
log_config = dict(interval=3, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='Pace', delay=0.03, mark=11)]
workflow = [('train', 1)]
seed = 0
'''


@pytest.fixture
def cfg_dir(tmp_path):
    (tmp_path / 'fault_helpers.py').write_text(HELPERS)
    (tmp_path / 'cfg.py').write_text(CONFIG)
    return tmp_path


def json_losses(work_dir):
    out = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*.log.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get('mode') == 'train':
                    out[(rec['epoch'], rec['iter'])] = (rec['loss'], rec['lr'])
    return out


def assert_same_checkpoint(a, b):
    ca, cb = read_checkpoint(a), read_checkpoint(b)
    for k, v in ca['state_dict'].items():
        assert torch.equal(v, cb['state_dict'][k]), k
    for i, state in ca['optimizer']['state'].items():
        for k, v in state.items():
            assert torch.equal(v, cb['optimizer']['state'][i][k]), (i, k)


# ---------------------------------------------------------------- SIGKILL while saving
ZYGOTE = '''
import io
import os
import signal
import sys
import time

import torch
torch.set_num_threads(1)
from fastrun.builder import build_dataset, build_model
from fastrun.cli import load_config, main

cfg, work = sys.argv[1], sys.argv[2]
# What is slow the first time in a process is done once here, before forking.
c = load_config(cfg)
model = build_model(c['model'])
torch.optim.SGD(model.parameters(), lr=0.1)
torch.save(model.state_dict(), io.BytesIO())
build_dataset(c['data']['train'])
print('ready', flush=True)
for line in sys.stdin:  # one delay per line: train in a child, SIGKILL it after the delay
    pid = os.fork()
    if pid == 0:
        try:
            code = main(['train', cfg, '--work-dir', work, '--auto-resume'])
        except SystemExit as e:
            code = e.code
        except BaseException:
            code = 3
        os._exit(code or 0)
    time.sleep(float(line))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    print('killed', status, flush=True)
'''

BIG_CONFIG = '''
model = dict(type='ImageClassifier',
             backbone=dict(type='MLP', in_channels=64, hidden_channels=(1024, 1024)),
             head=dict(type='LinearClsHead', num_classes=4, in_channels=1024))
data = dict(samples_per_gpu=16, workers_per_gpu=0,
            train=dict(type='SyntheticClassification', num_samples=64, shape=(1, 8, 8),
                       num_classes=4, seed=0))
optimizer = dict(type='SGD', lr=0.01, momentum=0.9)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='fixed')
runner = dict(type='IterBasedRunner', max_iters=400)
checkpoint_config = dict(interval=1, max_keep_ckpts=3)  # ~9 MB every iteration: mostly writing
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])
workflow = [('train', 1)]
seed = 0
'''


def test_sigkill_at_random_moments_of_checkpoint_writing_never_breaks_a_file(tmp_path):
    (tmp_path / 'cfg.py').write_text(BIG_CONFIG)
    (tmp_path / 'zygote.py').write_text(ZYGOTE)
    work = tmp_path / 'work'
    proc = subprocess.Popen([sys.executable, 'zygote.py', 'cfg.py', str(work)], cwd=tmp_path,
                            env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    rng = random.Random(0)
    kills, mid_write = 0, 0
    try:
        assert proc.stdout.readline().strip() == 'ready'
        for _ in range(22):
            proc.stdin.write(f'{rng.uniform(0.05, 0.45)}\n')
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line.startswith('killed'), line
            kills += int(line.split()[1]) == signal.SIGKILL
            names = os.listdir(work) if work.exists() else []
            # the temporary file of a write the kill interrupted
            mid_write += any(n.endswith('.tmp') or n.endswith('.tmp-link') for n in names)
            checkpoints = [n for n in names if n.endswith('.pth')]
            if checkpoints:
                assert 'latest.pth' in checkpoints
            for name in checkpoints:
                read_checkpoint(str(work / name))  # loads, and its checksum matches
    finally:
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)
    assert kills == 22
    assert mid_write > 0, 'no kill landed in the middle of a checkpoint write'
    resumed_at = read_checkpoint(str(work / 'latest.pth'))['runner_state']['iter']
    assert 0 < resumed_at < 400
    # Resuming completes the run (saving less often: the storm is over).
    code, out = fastrun(tmp_path, 'cfg.py', '--work-dir', work, '--auto-resume',
                        '--cfg-options', 'checkpoint_config.interval=1000')
    assert re.search(rf'resumed epoch \d+, iter {resumed_at}\b', out), out[-3000:]
    assert read_checkpoint(str(work / 'latest.pth'))['meta']['iter'] == 400
    assert not [n for n in os.listdir(work) if n.endswith('.tmp')]  # the leftovers were removed


# ---------------------------------------------------------------- SIGTERM / SIGINT
def test_sigterm_saves_exits_143_and_the_resumed_run_matches_the_straight_one(cfg_dir):
    fastrun(cfg_dir, 'cfg.py', '--work-dir', 'straight')

    work = cfg_dir / 'stopped'
    proc = subprocess.Popen([sys.executable, '-m', 'fastrun', 'train', 'cfg.py', '--work-dir',
                             str(work)], cwd=cfg_dir, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    wait_for(work / 'marker_rank0', proc)  # iteration 11 of 32: in the middle of epoch 2
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143, out[-4000:]
    match = re.search(r'SIGTERM received: stopped after epoch 1, iter (\d+) \((\d+) batches into '
                      r'epoch 2\)', out)
    assert match, out[-4000:]
    name = f'epoch_2_iter_{match.group(2)}.pth'
    assert os.readlink(work / 'latest.pth') == name
    state = read_checkpoint(str(work / name))['runner_state']
    assert state['iter'] == int(match.group(1)) and state['inner_iter'] == int(match.group(2))
    assert (work / 'last_rank0').read_text() == match.group(1)  # loggers ran after_run

    _, out = fastrun(cfg_dir, 'cfg.py', '--work-dir', work, '--auto-resume')
    assert f'auto-resume: resuming from {work / "latest.pth"}' in out
    assert_same_checkpoint(str(cfg_dir / 'straight' / 'epoch_4.pth'), str(work / 'epoch_4.pth'))
    assert json_losses(cfg_dir / 'straight') == json_losses(work)
    # rotation removed the mid-epoch file resumed from once epoch 2's own checkpoint existed:
    # max_keep_ckpts=2 holds at the end
    assert {n for n in os.listdir(work) if n.endswith('.pth')} == \
        {'epoch_3.pth', 'epoch_4.pth', 'latest.pth'}


def test_a_second_signal_ends_the_process_at_once(cfg_dir):
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace(
        "dict(type='Pace', delay=0.03, mark=11)", "dict(type='Pace', mark=3, stall_at=3, stall=600)"))
    work = cfg_dir / 'w'
    proc = subprocess.Popen([sys.executable, '-m', 'fastrun', 'train', 'cfg.py', '--work-dir',
                             str(work)], cwd=cfg_dir, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(work / 'marker_rank0', proc)  # now stalled inside iteration 3 for 10 minutes
    proc.send_signal(signal.SIGTERM)  # asks for a stop after the iteration...
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)  # ...the second one does not wait
    assert proc.wait(timeout=30) == -signal.SIGTERM


# ---------------------------------------------------------------- two ranks (torchrun)
def torchrun(cwd, *args):
    return [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
            '--rdzv-backend=c10d', '--rdzv-endpoint=127.0.0.1:0', '--max-restarts=0', '-m',
            'fastrun', 'train', *map(str, args), '--launcher', 'pytorch']


def test_sigterm_to_one_rank_stops_both_at_the_same_iteration(cfg_dir):
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace('samples_per_gpu=8', 'samples_per_gpu=4')
                                    .replace('delay=0.03', 'delay=0.05'))
    work = cfg_dir / 'two'
    proc = subprocess.Popen(torchrun(cfg_dir, 'cfg.py', '--work-dir', work), cwd=cfg_dir,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        wait_for(work / 'marker_rank1', proc)
        os.kill(int((work / 'marker_rank1').read_text()), signal.SIGTERM)  # rank 1 only
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # torchrun exits 1 and names the exit code of the signalled rank, 143 (the other rank may
    # show -15: torchrun terminates it once the first one has exited, after its run ended)
    assert proc.returncode == 1 and 'exitcode  : 143' in out, out[-4000:]
    last = [int((work / f'last_rank{r}').read_text()) for r in range(2)]
    assert last[0] == last[1] and 11 <= last[0] < 32, out[-4000:]
    assert last[0] % 10 == 0  # the ranks agree at their every-10-iterations check
    # said once for the run, not once per rank
    assert out.count('SIGTERM received: stopped after') == 1, out[-4000:]
    assert len(re.findall(r'Saving checkpoint at \d+ iterations', out)) == 1, out[-4000:]
    # one checkpoint of that point, complete, with the RNG states of both ranks
    latest = read_checkpoint(str(work / 'latest.pth'))
    assert latest['runner_state']['iter'] == last[0] and len(latest['runner_state']['rng']) == 2
    assert len(glob.glob(str(work / 'epoch_*_iter_*.pth'))) == 1
    code, out = run(torchrun(cfg_dir, 'cfg.py', '--work-dir', work, '--auto-resume'), cfg_dir)
    assert code == 0, out[-6000:]
    code, out = run(torchrun(cfg_dir, 'cfg.py', '--work-dir', 'straight'), cfg_dir)
    assert code == 0, out[-6000:]
    # each rank drew its own dropout masks again: the same run, to the bit
    assert_same_checkpoint(str(cfg_dir / 'straight' / 'epoch_4.pth'), str(work / 'epoch_4.pth'))


def test_sigterm_to_torchrun_and_every_worker_saves_the_point_and_auto_resume_continues(cfg_dir):
    # What a cluster manager does (Slurm signals every process of the job): torchrun gets
    # SIGTERM and forwards it to workers that already got one. The repeat must not kill them.
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace('samples_per_gpu=8', 'samples_per_gpu=4')
                                    .replace('delay=0.03', 'delay=0.05'))
    work = cfg_dir / 'two'
    proc = subprocess.Popen(torchrun(cfg_dir, 'cfg.py', '--work-dir', work), cwd=cfg_dir,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        wait_for(work / 'marker_rank0', proc)
        wait_for(work / 'marker_rank1', proc)
        for pid in [proc.pid] + [int((work / f'marker_rank{r}').read_text()) for r in range(2)]:
            os.kill(pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1 and 'SignalException' in out, out[-4000:]  # torchrun's own code
    last = [int((work / f'last_rank{r}').read_text()) for r in range(2)]  # both ran after_run
    assert last[0] == last[1] and 11 <= last[0] < 32, out[-4000:]
    assert read_checkpoint(str(work / 'latest.pth'))['runner_state']['iter'] == last[0]
    code, out = run(torchrun(cfg_dir, 'cfg.py', '--work-dir', work, '--auto-resume'), cfg_dir)
    assert code == 0, out[-6000:]
    assert f'auto-resume: resuming from {work / "latest.pth"}' in out
    code, out = run(torchrun(cfg_dir, 'cfg.py', '--work-dir', 'straight'), cfg_dir)
    assert code == 0, out[-6000:]
    assert_same_checkpoint(str(cfg_dir / 'straight' / 'epoch_4.pth'), str(work / 'epoch_4.pth'))


def test_a_rank_killed_outright_does_not_hang_the_others(cfg_dir):
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace('delay=0.03', 'delay=0.05'))
    work = cfg_dir / 'two'
    proc = subprocess.Popen(torchrun(cfg_dir, 'cfg.py', '--work-dir', work), cwd=cfg_dir,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        wait_for(work / 'marker_rank1', proc)
        os.kill(int((work / 'marker_rank1').read_text()), signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)  # a hang would time out here
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0


def test_a_run_outside_the_main_thread_installs_no_handler(tmp_path):
    import threading
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    class Look(Hook):
        def before_run(self, runner):
            seen.append(signal.getsignal(signal.SIGTERM))

    runner = toy_runner(tmp_path)
    runner.register_hook(Look())
    thread = threading.Thread(target=runner.run, args=([make_loader(2)], [('train', 1)]))
    thread.start()
    thread.join(timeout=TIMEOUT)
    assert seen == [before] and runner.epoch == 1


# ---------------------------------------------------------------- disk full, permissions
def test_a_full_disk_while_saving_leaves_the_previous_checkpoints(cfg_dir):
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace(
        "custom_hooks = [dict(type='Pace', delay=0.03, mark=11)]",
        "custom_hooks = [dict(type='LimitFileSize', epoch=1, limit=8000, priority='LOWEST')]"))
    work = cfg_dir / 'w'
    code, out = fastrun(cfg_dir, 'cfg.py', '--work-dir', work, check=False)
    assert code == 1
    assert re.search(r'cannot write checkpoint \S*epoch_2\.pth: \[Errno 27\] File too large; the '
                     r'previous checkpoints and latest\.pth are unchanged', out), out[-3000:]
    assert sorted(n for n in os.listdir(work) if 'pth' in n) == ['epoch_1.pth', 'latest.pth']
    assert os.readlink(work / 'latest.pth') == 'epoch_1.pth'
    assert read_checkpoint(str(work / 'latest.pth'))['meta']['epoch'] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_a_read_only_folder_while_saving_leaves_the_previous_checkpoints(tmp_path):
    class ReadOnly(Hook):
        def after_train_epoch(self, runner):
            os.chmod(tmp_path, 0o555)

    runner = toy_runner(tmp_path, max_epochs=2)
    runner.register_hook(CheckpointHook(interval=1))
    runner.register_hook(ReadOnly(), 'LOWEST')
    try:
        with pytest.raises(OSError, match=r'cannot write checkpoint .*epoch_2\.pth: \[Errno 13\]'):
            runner.run([make_loader(2)], [('train', 1)])
    finally:
        os.chmod(tmp_path, 0o755)
    assert os.readlink(tmp_path / 'latest.pth') == 'epoch_1.pth'


# ---------------------------------------------------------------- bad files
class Payload:
    """A harmless object that is not a tensor or a plain type."""

    def __init__(self, value=1):
        self.value = value


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_malicious_pickle_is_refused_by_default(tmp_path):
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': {'x': Evil(marker)}}, path)
    with pytest.raises(CheckpointError, match=r'evil\.pth: refused to unpickle'):
        read_checkpoint(path)
    runner = toy_runner(tmp_path / 'w')
    with pytest.raises(CheckpointError, match='--unsafe-load'):
        runner.resume(path)
    with pytest.raises(CheckpointError, match='refused'):
        runner.load_checkpoint(path)
    assert not osp.exists(marker)
    # Trusted files with other objects: an explicit opt-in, with a warning.
    other = str(tmp_path / 'other.pth')
    torch.save({'state_dict': ToyModel().state_dict(), 'meta': {'p': Payload(3)}}, other)
    with pytest.raises(CheckpointError):
        read_checkpoint(other)
    with pytest.warns(UserWarning, match='trust'):
        assert read_checkpoint(other, weights_only=False)['meta']['p'].value == 3


def test_the_cli_refuses_a_malicious_load_from(cfg_dir):
    marker = str(cfg_dir / 'pwned')
    torch.save({'state_dict': {}, 'meta': Evil(marker)}, cfg_dir / 'evil.pth')
    with pytest.raises(CheckpointError, match='refused'):
        cli_main(['train', str(cfg_dir / 'cfg.py'), '--work-dir', str(cfg_dir / 'w'),
                  '--load-from', str(cfg_dir / 'evil.pth')])
    assert not osp.exists(marker)
    assert not glob.glob(str(cfg_dir / 'w' / '*.pth'))


def three_epochs(work_dir):
    torch.manual_seed(0)
    runner = toy_runner(work_dir, max_epochs=3)
    runner.register_hook(CheckpointHook(interval=1))
    runner.run([make_loader(2)], [('train', 1)])
    return runner


def test_truncated_and_corrupt_files_name_themselves_and_the_previous_checkpoint(tmp_path):
    three_epochs(tmp_path)
    now = time.time()
    for i in (1, 2, 3):  # distinct modification times, oldest first
        os.utime(tmp_path / f'epoch_{i}.pth', (now - 10 + i, now - 10 + i))
    path = tmp_path / 'epoch_3.pth'
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r'epoch_3\.pth: cannot read the checkpoint .* '
                                              r'truncated or corrupt: use the previous checkpoint '
                                              r'instead: \S*epoch_2\.pth'):
        read_checkpoint(str(path))
    # A payload changed after saving (its zip container intact): the checksum tells.
    ckpt = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)
    ckpt['state_dict']['linear.weight'][0, 0] += 1
    torch.save(ckpt, tmp_path / 'epoch_2.pth')
    os.utime(tmp_path / 'epoch_2.pth', (now - 8, now - 8))
    with pytest.raises(CheckpointError, match=r'epoch_2\.pth: the checksum .* does not match.*'
                                              r'epoch_1\.pth'):
        read_checkpoint(str(tmp_path / 'epoch_2.pth'))


def test_auto_resume_skips_broken_newest_files_and_says_why(tmp_path):
    three_epochs(tmp_path)
    (tmp_path / 'epoch_3.pth').write_bytes((tmp_path / 'epoch_3.pth').read_bytes()[:1000])
    ckpt = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)
    ckpt['optimizer']['param_groups'][0]['lr'] = 123.0
    torch.save(ckpt, tmp_path / 'epoch_2.pth')
    logger, messages = recording_logger('auto-resume')
    assert find_resumable_checkpoint(str(tmp_path), logger) == str(tmp_path / 'epoch_1.pth')
    assert re.search(r'skipping \S*latest\.pth: \S*latest\.pth \(-> epoch_3\.pth\): cannot read',
                     messages[0])
    assert re.search(r'skipping \S*epoch_2\.pth: .*checksum', messages[1])
    assert len(messages) == 2  # latest.pth and epoch_3.pth are one file, tried once
    assert find_resumable_checkpoint(str(tmp_path / 'nothing'), logger) is None


def test_a_dangling_latest_is_skipped_with_its_log_line(tmp_path):
    three_epochs(tmp_path)
    os.remove(tmp_path / 'epoch_3.pth')  # latest.pth -> epoch_3.pth, which is gone
    logger, messages = recording_logger('dangling')
    assert find_resumable_checkpoint(str(tmp_path), logger) == str(tmp_path / 'epoch_2.pth')
    assert messages == [f'auto-resume: skipping {tmp_path / "latest.pth"}: it points to '
                        f'epoch_3.pth, which does not exist']


def test_the_previous_checkpoint_hint_never_names_a_best_file(tmp_path):
    three_epochs(tmp_path)
    now = time.time()
    for i in (1, 2, 3):
        os.utime(tmp_path / f'epoch_{i}.pth', (now - 10 + 2 * i, now - 10 + 2 * i))
    # newer than epoch_2.pth, older than epoch_3.pth: auto-resume would never pick it
    (tmp_path / 'best_acc_epoch_2.pth').write_bytes((tmp_path / 'epoch_2.pth').read_bytes())
    os.utime(tmp_path / 'best_acc_epoch_2.pth', (now - 5, now - 5))
    path = tmp_path / 'epoch_3.pth'
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r'use the previous checkpoint instead: '
                                              r'\S*/epoch_2\.pth$'):
        read_checkpoint(str(path))


@pytest.mark.parametrize('umask', [0o022, 0o077, 0o002], ids=oct)
def test_checkpoints_get_the_mode_torch_save_gives_under_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        torch.save({}, tmp_path / 'plain.pth')
        runner = three_epochs(tmp_path / 'w')
        runner.save_checkpoint(str(tmp_path / 'w'), 'best_x.pth', create_symlink=False)
    finally:
        os.umask(old)
    expected = os.stat(tmp_path / 'plain.pth').st_mode & 0o777
    assert expected == 0o666 & ~umask
    for name in ('epoch_1.pth', 'epoch_3.pth', 'best_x.pth'):
        assert os.stat(tmp_path / 'w' / name).st_mode & 0o777 == expected, name


def test_a_best_path_read_from_a_checkpoint_never_chooses_what_is_deleted(tmp_path):
    from fastrun.checkpoint import seal
    from fastrun.hooks.evaluation import EvalHook
    victim = tmp_path / 'victim.pth'
    victim.write_bytes(b'precious')
    work = tmp_path / 'w'
    (work).mkdir()
    inside = work / 'notes.pth'  # in the folder, but not a best_*.pth file
    inside.write_bytes(b'mine')
    for target in (victim, inside):
        runner = toy_runner(work, max_epochs=1)
        ckpt = torch.load(runner.save_checkpoint(str(work)), weights_only=True)
        ckpt['meta']['hook_msgs'] = {'best_score': -1e9, 'best_ckpt': str(target)}
        torch.save(seal(ckpt), work / 'crafted.pth')  # it passes its checksum
        runner = toy_runner(work, max_epochs=2)
        logger, messages = recording_logger('toy')

        class Scored(torch.utils.data.TensorDataset):
            def evaluate(self, results, logger=None):
                return {'acc': 1.0}

        val = torch.utils.data.DataLoader(Scored(torch.ones(2, 4), torch.zeros(2, 1)))
        runner.register_hook(EvalHook(val, save_best='acc', rule='greater',
                                      test_fn=lambda model, loader: []), 'LOW')
        runner.resume(str(work / 'crafted.pth'))
        runner.run([make_loader(2)], [('train', 1)])
        assert target.read_bytes() in (b'precious', b'mine')
        assert (work / 'best_acc_epoch_2.pth').is_file()
        assert any(f'{target} is not a best_*.pth file of {work}: left alone' in m
                   for m in messages), messages


def test_auto_resume_in_an_empty_work_dir_starts_fresh_and_says_so(cfg_dir):
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace('max_epochs=4', 'max_epochs=1')
                                    .replace('delay=0.03', 'delay=0.0'))
    _, out = fastrun(cfg_dir, 'cfg.py', '--work-dir', 'fresh', '--auto-resume')
    assert 'auto-resume: no valid checkpoint in fresh, starting fresh' in out
    assert 'custom import fault_helpers (' in out  # custom_imports are logged


# ---------------------------------------------------------------- failing hooks, NaN
class Boom(Hook):
    def after_train_iter(self, runner):
        if runner.iter + 1 == 5:
            raise ValueError('boom')


class ClosingRecorder(Hook):
    """A logger-like hook: records ``flush_and_close`` calls."""

    def __init__(self):
        self.closed = 0

    def flush_and_close(self, runner):
        self.closed += 1


def test_a_failing_hook_closes_every_logger_and_names_stage_and_hook(tmp_path):
    runner = toy_runner(tmp_path, max_epochs=2)
    text = TextLoggerHook(interval=2)
    recorder = ClosingRecorder()
    runner.register_hook(text, 'VERY_LOW')
    runner.register_hook(recorder)
    runner.register_hook(Boom())
    with pytest.raises(ValueError, match='^after_train_iter of Boom: boom$'):
        runner.run([make_loader(4)], [('train', 1)])
    assert recorder.closed == 1 and text._json_file is None
    [path] = glob.glob(str(tmp_path / '*.log.json'))
    with open(path) as f:
        records = [json.loads(line) for line in f]  # complete lines: flushed
    assert [r['iter'] for r in records if r.get('mode') == 'train'] == [2, 4]


class PoisonAt(Hook):
    """Sets the model's first parameter to NaN after iteration ``at``'s optimizer step."""

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                next(runner.model.parameters()).fill_(float('nan'))


def test_a_nan_loss_stops_the_run_naming_epoch_and_iteration_by_default(tmp_path):
    cfg = Config(dict(
        model=dict(type='ImageClassifier', backbone=dict(type='MLP', in_channels=16, hidden_channels=(8,)),
                   head=dict(type='LinearClsHead', num_classes=4, in_channels=8)),
        data=dict(samples_per_gpu=8, workers_per_gpu=0,
                  train=dict(type='SyntheticClassification', num_samples=64, shape=(1, 4, 4),
                             num_classes=4)),
        optimizer=dict(type='SGD', lr=0.1), optimizer_config=dict(), lr_config=None,
        runner=dict(type='EpochBasedRunner', max_epochs=3), checkpoint_config=dict(interval=1),
        log_config=dict(interval=4, hooks=[dict(type='TextLoggerHook')]),
        custom_hooks=[PoisonAt(10)], work_dir=str(tmp_path), seed=0))
    set_random_seed(0)
    with pytest.raises(FloatingPointError, match=r'loss became NaN at train iteration 12 '
                                                 r'\(epoch 2, iteration 4/8 of the epoch') as err:
        train_model(build_model(cfg.model), [build_dataset(cfg.data.train)], cfg, validate=False)
    # the message says where to go on from: the newest checkpoint (never one holding NaN)
    assert str(err.value).endswith(f'; resume from {tmp_path / "epoch_1.pth"} (--resume-from), '
                                   f'with a lower learning rate or gradient clipping')
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['epoch_1.pth', 'latest.pth']


def test_a_model_with_nan_is_never_saved(tmp_path):
    runner = toy_runner(tmp_path)
    runner.save_checkpoint(str(tmp_path))
    with torch.no_grad():
        runner.model.linear.bias.fill_(float('inf'))
    with pytest.raises(FloatingPointError, match=r'again_1\.pth not saved: the model holds NaN or '
                                                 r'infinite values at epoch 1, iter 0 \(1 tensors: '
                                                 r'linear\.bias\)'):
        runner.save_checkpoint(str(tmp_path), filename_tmpl='again_{}.pth')
    assert os.readlink(tmp_path / 'latest.pth') == 'epoch_1.pth'
    assert not (tmp_path / 'again_1.pth').exists()


def test_skip_mode_drops_non_finite_steps_and_counts_them(tmp_path):
    loader = make_loader(6)
    loader[2] = (torch.full_like(loader[2][0], float('nan')), loader[2][1])
    params = []

    class Record(Hook):
        def after_train_iter(self, runner):
            params.append(runner.model.linear.weight.detach().clone())

    torch.manual_seed(0)
    model = ToyModel()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                                     weight_decay=0.1),
                    work_dir=str(tmp_path), max_epochs=1, logger=recording_logger('skip')[0])
    runner.register_training_hooks(None, dict())
    hook = CheckInvalidLossHook(action='skip')
    runner.register_hook(hook)
    runner.register_hook(Record(), 'LOWEST')
    runner.run([loader], [('train', 1)])
    assert hook.skipped == 1
    assert torch.equal(params[2], params[1])  # no step: weight decay and momentum left alone too
    assert not torch.equal(params[3], params[2])
    assert all(torch.isfinite(p).all() for p in params)
    assert runner.log_buffer.val_history['nonfinite_skipped'] == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert len(runner.log_buffer.val_history['loss']) == 5  # the NaN step logs no loss


def test_skip_mode_stops_after_too_many_skips_in_a_row_naming_the_checkpoint(tmp_path):
    good = make_loader(4)
    nan = [(torch.full_like(x, float('nan')), y) for x, y in good]
    mixed = [nan[0], good[1], nan[2], good[3]]  # skips, never two in a row

    class Loaders:
        # Epoch 1 and 2: every other batch is NaN; epoch 3 on: every batch is (a diverged run).
        def __init__(self):
            self.epochs = 0

        def __len__(self):
            return 4

        def __iter__(self):
            self.epochs += 1
            return iter(mixed if self.epochs <= 2 else nan)

    runner = toy_runner(tmp_path, max_epochs=6)
    runner.register_hook(CheckpointHook(interval=1))
    hook = CheckInvalidLossHook(action='skip', max_consecutive_skips=3)
    runner.register_hook(hook)
    with pytest.raises(FloatingPointError) as err:
        runner.run([Loaders()], [('train', 1)])
    assert str(err.value) == (
        f'after_train_iter of CheckInvalidLossHook: 3 train steps in a row skipped '
        f'(max_consecutive_skips=3), the last at train iteration '
        f'11 (epoch 3, iteration 3 of the epoch): non-finite loss; the run stops, it no longer '
        f'learns; resume from {tmp_path / "epoch_2.pth"} (--resume-from), with a lower learning '
        f'rate or gradient clipping')
    assert hook.skipped == 4 + 3  # two a epoch in epochs 1-2 were fine to skip
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    assert CheckInvalidLossHook(action='skip').max_consecutive_skips == 10
    with pytest.raises(ValueError, match='max_consecutive_skips must be a positive int, got 0'):
        CheckInvalidLossHook(action='skip', max_consecutive_skips=0)


# ---------------------------------------------------------------- bad configs
BAD_CONFIGS = {
    'unknown hook type': ("custom_hooks = [dict(type='CheckpointHok')]", 'custom_hooks.0.type',
                          "unknown hook type 'CheckpointHok'; did you mean 'CheckpointHook'"),
    'bad priority': ("custom_hooks = [dict(type='Pace', priority='SUPER')]",
                     'custom_hooks.0.priority', "unknown priority 'SUPER'"),
    'bad workflow phase': ("workflow = [('trian', 1)]", 'workflow.0', "phase must be 'train' or 'val'"),
    'runner without length': ("runner = dict(type='EpochBasedRunner')", 'runner',
                              'needs max_epochs or max_iters'),
    'no data.train': ("data = dict(samples_per_gpu=8, workers_per_gpu=0)", 'data.train',
                      "the workflow has a 'train' phase but no data.train"),
    'samples_per_gpu of 0': ("data['samples_per_gpu'] = 0", 'data.samples_per_gpu',
                             'must be a positive int, got 0'),
    'missing load_from': ("load_from = 'nowhere/epoch_1.pth'", 'load_from',
                          'checkpoint file not found: nowhere/epoch_1.pth'),
    'unknown lr policy': ("lr_config = dict(policy='cosine_annealing')", 'lr_config.policy',
                          "unknown policy 'cosine_annealing'"),
}


@pytest.mark.parametrize('case', list(BAD_CONFIGS))
def test_a_bad_config_fails_before_training_naming_file_and_key(cfg_dir, case):
    line, key, message = BAD_CONFIGS[case]
    path = cfg_dir / 'bad.py'
    path.write_text(CONFIG + line + '\n')
    with pytest.raises(ConfigError) as err:
        cli_main(['train', str(path), '--work-dir', str(cfg_dir / 'w')])
    assert str(err.value).startswith(f'{path}: {key}: ')
    assert message in str(err.value)
    assert not glob.glob(str(cfg_dir / 'w' / '*.pth'))


# ---------------------------------------------------------------- bad samples
def write_image_folder(root, odd=None):
    """Two classes of 8x8 gray PNGs, 6 each; the image of sample ``odd`` is 9x9 instead."""
    from PIL import Image
    rng = np.random.RandomState(0)
    index = 0
    for name in ('a', 'b'):
        os.makedirs(root / name)
        for k in range(6):
            size = 9 if index == odd else 8
            Image.fromarray(rng.randint(0, 255, (size, size), dtype=np.uint8)).save(
                root / name / f'{k}.png')
            index += 1


IMAGE_CONFIG = """
model = dict(type='ImageClassifier', backbone=dict(type='SmallCNN', in_channels=1, channels=(4,)),
             head=dict(type='LinearClsHead', num_classes=2, in_channels=4, topk=(1,)))
data = dict(samples_per_gpu=4, workers_per_gpu={workers},
            train=dict(type='ImageFolder', data_prefix='images'))
optimizer = dict(type='SGD', lr=0.01)
optimizer_config = dict()
runner = dict(type='EpochBasedRunner', max_epochs=2)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
seed = 0
"""


@pytest.mark.parametrize('workers', [0, 2])
def test_an_image_of_another_size_fails_naming_data_set_sample_and_iteration(tmp_path, workers):
    write_image_folder(tmp_path / 'images', odd=7)
    (tmp_path / 'cfg.py').write_text(IMAGE_CONFIG.format(workers=workers))
    code, out = fastrun(tmp_path, 'cfg.py', '--work-dir', 'w', check=False)
    assert code == 1
    last = out.strip().splitlines()[-1]
    # the order of epoch 1 (seed 0) puts sample 7 in its third batch: iteration 3
    from fastrun.sampler import ResumableSampler
    order = ResumableSampler(list(range(12)), seed=0, num_replicas=1, rank=0).order(0)
    batch = order.index(7) // 4 + 1
    assert last.startswith("fastrun.errors.DataError: the train data set ImageFolder(data_prefix='images', "
                           "classes=2, len=12): sample 7: an image of shape (1, 9, 9), where the data "
                           f"set's are (1, 8, 8); at train iteration {batch} (epoch 1, batch {batch} of "
                           "3 of the epoch"), last
    assert '(the error was: RuntimeError: ' in last  # torch's own message comes last


def test_a_label_outside_the_classes_fails_naming_the_samples(cfg_dir):
    (cfg_dir / 'cfg.py').write_text(CONFIG.replace("num_classes=4, seed=0", "num_classes=6, seed=0")
                                    .replace("delay=0.03, mark=11", "delay=0.0"))
    code, out = fastrun(cfg_dir, 'cfg.py', '--work-dir', 'w', check=False)
    assert code == 1
    last = out.strip().splitlines()[-1]
    match = re.match(r"fastrun\.errors\.DataError: the train data set SyntheticClassification\("
                     r"num_samples=64, shape=\(1, 4, 4\), num_classes=6, seed=0, learnable=True\): "
                     r"(sample \d+: the label [45], outside the 4 classes \[0, 3\](; )?)+; at train "
                     r"iteration 1 \(epoch 1, batch 1 of 8 of the epoch", last)
    assert match, last
    from fastrun.datasets import SyntheticClassification
    from fastrun.sampler import ResumableSampler
    labels = SyntheticClassification(num_samples=64, shape=(1, 4, 4), num_classes=6).gt_labels
    first = ResumableSampler(list(range(64)), seed=0, num_replicas=1, rank=0).order(0)[:8]
    named = [int(n) for n in re.findall(r'sample (\d+)', last)]
    assert named == [i for i in first if labels[i] >= 4]


def test_a_bad_label_in_an_iteration_based_run_names_its_sample(tmp_path):
    from fastrun.datasets import SyntheticClassification
    data = SyntheticClassification(num_samples=16, shape=(1, 4, 4), num_classes=4, seed=0)
    data.gt_labels = data.gt_labels.clone()
    data.gt_labels[11] = 9
    cfg = Config(dict(
        model=dict(type='ImageClassifier', backbone=dict(type='MLP', in_channels=16, hidden_channels=(8,)),
                   head=dict(type='LinearClsHead', num_classes=4, in_channels=8)),
        data=dict(samples_per_gpu=4, workers_per_gpu=0),
        optimizer=dict(type='SGD', lr=0.1), optimizer_config=dict(), lr_config=None,
        runner=dict(type='IterBasedRunner', max_iters=12), checkpoint_config=None,
        log_config=None, work_dir=str(tmp_path), seed=0))
    set_random_seed(0)
    from fastrun.errors import DataError
    from fastrun.sampler import ResumableSampler
    with pytest.raises(DataError) as err:
        train_model(build_model(cfg.model), [data], cfg, validate=False)
    sampler = ResumableSampler(data, seed=0, num_replicas=1, rank=0)
    epochs = [sampler.order(e) for e in range(3)]
    # the first batch holding sample 11: epoch e, batch b
    e, b = next((e, pos // 4) for e, order in enumerate(epochs) for pos, i in enumerate(order) if i == 11)
    assert str(err.value).startswith(
        f'the train data set SyntheticClassification(num_samples=16, shape=(1, 4, 4), num_classes=4, '
        f'seed=0, learnable=True): sample 11: the label 9, outside the 4 classes [0, 3]; at train '
        f'iteration {4 * e + b + 1} (epoch {e + 1}, batch {b + 1} of 4 of the epoch')
    assert isinstance(err.value.__cause__, (IndexError, RuntimeError))


# ---------------------------------------------------------------- other models, other formats
class Wider(ToyModel):
    def __init__(self):
        super().__init__(in_features=4, out_features=3)
        self.extra = torch.nn.Linear(2, 2)


def test_a_checkpoint_of_another_model_reports_its_keys(tmp_path):
    runner = toy_runner(tmp_path)
    path = runner.save_checkpoint(str(tmp_path))
    torch.manual_seed(0)
    model = Wider()
    other = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                   logger=recording_logger('other')[0], max_epochs=1)
    _, messages = recording_logger('other')
    other.load_checkpoint(path)  # load_from: strict=False, a report
    assert re.search(r'missing keys in source state_dict \(2\): extra\.weight, extra\.bias', messages[-1])
    assert re.search(r'size mismatch, not loaded \(2\): linear\.weight \(checkpoint \(1, 4\) vs '
                     r'model \(3, 4\)\)', messages[-1])
    with pytest.raises(CheckpointError, match=r'epoch_1\.pth: The model and loaded state dict do '
                                              r'not match exactly\nmissing keys'):
        other.load_checkpoint(path, strict=True)
    with pytest.raises(CheckpointError, match=r'epoch_1\.pth: its optimizer state does not fit'):
        other.resume(path)


def test_an_mmcv_checkpoint_with_numpy_numbers_resumes_from_its_meta(tmp_path):
    torch.manual_seed(0)
    model = ToyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = str(tmp_path / 'epoch_2.pth')
    torch.save({'meta': {'mmcv_version': '1.7.1', 'epoch': 2, 'iter': 6, 'time': 'Thu Jan 1',
                         'CLASSES': ('a', 'b'), 'hook_msgs': {'best_score': np.float64(0.75)}},
                'state_dict': model.state_dict(), 'optimizer': optimizer.state_dict()}, path)
    runner = toy_runner(tmp_path / 'w', max_epochs=3)
    runner.resume(path)
    assert (runner.epoch, runner.iter) == (2, 6)
    assert runner.meta['hook_msgs']['best_score'] == 0.75
    runner.run([make_loader(3)], [('train', 1)])
    assert (runner.epoch, runner.iter) == (3, 9)


def test_load_from_reads_safetensors(tmp_path):
    from safetensors.torch import save_file
    torch.manual_seed(1)
    source = ToyModel()
    path = str(tmp_path / 'weights.safetensors')
    save_file(source.state_dict(), path)
    runner = toy_runner(tmp_path / 'w')
    runner.load_checkpoint(path)
    for k, v in source.state_dict().items():
        assert torch.equal(runner.model.state_dict()[k], v)
    # the reader used when the safetensors package is missing agrees with it
    ours = _read_safetensors(path)
    assert sorted(ours) == sorted(source.state_dict())
    assert all(torch.equal(ours[k], v) for k, v in source.state_dict().items())


# ---------------------------------------------------------------- helpers
def toy_runner(work_dir, max_epochs=1):
    torch.manual_seed(0)
    model = ToyModel()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                    work_dir=str(work_dir), max_epochs=max_epochs,
                    logger=recording_logger('toy')[0])
    runner.register_training_hooks(None, dict())
    return runner


def recording_logger(name):
    """A logger whose WARNING messages land in a list (fastrun's logger does not propagate)."""
    logger = logging.getLogger(f'test_faults.{name}')
    messages = getattr(logger, 'messages', None)
    if messages is None:
        messages = logger.messages = []

        class Handler(logging.Handler):
            def emit(self, record):
                if record.levelno >= logging.WARNING:
                    messages.append(record.getMessage())
        logger.addHandler(Handler())
        logger.propagate = False
    messages.clear()
    return logger, messages
