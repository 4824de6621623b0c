"""Distributed training on real 2-process gloo jobs (CPU): torchrun + the CLI, and mp.spawn.

The torchrun jobs run ``python -m torch.distributed.run ... -m fastrun train CFG --launcher
pytorch`` with a c10d rendezvous on 127.0.0.1 port 0 (torchrun picks a free port itself, so
parallel test runs cannot collide). Every launch has a timeout: a hang fails the test and the
whole process group of the job is killed.
"""
import datetime
import glob
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from fastrun.dist import shutdown_dist
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

import fastrun.hooks.optimizer_variants  # noqa: F401  (registers the hooks)
import fastrun.hooks.sampler_seed  # noqa: F401
import fastrun.hooks.sync_buffer  # noqa: F401
from fastrun import Hook, Runner
from fastrun.builder import build_dataloader, build_dataset, build_model
from fastrun.checkpoint import read_checkpoint
from fastrun.evaluation import multi_gpu_test, single_gpu_test
from fastrun.hooks.optimizer import OptimizerHook
from fastrun.hooks.optimizer_variants import GradientCumulativeOptimizerHook
from fastrun.hooks.sampler_seed import DistSamplerSeedHook
from fastrun.hooks.sync_buffer import SyncBuffersHook
from fastrun.log_buffer import LogBuffer
from tests.conftest import ToyModel, make_loader

LAUNCH_TIMEOUT = 150  # seconds for one job; a healthy one takes under 10 on 2 cores

# Full-batch epochs: 16 training samples are one global batch of 16, as 8 per rank on two
# processes or 16 on one, so the data order cannot make the runs differ. 21 validation
# samples do not split evenly: the sampler pads rank 1's share with a repeat of sample 0.
CONFIG = """
model = dict(type='ImageClassifier',
             backbone=dict(type='MLP', in_channels=48, hidden_channels=(16,)),
             head=dict(type='LinearClsHead', num_classes=4, in_channels=16, topk=(1,)))
data = dict(samples_per_gpu=8, workers_per_gpu=0,
            train=dict(type='SyntheticClassification', num_samples=16, shape=(3, 4, 4),
                       num_classes=4, seed=1),
            val=dict(type='SyntheticClassification', num_samples=21, shape=(3, 4, 4),
                     num_classes=4, seed=2))
evaluation = dict(interval=1, metric='accuracy', metric_options=dict(topk=(1,)), save_best='auto')
optimizer = dict(type='SGD', lr=0.5)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='fixed')
runner = dict(type='EpochBasedRunner', max_epochs=4)
checkpoint_config = dict(interval=2)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook'),
                                     dict(type='TensorboardLoggerHook')])
seed = 0
"""

FAILING_HOOK = """
from fastrun import Hook, HOOKS


@HOOKS.register_module()
class FailOnRankOne(Hook):
    def after_train_iter(self, runner):
        if runner.rank == 1 and runner.iter == 1:
            raise RuntimeError('rank 1 fails on purpose at iteration 2')
"""


# ------------------------------------------------------------------ launching
def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env.pop('WANDB_MODE', None)
    return env


def _launch(args, cwd, timeout=LAUNCH_TIMEOUT):
    """Run a command in its own process group; kill the whole group if it outlives ``timeout``."""
    proc = subprocess.Popen(args, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'{" ".join(args)} did not finish in {timeout} s:\n{out[-4000:]}')
    return proc.returncode, out


def torchrun(nproc, cwd, *train_args, check=True):
    """``fastrun train`` on ``nproc`` processes under torchrun (gloo, 127.0.0.1)."""
    args = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1',
            f'--nproc_per_node={nproc}', '--rdzv-backend=c10d', '--rdzv-endpoint=127.0.0.1:0',
            '--max-restarts=0', '-m', 'fastrun', 'train', *train_args, '--launcher', 'pytorch']
    code, out = _launch(args, cwd)
    if check:
        assert code == 0, out[-6000:]
    return code, out


def fastrun_train(cwd, *train_args):
    """``fastrun train`` on one process (``--launcher none``), in this one.

    ``fastrun.cli.main`` is what the command runs; a new interpreter would add about 3 s
    (torch and its compiler imported again) and test nothing more. One intra-op thread, as
    the launched jobs have (``OMP_NUM_THREADS=1``).
    """
    from fastrun.cli import main
    here, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(cwd)
    torch.set_num_threads(1)
    try:
        assert main(['train', *map(str, train_args)]) == 0
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)


