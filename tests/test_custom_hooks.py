"""The hooks meant for ``custom_hooks``, on real runs: EMA, closures, cache, profiler, samplers, losses."""
import json
import logging
import socket
from contextlib import nullcontext

import pytest
import torch

from fastrun.dist import shutdown_dist
import torch.multiprocessing as mp
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, TensorDataset

import fastrun.hooks.closure  # noqa: F401  (registers the hooks)
import fastrun.hooks.ema  # noqa: F401
import fastrun.hooks.invalid_loss  # noqa: F401
import fastrun.hooks.memory  # noqa: F401
import fastrun.hooks.profiler  # noqa: F401
import fastrun.hooks.sampler_seed  # noqa: F401
import fastrun.hooks.sync_buffer  # noqa: F401
from fastrun import Hook, Runner
from fastrun.checkpoint import read_checkpoint
from fastrun.hook import DISPATCH_NAMES
from fastrun.hooks.closure import ClosureHook
from fastrun.hooks.ema import EMAHook
from fastrun.hooks.invalid_loss import CheckInvalidLossHook
from fastrun.hooks.memory import EmptyCacheHook
from fastrun.hooks.profiler import ProfilerHook
from fastrun.hooks.sampler_seed import DistSamplerSeedHook
from fastrun.hooks.sync_buffer import SyncBuffersHook
from tests.conftest import ToyModel, make_loader


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelname, record.getMessage()))


def make_logger(name):
    logger = logging.getLogger(f'fastrun-test.{name}')
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = ListHandler()
    logger.addHandler(handler)
    return logger, handler


def sgd_runner(model, lr=0.1, logger=None, **kwargs):
    if logger is not None:  # Runner(logger=None) raises, as in mmcv; left out, fastrun's logger
        kwargs['logger'] = logger
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=lr), **kwargs)
    runner.register_optimizer_hook(dict())
    return runner


class ParamRecorder(Hook):
    """Records the named tensors of the model after every train step (it runs last)."""

    def __init__(self, names=('linear.weight', 'linear.bias')):
        self.names = names
        self.trace = []

    def _values(self, runner):
        state = dict(runner.model.named_parameters()) | dict(runner.model.named_buffers())
        return {n: state[n].detach().clone() for n in self.names}

    def before_run(self, runner):
        self.initial = self._values(runner)

    def after_train_iter(self, runner):
        self.trace.append((runner.iter, self._values(runner)))


def ema_by_hand(initial, trace, momentum, interval, warm_up):
    """mmcv's EMA recurrence, from the weights recorded after each step."""
    ema = {n: v.clone() for n, v in initial.items()}
    m_eff = momentum ** interval
    for step, values in trace:
        if step % interval == 0:
            m = min(m_eff, (1 + step) / (warm_up + step))
            ema = {n: (1 - m) * ema[n] + m * values[n] for n in ema}
    return ema


# ---------------------------------------------------------------- EMAHook
def test_ema_closed_form_swap_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = ToyModel()
    runner = sgd_runner(model, max_epochs=2)
    runner.register_hook(EMAHook(momentum=0.6, interval=2, warm_up=10), priority=49)
    rec = ParamRecorder()
    runner.register_hook(rec, priority='LOWEST')
    saved = []
    runner.register_hook(ClosureHook('after_train_epoch', lambda r: saved.append(
        r.save_checkpoint(str(tmp_path)))), priority='LOW')
    runner.run([make_loader(4)], [('train', 1)])

    # The raw trajectory is the plain SGD one: the EMA weights never leak into training.
    torch.manual_seed(0)
    plain = ToyModel()
    plain_runner = sgd_runner(plain, max_epochs=2)
    plain_rec = ParamRecorder()
    plain_runner.register_hook(plain_rec, priority='LOWEST')
    plain_runner.run([make_loader(4)], [('train', 1)])
    for (_, got), (_, want) in zip(rec.trace, plain_rec.trace, strict=True):
        for n in got:
            torch.testing.assert_close(got[n], want[n])

    # Warm-up is active at steps 0, 2, 4 ((1+t)/(10+t) < 0.36), not at 6.
    for epoch, path in enumerate(saved):
        n_steps = 4 * (epoch + 1)
        ema = ema_by_hand(rec.initial, rec.trace[:n_steps], 0.6, 2, 10)
        state = read_checkpoint(path)['state_dict']
        last_raw = rec.trace[n_steps - 1][1]
        # Swapped in at the end of the epoch: the checkpoint's weights are the EMA ones.
        torch.testing.assert_close(state['linear.weight'], ema['linear.weight'])
        torch.testing.assert_close(state['linear.bias'], ema['linear.bias'])
        torch.testing.assert_close(state['ema_linear_weight'], last_raw['linear.weight'])
        assert read_checkpoint(path)['meta']['hook_msgs']['ema_swapped'] is True
    # After the run the model holds the EMA weights.
    torch.testing.assert_close(model.linear.weight.detach(), ema['linear.weight'])


