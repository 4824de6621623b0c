"""``--launcher slurm`` and ``--launcher mpi``: real 2-process gloo jobs on the CPU.

No Slurm or Open MPI here: the test starts the two processes itself, each with the variables
``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NODELIST``) or
``mpirun`` (``OMPI_COMM_WORLD_RANK``, ``_SIZE``, ``_LOCAL_RANK``) gives its tasks, and a fake
``scontrol`` on the PATH that answers ``scontrol show hostname`` as Slurm's does. Both jobs
must end with the weights the torchrun job of the same config ends with.
"""
import os
import os.path as osp
import signal
import socket
import stat
import subprocess
import sys
from unittest import mock

import pytest

from fastrun import dist as fdist
from fastrun.errors import LauncherError
from tests.test_distributed import (CONFIG, LAUNCH_TIMEOUT, _env, assert_same_weights,
                                    json_records, torchrun)

# Prints the first host of the node list as `scontrol show hostname LIST` does (one host per
# line; here always this machine), and records that it was asked.
FAKE_SCONTROL = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/scontrol.calls"
echo 127.0.0.1
echo 127.0.0.2
"""

SLURM_VARS = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST', 'SLURM_LOCALID')
MPI_VARS = ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK')
TORCH_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _job_env(extra, path_prefix=None):
    env = _env()
    for k in SLURM_VARS + MPI_VARS + TORCH_VARS:
        env.pop(k, None)
    if path_prefix:
        env['PATH'] = path_prefix + os.pathsep + env['PATH']
    env.update(extra)
    return env


def launch_tasks(cwd, envs, *train_args):
    """``fastrun train`` as one process per environment in ``envs``, all at once (as srun and
    mpirun start their tasks); every process group is killed if the job outlives its timeout."""
    args = [sys.executable, '-m', 'fastrun', 'train', *train_args]
    procs = [subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
             for env in envs]
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=LAUNCH_TIMEOUT)
            outs.append(out)
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
        pytest.fail(f'{" ".join(args)} did not finish in {LAUNCH_TIMEOUT} s')
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-6000:]
    return outs


@pytest.fixture(scope='module')
def jobs(tmp_path_factory):
    """The config trained by torchrun, by a Slurm-style job and by an Open MPI-style job."""
    root = str(tmp_path_factory.mktemp('launchers'))
    with open(osp.join(root, 'cfg.py'), 'w') as f:
        f.write(CONFIG)
    bin_dir = osp.join(root, 'bin')
    os.makedirs(bin_dir)
    scontrol = osp.join(bin_dir, 'scontrol')
    with open(scontrol, 'w') as f:
        f.write(FAKE_SCONTROL)
    os.chmod(scontrol, os.stat(scontrol).st_mode | stat.S_IXUSR)

    torchrun(2, root, 'cfg.py', '--work-dir', 'torchrun', '--no-validate')
    port = str(_free_port())
    slurm = [_job_env(dict(SLURM_PROCID=str(r), SLURM_NTASKS='2', SLURM_LOCALID=str(r),
                           SLURM_NODELIST='node[01]', MASTER_PORT=port), bin_dir)
             for r in range(2)]
    launch_tasks(root, slurm, 'cfg.py', '--work-dir', 'slurm', '--no-validate',
                 '--launcher', 'slurm')
    port = str(_free_port())
    mpi = [_job_env(dict(OMPI_COMM_WORLD_RANK=str(r), OMPI_COMM_WORLD_SIZE='2',
                         OMPI_COMM_WORLD_LOCAL_RANK=str(r), MASTER_ADDR='127.0.0.1',
                         MASTER_PORT=port))
           for r in range(2)]
    launch_tasks(root, mpi, 'cfg.py', '--work-dir', 'mpi', '--no-validate', '--launcher', 'mpi')
    return root


@pytest.mark.parametrize('launcher', ['slurm', 'mpi'])
def test_a_two_task_job_ends_with_the_torchrun_weights(jobs, launcher):
    for name in ('epoch_2.pth', 'epoch_4.pth'):
        assert_same_weights(osp.join(jobs, launcher, name), osp.join(jobs, 'torchrun', name))
    losses = [r['loss'] for r in json_records(osp.join(jobs, launcher)) if r.get('mode') == 'train']
    reference = [r['loss'] for r in json_records(osp.join(jobs, 'torchrun'))
                 if r.get('mode') == 'train']
    assert len(losses) == 4 and losses == pytest.approx(reference, abs=1e-6)
    # two ranks ran: one log per job (rank 0 writes), whose checkpoints say world size 2
    from fastrun.checkpoint import read_checkpoint
    assert read_checkpoint(osp.join(jobs, launcher, 'epoch_4.pth'))['meta']['world_size'] == 2


def test_the_slurm_job_found_its_master_with_scontrol(jobs):
    with open(osp.join(jobs, 'bin', 'scontrol.calls')) as f:
        calls = f.read().split('\n')
    # each task asked once, for the job's node list
    assert calls.count('show hostname node[01]') == 2


# ------------------------------------------------------------------ the variables, in-process
@pytest.fixture
def clean_env(monkeypatch):
    for k in SLURM_VARS + MPI_VARS + TORCH_VARS:
        monkeypatch.delenv(k, raising=False)
    recorded = {}

    def init_process_group(**kwargs):
        recorded.update(kwargs)
    monkeypatch.setattr(fdist.dist, 'init_process_group', init_process_group)
    monkeypatch.setattr(fdist.dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(fdist.atexit, 'register', lambda fn: None)
    monkeypatch.setattr(fdist.torch.cuda, 'device_count', lambda: 0)  # a CPU machine
    return recorded


def test_slurm_variables_become_torchs(clean_env, monkeypatch):
    monkeypatch.setenv('SLURM_PROCID', '3')
    monkeypatch.setenv('SLURM_NTASKS', '4')
    monkeypatch.setenv('SLURM_NODELIST', 'gpu[07-08]')
    with mock.patch('subprocess.getoutput', return_value='gpu07') as getoutput:
        fdist.init_dist('slurm')
    getoutput.assert_called_once_with('scontrol show hostname gpu[07-08] | head -n1')
    env = {k: os.environ[k] for k in TORCH_VARS}
    # no GPU here: the local rank is 0 without SLURM_LOCALID; port: torch's usual 29500
    assert env == dict(RANK='3', WORLD_SIZE='4', LOCAL_RANK='0', MASTER_ADDR='gpu07',
                       MASTER_PORT='29500')
    assert clean_env == dict(backend='gloo')


def test_slurm_port_argument_then_environment_and_given_master(clean_env, monkeypatch):
    monkeypatch.setenv('SLURM_PROCID', '1')
    monkeypatch.setenv('SLURM_NTASKS', '2')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'n1')
    monkeypatch.setenv('MASTER_ADDR', '10.0.0.5')
    monkeypatch.setenv('MASTER_PORT', '29611')
    with mock.patch('subprocess.getoutput') as getoutput:
        fdist.init_dist('slurm', timeout_s=60)
        assert os.environ['MASTER_PORT'] == '29611' and os.environ['LOCAL_RANK'] == '1'
        fdist.init_dist('slurm', port=29612)
    getoutput.assert_not_called()  # MASTER_ADDR given: the job script's choice stays
    assert os.environ['MASTER_PORT'] == '29612' and os.environ['MASTER_ADDR'] == '10.0.0.5'


def test_slurm_with_gpus_takes_the_device_of_its_rank_and_nccl(clean_env, monkeypatch):
    monkeypatch.setenv('SLURM_PROCID', '5')
    monkeypatch.setenv('SLURM_NTASKS', '8')
    monkeypatch.setenv('SLURM_NODELIST', 'n[1-2]')
    monkeypatch.setattr(fdist.torch.cuda, 'device_count', lambda: 4)
    with mock.patch('subprocess.getoutput', return_value='n1'), \
            mock.patch.object(fdist.torch.cuda, 'set_device') as set_device:
        fdist.init_dist('slurm')
    set_device.assert_called_once_with(1)  # rank 5 on 4 GPUs a node: the second of its node
    assert os.environ['LOCAL_RANK'] == '1' and clean_env == dict(backend='nccl')


def test_mpi_variables_become_torchs(clean_env, monkeypatch):
    monkeypatch.setenv('OMPI_COMM_WORLD_RANK', '2')
    monkeypatch.setenv('OMPI_COMM_WORLD_SIZE', '3')
    monkeypatch.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    monkeypatch.setenv('MASTER_ADDR', 'head')
    fdist.init_dist('mpi', backend='gloo')
    assert {k: os.environ[k] for k in TORCH_VARS} == dict(
        RANK='2', WORLD_SIZE='3', LOCAL_RANK='0', MASTER_ADDR='head', MASTER_PORT='29500')
    assert clean_env == dict(backend='gloo')


def test_missing_variables_say_how_to_start_the_job(clean_env, monkeypatch):
    with pytest.raises(LauncherError, match=r'SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST missing.*srun'):
        fdist.init_dist('slurm')
    monkeypatch.setenv('OMPI_COMM_WORLD_RANK', '0')
    monkeypatch.setenv('OMPI_COMM_WORLD_SIZE', '1')
    monkeypatch.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    with pytest.raises(LauncherError, match='needs MASTER_ADDR.*mpirun -np N -x MASTER_ADDR'):
        fdist.init_dist('mpi')
    monkeypatch.setenv('SLURM_PROCID', '0')
    monkeypatch.setenv('SLURM_NTASKS', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'n1')
    with mock.patch('subprocess.getoutput', return_value='/bin/sh: 1: scontrol: not found'):
        with pytest.raises(LauncherError, match='gave no host name.*set MASTER_ADDR'):
            fdist.init_dist('slurm')


def test_the_command_reports_a_missing_launcher_environment_in_one_line(tmp_path):
    (tmp_path / 'cfg.py').write_text(CONFIG)
    env = _job_env({})
    proc = subprocess.run([sys.executable, '-m', 'fastrun', 'train', 'cfg.py', '--launcher', 'mpi'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'fastrun: error: --launcher mpi needs the environment mpirun sets '
        '(OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK missing)')
    assert 'Traceback' not in proc.stderr