def json_records(work_dir):
    (path,) = glob.glob(osp.join(work_dir, '*.log.json'))
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def state_dict(path):
    return read_checkpoint(path)['state_dict']


def assert_same_weights(a, b, atol=1e-6):
    sa, sb = state_dict(a), state_dict(b)
    assert list(sa) == list(sb)
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=1e-5, msg=k)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """The same config trained on 2 processes (``two``) and on 1 (``one``, batch 16)."""
    root = str(tmp_path_factory.mktemp('dist'))
    with open(osp.join(root, 'cfg.py'), 'w') as f:
        f.write(CONFIG)
    torchrun(2, root, 'cfg.py', '--work-dir', 'two')
    fastrun_train(root, 'cfg.py', '--work-dir', 'one', '--cfg-options', 'data.samples_per_gpu=16')
    return root


# ------------------------------------------------------------------ torchrun jobs
def test_two_processes_reach_the_one_process_parameters_and_metrics(runs):
    two, one = osp.join(runs, 'two'), osp.join(runs, 'one')
    for name in ('epoch_2.pth', 'epoch_4.pth'):
        assert_same_weights(osp.join(two, name), osp.join(one, name))
    rec2, rec1 = json_records(two), json_records(one)
    # The train loss logged by the 2-process run is the mean over both ranks (each rank saw
    # half the batch): the same as the 1-process loss over the whole batch.
    loss2 = [r['loss'] for r in rec2 if r.get('mode') == 'train']
    loss1 = [r['loss'] for r in rec1 if r.get('mode') == 'train']
    assert len(loss2) == len(loss1) == 4
    assert loss2 == pytest.approx(loss1, abs=2e-4)
    assert loss2[-1] < loss2[0]
    # Distributed evaluation: 21 samples on 2 ranks, every sample counted once.
    acc2 = [r['accuracy_top-1'] for r in rec2 if r.get('mode') == 'val']
    acc1 = [r['accuracy_top-1'] for r in rec1 if r.get('mode') == 'val']
    assert len(acc2) == 4 and acc2 == pytest.approx(acc1, abs=1e-3)
    # ... and the accuracy single-process evaluation gives with the final weights
    cfg = {}
    exec(CONFIG, cfg)
    model = build_model(cfg['model'])
    model.load_state_dict(state_dict(osp.join(two, 'epoch_4.pth')))
    val = build_dataset(cfg['data']['val'])
    results = single_gpu_test(model, build_dataloader(val, 5, shuffle=False))
    expected = val.evaluate(results, metric='accuracy', metric_options=dict(topk=(1,)))
    assert acc2[-1] == pytest.approx(expected['accuracy_top-1'], abs=1e-3)
    assert 0 < acc2[-1] < 100  # not degenerate: a counted padding sample would change it
    # checkpoints of the wrapped model carry plain keys and the run's world size
    ckpt = read_checkpoint(osp.join(two, 'epoch_4.pth'))
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    assert ckpt['meta']['world_size'] == 2 and ckpt['meta']['epoch'] == 4


def test_shuffled_batches_on_two_processes_match_one(tmp_path):
    """Several shuffled batches per epoch: each step's global batch is the one-process batch."""
    (tmp_path / 'cfg.py').write_text(
        CONFIG + "data['train']['num_samples'] = 32\n"
                 "runner = dict(type='EpochBasedRunner', max_epochs=2)\n"
                 "log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])\n")
    # Rank r takes every 2nd index of the epoch's permutation, 8 at a time: together the 16
    # indices one process takes at a time. The 1-process run goes through the same
    # distributed sampler (torchrun with one process), 2 steps per epoch, reshuffled.
    torchrun(2, str(tmp_path), 'cfg.py', '--work-dir', 'two', '--no-validate')
    torchrun(1, str(tmp_path), 'cfg.py', '--work-dir', 'one', '--no-validate',
             '--cfg-options', 'data.samples_per_gpu=16')
    assert_same_weights(str(tmp_path / 'two' / 'epoch_2.pth'), str(tmp_path / 'one' / 'epoch_2.pth'))
    loss2 = [r['loss'] for r in json_records(str(tmp_path / 'two')) if r.get('mode') == 'train']
    loss1 = [r['loss'] for r in json_records(str(tmp_path / 'one')) if r.get('mode') == 'train']
    assert len(loss2) == 4 and loss2 == pytest.approx(loss1, abs=2e-4)