def test_ema_resume_from_matches_uninterrupted_run(tmp_path):
    def run(max_epochs, hook, work):
        torch.manual_seed(0)
        model = ToyModel()
        runner = sgd_runner(model, max_epochs=max_epochs)
        runner.register_hook(hook, priority=49)
        runner.register_hook(ClosureHook('after_train_epoch', lambda r: r.save_checkpoint(str(work))),
                             priority='LOW')
        runner.run([make_loader(3)], [('train', 1)])
        return model

    full = run(3, EMAHook(momentum=0.3, warm_up=2), tmp_path / 'a')
    run(1, EMAHook(momentum=0.3, warm_up=2), tmp_path / 'b')
    resumed = run(3, EMAHook(momentum=0.3, warm_up=2, resume_from=str(tmp_path / 'b' / 'epoch_1.pth')),
                  tmp_path / 'c')
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_ema_average_buffers():
    class BNModel(ToyModel):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(4)

        def forward(self, x):
            return self.linear(self.bn(x))

    torch.manual_seed(0)
    model = BNModel()
    runner = sgd_runner(model, max_epochs=1)
    runner.register_hook(EMAHook(momentum=0.5, warm_up=3, average_buffers=True), priority=49)
    rec = ParamRecorder(('bn.running_mean', 'bn.running_var', 'linear.weight'))
    runner.register_hook(rec, priority='LOWEST')
    runner.run([make_loader(3)], [('train', 1)])
    ema = ema_by_hand(rec.initial, rec.trace, 0.5, 1, 3)
    state = model.state_dict()
    for name in ('bn.running_mean', 'bn.running_var', 'linear.weight'):
        torch.testing.assert_close(state[name], ema[name])
        torch.testing.assert_close(state['ema_' + name.replace('.', '_')], rec.trace[-1][1][name])
    assert 'ema_bn_num_batches_tracked' not in model.state_dict()  # integers are not averaged


class IterCheckpointHook(Hook):
    """A minimal iter-wise checkpoint saver (what EMAHook looks for: by_epoch=False, interval)."""

    def __init__(self, work_dir, interval):
        self.work_dir, self.interval, self.by_epoch = work_dir, interval, False
        self.saved = []

    def after_train_iter(self, runner):
        if self.every_n_iters(runner, self.interval):
            self.saved.append((runner.iter + 1, runner.model.linear.weight.detach().clone()))
            runner.save_checkpoint(self.work_dir)