def test_only_rank_zero_writes(runs):
    two, one = osp.join(runs, 'two'), osp.join(runs, 'one')

    def listing(d):
        # file names with the run's timestamp and the event file's host/pid made generic
        names = []
        for p in glob.glob(osp.join(d, '**', '*'), recursive=True):
            if osp.isfile(p):
                rel = osp.relpath(p, d)
                rel = re.sub(r'^\d{8}_\d{6}', 'TIMESTAMP', rel)
                names.append(re.sub(r'events\.out\.tfevents\..*', 'EVENTS', rel))
        return sorted(names)

    # The same files as the 1-process run: one text log, one JSON log, one TensorBoard event
    # file, the checkpoints, latest.pth, the best checkpoint and the config.
    assert listing(two) == listing(one)
    assert len(glob.glob(osp.join(two, '*.log'))) == 1
    assert len(glob.glob(osp.join(two, 'tf_logs', 'events.*'))) == 1
    assert sorted(glob.glob(osp.join(two, '*.pth'))) == sorted(
        osp.join(two, n) for n in ('best_accuracy_top-1_epoch_1.pth', 'epoch_2.pth',
                                   'epoch_4.pth', 'latest.pth'))
    # each record once: a second writer would append its own copy
    records = json_records(two)
    keys = [(r.get('mode'), r.get('epoch'), r.get('iter')) for r in records if 'mode' in r]
    assert len(keys) == len(set(keys)) == 8
    (log,) = glob.glob(osp.join(two, '*.log'))
    with open(log) as f:
        text = f.read()
    assert text.count('Epoch [4][1/1]') == 1


def test_resume_across_world_sizes(runs):
    two, one = osp.join(runs, 'two'), osp.join(runs, 'one')
    # 2 processes -> 1 process: resumed at epoch 2, it ends where the 2-process run ended
    fastrun_train(runs, 'cfg.py', '--work-dir', 'two_then_one', '--no-validate',
                  '--resume-from', osp.join(two, 'epoch_2.pth'),
                  '--cfg-options', 'data.samples_per_gpu=16')
    assert_same_weights(osp.join(runs, 'two_then_one', 'epoch_4.pth'), osp.join(two, 'epoch_4.pth'))
    epochs = [r['epoch'] for r in json_records(osp.join(runs, 'two_then_one')) if 'mode' in r]
    assert epochs == [3, 4]
    # 1 process -> 2 processes
    torchrun(2, runs, 'cfg.py', '--work-dir', 'one_then_two', '--no-validate',
             '--resume-from', osp.join(one, 'epoch_2.pth'))
    assert_same_weights(osp.join(runs, 'one_then_two', 'epoch_4.pth'), osp.join(one, 'epoch_4.pth'))
    ckpt = read_checkpoint(osp.join(runs, 'one_then_two', 'epoch_4.pth'))
    assert ckpt['meta']['world_size'] == 2 and ckpt['meta']['epoch'] == 4


def test_a_failing_rank_stops_the_job_with_its_error(tmp_path):
    (tmp_path / 'fail_hook.py').write_text(FAILING_HOOK)
    (tmp_path / 'cfg.py').write_text(
        CONFIG + "\ncustom_imports = dict(imports=['fail_hook'])\n"
                 "custom_hooks = [dict(type='FailOnRankOne')]\n"
                 "data['train']['num_samples'] = 64\n")
    start = time.monotonic()
    code, out = torchrun(2, str(tmp_path), 'cfg.py', '--work-dir', 'w', '--no-validate',
                         check=False)
    assert code != 0
    assert 'rank 1 fails on purpose at iteration 2' in out
    # rank 0 was waiting in a collective: torchrun stopped it, nobody waited for a timeout
    assert time.monotonic() - start < LAUNCH_TIMEOUT


# ------------------------------------------------------------------ mp.spawn: the parts
class IndexRecorder(torch.nn.Module):
    """Records the sample indices of each train batch; evaluates to the samples themselves."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x, return_loss=False):
        return x * 1.0 + self.w * 0

    def train_step(self, batch, optimizer=None, **kwargs):
        self.seen.extend(int(i) for i in batch[0].flatten())
        return dict(loss=(self.w * 0).sum(), log_vars={}, num_samples=len(batch[0]))


class BNModel(ToyModel):
    def __init__(self):
        super().__init__(4, 1)
        self.bn = torch.nn.BatchNorm1d(4)

    def forward(self, x):
        return self.linear(self.bn(x))


class RecordBuffers(Hook):
    """Keeps this rank's own BatchNorm mean before SyncBuffersHook averages it."""

    def after_train_epoch(self, runner):
        self.before = runner.model.module.bn.running_mean.clone()


def _gloo_events(prof, prefix='gloo:'):
    counts = {}
    for e in prof.events():
        if e.name.startswith(prefix):
            counts[e.name] = counts.get(e.name, 0) + 1
    return counts


def _profiled(fn):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        out = fn()
    return out, _gloo_events(prof)


def _gather(obj):
    import torch.distributed as dist
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _check_log_buffer(rank):
    buf = LogBuffer()
    # 1 value with count 1 on rank 0, 2 values with count 2 on rank 1
    for v in ([1.0] if rank == 0 else [2.0, 4.0]):
        buf.update({'loss': torch.tensor(v), 'acc': 10.0 * v}, count=rank + 1)
    buf.average()
    assert buf.output['loss'] == pytest.approx((1 * 1 + 2 * 2 + 4 * 2) / 5)
    assert buf.output['acc'] == pytest.approx(10 * (1 + 4 + 8) / 5)
    assert list(buf.output) == ['loss', 'acc']
    # the keys are agreed now: one all-reduce per average, nothing else
    buf.update({'loss': torch.tensor(float(rank)), 'acc': 0.0})
    _, events = _profiled(lambda: buf.average(1))
    assert events == {'gloo:all_reduce': 1}, events
    assert buf.output['loss'] == pytest.approx(0.5)
    # keys changing on every rank alike (a val epoch) are agreed again
    buf.clear()
    buf.update({'val_loss': torch.tensor(2.0 * rank)})
    buf.average()
    assert dict(buf.output) == {'val_loss': pytest.approx(1.0)}
    # keys that differ between ranks: every rank raises, none hangs
    buf.clear()
    buf.update({'loss': torch.tensor(1.0), **({'extra': 1.0} if rank == 1 else {})})
    with pytest.raises(RuntimeError, match=r"differ across ranks.*rank 0: \['loss'\].*"
                                           r"rank 1: \['extra', 'loss'\]"):
        buf.average()


def _check_no_sync_accumulation(rank):
    from fastrun.dist import wrap_distributed
    torch.manual_seed(0)
    model = ToyModel()
    reference = ToyModel()
    reference.load_state_dict(model.state_dict())
    ddp = wrap_distributed(model, {}, torch.device('cpu'))
    batches = make_loader(4, 2, seed=rank)  # each rank its own data
    runner = Runner(ddp, optimizer=torch.optim.SGD(ddp.parameters(), lr=0.1), max_epochs=1)
    runner.register_hook(GradientCumulativeOptimizerHook(cumulative_iters=2), 'ABOVE_NORMAL')
    _, events = _profiled(lambda: runner.run([batches], [('train', 1)]))
    # 4 iterations, 2 steps: one gradient all-reduce per step (the model fits one bucket)
    assert events.get('gloo:all_reduce') == 2, events
    # the same as one process accumulating both ranks' batches, loss / 2 each
    both = [make_loader(4, 2, seed=r) for r in range(2)]
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for step in range(2):
        opt.zero_grad()
        for i in (2 * step, 2 * step + 1):
            x = torch.cat([both[r][i][0] for r in range(2)])
            y = torch.cat([both[r][i][1] for r in range(2)])
            (((reference(x) - y) ** 2).mean() / 2).backward()
        opt.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.detach(), q.detach(), atol=1e-6, rtol=1e-5)


def _check_wrapper_options_and_steps(rank):
    from fastrun.dist import wrap_distributed
    torch.manual_seed(rank)  # different initial weights: DDP starts every rank from rank 0's
    model = build_model(dict(type='ImageClassifier',
                             backbone=dict(type='MLP', in_channels=12, hidden_channels=(8,)),
                             head=dict(type='LinearClsHead', num_classes=3, in_channels=8)))
    cfg = dict(model_wrapper_cfg=dict(static_graph=True, broadcast_buffers=True),
               find_unused_parameters=True)
    ddp = wrap_distributed(model, cfg, torch.device('cpu'))
    assert (ddp.static_graph, ddp.broadcast_buffers, ddp.find_unused_parameters) == (True, True, True)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(10 + rank)
    for _ in range(3):  # the model's train_step calls self(**data) through the wrapper
        data = dict(img=torch.randn(4, 12, generator=g), gt_label=torch.randint(0, 3, (4,), generator=g))
        out = ddp.train_step(data, opt)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
    with torch.no_grad():
        assert set(ddp.val_step(data, None)) == {'loss', 'log_vars', 'num_samples'}
    weights = _gather([p.detach().clone() for p in model.parameters()])
    for p, q in zip(*weights):
        torch.testing.assert_close(p, q)
    default = wrap_distributed(ToyModel(), {}, torch.device('cpu'))
    assert (default.broadcast_buffers, default.find_unused_parameters) == (False, False)
    with pytest.raises(ValueError, match='sync_bn needs CUDA'):
        wrap_distributed(BNModel(), dict(sync_bn=True), torch.device('cpu'))