def test_ema_iter_based_swaps_around_checkpoints_and_resumes(tmp_path, core):
    def run(max_iters, ema, work):
        torch.manual_seed(0)
        model = ToyModel()
        runner = sgd_runner(model, max_iters=max_iters)
        runner.register_hook(ema, priority=49)
        saver = IterCheckpointHook(str(work), interval=3)
        runner.register_hook(saver)
        rec = ParamRecorder()
        runner.register_hook(rec, priority='LOWEST')
        # 3 batches: a run resumed at iteration 3 draws the same batches as an uninterrupted one.
        runner.run([make_loader(3)], [('train', 1)])
        return model, saver, rec

    model, saver, rec = run(7, EMAHook(momentum=0.4, warm_up=2), tmp_path / 'a')
    # The swap interval was taken from the checkpoint hook: saved weights are the EMA ones.
    assert [it for it, _ in saver.saved] == [3, 6]
    torch.manual_seed(0)
    plain = ToyModel()
    plain_runner = sgd_runner(plain, max_iters=7)
    plain_rec = ParamRecorder()
    plain_runner.register_hook(plain_rec, priority='LOWEST')
    plain_runner.run([make_loader(3)], [('train', 1)])
    for it, weight in saver.saved:
        ema = ema_by_hand(plain_rec.initial, plain_rec.trace[:it], 0.4, 1, 2)
        torch.testing.assert_close(weight, ema['linear.weight'])
    # Training continued from the raw weights, and after the last iteration the EMA is in.
    torch.testing.assert_close(model.ema_linear_weight, plain.linear.weight.detach())
    final_ema = ema_by_hand(plain_rec.initial, plain_rec.trace, 0.4, 1, 2)
    torch.testing.assert_close(model.linear.weight.detach(), final_ema['linear.weight'])
    assert read_checkpoint(str(tmp_path / 'a' / 'iter_3.pth'))['meta']['hook_msgs']['ema_swapped'] is True

    # Resuming from a checkpoint saved with the EMA weights in swaps them back first.
    resumed, _, _ = run(7, EMAHook(momentum=0.4, warm_up=2, resume_from=str(tmp_path / 'a' / 'iter_3.pth')),
                        tmp_path / 'b')
    for (name, a), (_, b) in zip(model.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_ema_warns_when_a_checkpoint_hook_runs_first(tmp_path):
    logger, handler = make_logger('ema-order')
    runner = sgd_runner(ToyModel(), max_iters=2, logger=logger)
    runner.register_hook(IterCheckpointHook(str(tmp_path), 5), priority='HIGH')
    runner.register_hook(EMAHook())
    runner.run([make_loader(2)], [('train', 1)])
    assert any(level == 'WARNING' and 'IterCheckpointHook' in msg and 'priority' in msg
               for level, msg in handler.messages)


def test_ema_rejects_bad_options():
    with pytest.raises(ValueError, match='momentum'):
        EMAHook(momentum=1.5)
    with pytest.raises(ValueError, match='interval'):
        EMAHook(interval=0)


# ---------------------------------------------------------------- ClosureHook
def test_closure_hook_runs_at_its_stage(core):
    calls = []
    runner = Runner(ToyModel(), max_epochs=2)
    runner.register_custom_hooks([
        dict(type='ClosureHook', fn_name='after_train_epoch', fn=lambda r: calls.append(('train', r.epoch))),
        ClosureHook('after_epoch', lambda r: calls.append((r.mode, r.epoch))),
    ])
    runner.run([make_loader(2), make_loader(1)], [('train', 1), ('val', 1)])
    assert calls == [('train', 0), ('train', 0), ('val', 1), ('train', 1), ('train', 1), ('val', 2)]
    assert [len(runner._dispatch.table(s)) for s in ('after_train_epoch', 'after_val_epoch',
                                                      'after_train_iter')] == [2, 1, 0]


def test_closure_hook_errors():
    with pytest.raises(ValueError, match='fn_name must be one of'):
        ClosureHook('after_step', print)
    with pytest.raises(TypeError, match='callable'):
        ClosureHook('after_run', 42)


# ---------------------------------------------------------------- EmptyCacheHook
def test_empty_cache_hook_only_in_enabled_stages(core):
    runner = Runner(ToyModel(), max_epochs=1)
    hook = EmptyCacheHook(before_epoch=True, after_epoch=False, after_iter=True)
    runner.register_hook(hook)
    enabled = {'before_train_epoch', 'before_val_epoch', 'before_epoch',
               'after_train_iter', 'after_val_iter', 'after_iter'}
    for name in DISPATCH_NAMES:
        table = runner._dispatch.table(name)
        assert (len(table) == 1) == (name in enabled), name
    info = runner.get_hook_info()
    stages_listed = [block.split(':')[0] for block in info.split(' -------------------- ') if block.strip()]
    assert sorted(s.strip() for s in stages_listed) == sorted(
        {'before_train_epoch', 'before_val_epoch', 'after_train_iter', 'after_val_iter'})
    # The defaults: after_epoch only, train and val.
    default = Runner(ToyModel(), max_epochs=1)
    default.register_hook(EmptyCacheHook())
    assert [n for n in DISPATCH_NAMES if default._dispatch.table(n)] == [
        'after_train_epoch', 'after_val_epoch', 'after_epoch']
    runner.run([make_loader(2), make_loader(1)], [('train', 1), ('val', 1)])  # no CUDA: no-op


# ---------------------------------------------------------------- ProfilerHook
class TableProbe(Hook):
    """Notes, per train iteration, whether the after_train_iter table is annotated."""

    def __init__(self):
        self.wrapped = []

    def after_train_iter(self, runner):
        table = runner._dispatch.table('after_train_iter')
        self.wrapped.append(all(hasattr(fn, '__wrapped__') for fn in table))


def test_profiler_trace_names_hooks_and_tables_restored(tmp_path, core):
    logger, handler = make_logger('profiler')
    runner = sgd_runner(ToyModel(), max_epochs=1, logger=logger, work_dir=str(tmp_path))
    trace_path = tmp_path / 'trace.json'
    runner.register_profiler_hook(dict(by_epoch=False, profile_iters=2, json_trace_path=str(trace_path),
                                       on_trace_ready=dict(type='log_trace', row_limit=-1)))
    probe = TableProbe()
    runner.register_hook(probe, priority='LOWEST')
    plain = runner._dispatch.table('after_train_iter')
    with (pytest.warns(UserWarning, match='CUDA is not available') if not torch.cuda.is_available()
          else nullcontext()):
        runner.run([make_loader(4)], [('train', 1)])
    # Annotated during the first iteration; the hook stops after the second one.
    assert probe.wrapped == [True, False, False, False]
    assert runner._dispatch.table('after_train_iter') == plain
    names = {e.get('name') for e in json.loads(trace_path.read_text())['traceEvents']}
    for expected in ('after_train_iter/OptimizerHook', 'after_train_iter/TableProbe',
                     'after_train_iter/ProfilerHook'):
        assert expected in names
    logged = '\n'.join(msg for _, msg in handler.messages)
    assert 'after_train_iter/OptimizerHook' in logged  # the log_trace table


def test_profiler_errors_still_name_the_hook(core):
    class Boom(Hook):
        def after_train_iter(self, runner):
            raise ValueError('bad')

    runner = Runner(ToyModel(), max_epochs=1)
    hook = ProfilerHook(activities=['cpu'])
    runner.register_hook(hook)
    runner.register_hook(Boom())
    try:
        with pytest.raises(ValueError, match='after_train_iter of Boom: bad'):
            runner.run([make_loader(2)], [('train', 1)])
    finally:
        if hook.profiler is not None:
            hook.profiler.__exit__(None, None, None)


def test_profiler_rejects_bad_options():
    with pytest.raises(ValueError, match='activity'):
        ProfilerHook(activities=['tpu'])
    with pytest.raises(ValueError, match='profile_iters'):
        ProfilerHook(profile_iters=0)
    with pytest.raises(ValueError, match='tb_trace'):
        ProfilerHook(on_trace_ready=dict(type='chrome'))
    runner = Runner(ToyModel(), max_epochs=1)
    runner.register_hook(ProfilerHook(profile_iters=2, activities=['cpu']))
    with pytest.raises(ValueError, match='greater than'):
        runner.run([make_loader(1)], [('train', 1)])


# ---------------------------------------------------------------- DistSamplerSeedHook
class IndexModel(torch.nn.Module):
    """Records the sample indices of every batch it sees."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def train_step(self, data_batch, optimizer=None, **kwargs):
        (idx,) = data_batch
        self.seen.append(idx.tolist())
        loss = self.w.sum()
        return dict(loss=loss, log_vars={}, num_samples=len(idx))


@pytest.mark.parametrize('wrap', ['sampler', 'batch_sampler'])
@pytest.mark.parametrize('with_hook', [True, False])
def test_dist_sampler_seed_hook_reshuffles_each_epoch(wrap, with_hook):
    dataset = TensorDataset(torch.arange(8))
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=7)
    if wrap == 'sampler':
        loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    else:
        loader = DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size=4, drop_last=False))
    model = IndexModel()
    runner = Runner(model, max_epochs=3)
    if with_hook:
        runner.register_hook(DistSamplerSeedHook())
    runner.run([loader], [('train', 1)])
    orders = [sum(model.seen[2 * e:2 * e + 2], []) for e in range(3)]
    expected = [torch.randperm(8, generator=torch.Generator().manual_seed(7 + e)).tolist()
                for e in range(3)]
    if with_hook:
        assert orders == expected
        assert len({tuple(o) for o in orders}) == 3
    else:
        assert orders == [expected[0]] * 3


# ---------------------------------------------------------------- CheckInvalidLossHook
class NaNAfter(ToyModel):
    """Its loss is NaN from the 1-based iteration ``k`` on."""

    def __init__(self, k):
        super().__init__()
        self.k, self.calls = k, 0

    def train_step(self, data_batch, optimizer=None, **kwargs):
        out = super().train_step(data_batch, optimizer)
        self.calls += 1
        if self.calls >= self.k:
            out['loss'] = out['loss'] * float('nan')
        return out


@pytest.mark.parametrize('interval, reported', [(1, 3), (2, 4)])
def test_check_invalid_loss_names_the_iteration(core, interval, reported):
    runner = Runner(NaNAfter(k=3), max_epochs=3)
    runner.register_custom_hooks([dict(type='CheckInvalidLossHook', interval=interval)])
    with pytest.raises(FloatingPointError, match=rf'NaN at train iteration {reported} \(epoch 2, '
                                                 rf'iteration {reported - 2}/2'):
        runner.run([make_loader(2)], [('train', 1)])
    assert runner.iter == reported - 1


def test_check_invalid_loss_passes_finite_losses():
    runner = Runner(ToyModel(), max_epochs=1)
    runner.register_hook(CheckInvalidLossHook(interval=1))
    runner.run([make_loader(3)], [('train', 1)])
    assert runner.iter == 3
    with pytest.raises(ValueError, match='interval'):
        CheckInvalidLossHook(interval=0)


# ---------------------------------------------------------------- SyncBuffersHook
class BufferModel(ToyModel):
    def __init__(self, value):
        super().__init__()
        self.register_buffer('stat', torch.full((3,), float(value)))
        self.register_buffer('count', torch.tensor(int(value) + 10))


def _sync_worker(rank, port, out_dir):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        model = BufferModel(value=2 * rank + 1)  # 1 and 3: the mean is 2
        runner = Runner(model, max_epochs=1)
        runner.register_hook(SyncBuffersHook())
        runner.run([make_loader(1)], [('train', 1)])
        torch.save({'stat': model.stat, 'count': model.count}, f'{out_dir}/rank{rank}.pt')
    finally:
        shutdown_dist()


def test_sync_buffers_averages_across_processes(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_sync_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        got = torch.load(tmp_path / f'rank{rank}.pt')
        torch.testing.assert_close(got['stat'], torch.full((3,), 2.0))
        assert int(got['count']) == 2 * rank + 11  # integer buffers are left alone


def test_sync_buffers_single_process_is_a_no_op():
    model = BufferModel(value=5)
    runner = Runner(model, max_epochs=1)
    runner.register_hook(SyncBuffersHook())
    runner.run([make_loader(1)], [('train', 1)])
    torch.testing.assert_close(model.stat, torch.full((3,), 5.0))