def _check_sync_buffers(rank):
    from fastrun.dist import wrap_distributed
    torch.manual_seed(0)
    ddp = wrap_distributed(BNModel(), {}, torch.device('cpu'))  # broadcast_buffers=False
    batches = [(x + 5.0 * rank, y) for x, y in make_loader(3, 4, seed=rank)]
    runner = Runner(ddp, optimizer=torch.optim.SGD(ddp.parameters(), lr=0.01), max_epochs=1)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    runner.register_hook(SyncBuffersHook(), 'NORMAL')
    recorder = RecordBuffers()
    runner.register_hook(recorder, 'HIGHEST')
    runner.run([batches], [('train', 1)])
    before = _gather(recorder.before)
    after = _gather(ddp.module.bn.running_mean.clone())
    assert not torch.allclose(before[0], before[1])  # each rank saw its own data
    torch.testing.assert_close(after[0], after[1], rtol=0, atol=0)
    torch.testing.assert_close(after[rank], (before[0] + before[1]) / 2)


def _check_sampler_and_collect(rank, tmpdir):
    dataset = TensorDataset(torch.arange(10))
    loader = build_dataloader(dataset, samples_per_gpu=2, dist=True, shuffle=True, seed=3)
    model = IndexRecorder()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=2)
    runner.register_hook(DistSamplerSeedHook(), 'NORMAL')
    runner.run([loader], [('train', 1)])
    seen = _gather(model.seen)
    epochs = [[s[e * 5:(e + 1) * 5] for s in seen] for e in range(2)]
    for per_rank in epochs:  # disjoint shares covering the data set once
        assert sorted(per_rank[0] + per_rank[1]) == list(range(10))
    assert epochs[0] != epochs[1]  # reshuffled each epoch, the same way on every rank
    # evaluation: 7 samples (one padded), shuffled sampler, gathered in data set order
    val = TensorDataset(torch.arange(7).float().view(7, 1))
    val_loader = build_dataloader(val, samples_per_gpu=2, dist=True, shuffle=True, seed=5)
    expected = [torch.tensor([float(i)]) for i in range(7)]
    for kwargs in (dict(), dict(tmpdir=tmpdir)):
        results = multi_gpu_test(model, val_loader, **kwargs)
        if rank == 0:
            assert len(results) == 7
            for r, e in zip(results, expected):
                torch.testing.assert_close(r, e)
        else:
            assert results is None
    torch.distributed.barrier()
    assert os.listdir(tmpdir) == []


def _parts_worker(rank, init_file, tmpdir):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    try:
        _check_log_buffer(rank)
        _check_no_sync_accumulation(rank)
        _check_wrapper_options_and_steps(rank)
        _check_sync_buffers(rank)
        _check_sampler_and_collect(rank, tmpdir)
    finally:
        shutdown_dist()


def test_distributed_parts_on_two_processes(tmp_path):
    """LogBuffer averaging, no_sync accumulation, DDP options, SyncBuffersHook, sampler, collect."""
    tmpdir = tmp_path / 'collect'
    ctx = mp.spawn(_parts_worker, args=(str(tmp_path / 'init'), str(tmpdir)), nprocs=2,
                   join=False)
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f'the 2-process workers did not finish in {LAUNCH_TIMEOUT} s')


def test_log_buffer_without_torch_distributed_is_unchanged():
    buf = LogBuffer()
    buf.update({'loss': torch.tensor(2.0)}, count=1)
    buf.update({'loss': 4.0}, count=3)
    buf.average()
    assert buf.output['loss'] == pytest.approx(3.5)


def test_sync_buffers_hook_is_a_no_op_on_one_process():
    model = BNModel()
    model.bn.running_mean.fill_(3.0)
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=1)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    runner.register_hook(SyncBuffersHook())
    runner.run([make_loader(1, 4)], [('train', 1)])
    assert not torch.equal(model.bn.running_mean, torch.full((4,), 3.0))  # trained, not reset


def test_launcher_pytorch_outside_torchrun_says_so(tmp_path, monkeypatch):
    from fastrun.dist import init_dist
    for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(RuntimeError, match='torchrun'):
        init_dist('pytorch')
    with pytest.raises(ValueError, match="'pytorch' \\(torchrun\\), 'slurm' \\(srun\\), 'mpi'"):
        init_dist('lsf')


