"""A whole runner iteration against a hand-written loop doing the same step.

Groups (compare within a group, in one run):

- ``iteration real-step``: an ``nn.Linear(8, 8)`` SGD step, fastrun (default hooks) vs by hand.
- ``iteration overhead``: the step replaced by a precomputed output and a no-op optimizer hook,
  so what is left is the runner's own cost per iteration (dispatch, counters, timer, log
  buffer) next to a bare ``for`` loop calling the same no-op step.
- ``nvtx``: the same overhead run with NVTX ranges on and off.
- ``hook times``: the same overhead run with the run summary's hook timer on and off.
- ``log buffer``: appending tensors per iteration, and the one-sync average at a log interval.
"""
import pytest
import torch

import fastrun
from fastrun import Hook, OptimizerHook, Runner
from fastrun import _core

N_ITERS = 200


class Linear8(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def train_step(self, data, optimizer=None, **kwargs):
        loss = self.fc(data).pow(2).mean()
        return dict(loss=loss, log_vars={'loss': loss.detach()}, num_samples=len(data))


class ConstantStep(torch.nn.Module):
    """A model whose step costs (almost) nothing: the runner's overhead is what is measured."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        loss = torch.zeros(())
        self.out = dict(loss=loss, log_vars={'loss': loss}, num_samples=1)

    def train_step(self, data, optimizer=None, **kwargs):
        return self.out


class NoopOptimizerHook(OptimizerHook):
    def after_train_iter(self, runner):
        pass


def _runner(model, optimizer, optimizer_hook, impl):
    _core.impl = _core.get(impl)
    runner = Runner(model, optimizer=optimizer, max_iters=10 ** 9, logger=fastrun.get_logger('bench'))
    runner.logger.setLevel('WARNING')
    runner.register_hook(optimizer_hook, 'ABOVE_NORMAL')
    runner.register_timer_hook(dict(type='IterTimerHook'))
    runner.register_logger_hooks(dict(interval=10 ** 6, hooks=[dict(type='TextLoggerHook', by_epoch=False)]))
    return runner


@pytest.fixture(autouse=True)
def _restore_core():
    impl = _core.impl
    yield
    _core.impl = impl


@pytest.mark.parametrize('impl', ['cython', 'python', 'by-hand'])
def test_iteration_real_step(benchmark, impl):
    torch.manual_seed(0)
    model = Linear8()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = [torch.randn(4, 8) for _ in range(N_ITERS)]
    benchmark.group = 'iteration real-step (200 iterations)'
    if impl == 'by-hand':
        def loop():
            for batch in data:
                out = model.train_step(batch, opt)
                opt.zero_grad(set_to_none=True)
                out['loss'].backward()
                opt.step()
        benchmark.pedantic(loop, rounds=15, warmup_rounds=2)
        return
    runner = _runner(model, opt, OptimizerHook(), impl)
    runner.call_hook('before_run')
    loader = fastrun.IterLoader(data)
    runner.call_hook('before_epoch')
    benchmark.pedantic(lambda: runner._run_iters('train', loader, N_ITERS), rounds=15, warmup_rounds=2)


@pytest.mark.parametrize('impl', ['cython', 'python', 'by-hand'])
def test_iteration_overhead(benchmark, impl):
    model = ConstantStep()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = list(range(N_ITERS))
    benchmark.group = 'iteration overhead (200 iterations, no-op step)'
    if impl == 'by-hand':
        step = model.train_step

        def loop():
            for batch in data:
                step(batch, opt)
        benchmark.pedantic(loop, rounds=30, warmup_rounds=3)
        return
    runner = _runner(model, opt, NoopOptimizerHook(), impl)
    runner.call_hook('before_run')
    runner.call_hook('before_epoch')
    loader = fastrun.IterLoader(data)
    benchmark.pedantic(lambda: runner._run_iters('train', loader, N_ITERS), rounds=30, warmup_rounds=3)


@pytest.mark.parametrize('nvtx', ['off', 'on'])
def test_nvtx_overhead(benchmark, nvtx):
    pytest.importorskip('nvtx')
    model = ConstantStep()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    runner = _runner(model, opt, NoopOptimizerHook(), 'cython')
    if nvtx == 'on':
        runner.enable_nvtx()
    benchmark.group = 'nvtx (200 iterations, no-op step, 4 hooks)'
    runner.call_hook('before_run')
    runner.call_hook('before_epoch')
    loader = fastrun.IterLoader(list(range(N_ITERS)))
    benchmark.pedantic(lambda: runner._run_iters('train', loader, N_ITERS), rounds=30, warmup_rounds=3)


@pytest.mark.parametrize('hook_times', ['off', 'on'])
def test_hook_times_overhead(benchmark, hook_times):
    from fastrun.summary import RunSummary
    model = ConstantStep()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    runner = _runner(model, opt, NoopOptimizerHook(), 'cython')
    summary = RunSummary(runner, hook_times=hook_times == 'on')
    benchmark.group = 'hook times (200 iterations, no-op step, 4 hooks)'
    runner.call_hook('before_run')
    runner.call_hook('before_epoch')
    loader = fastrun.IterLoader(list(range(N_ITERS)))
    benchmark.pedantic(lambda: runner._run_iters('train', loader, N_ITERS), rounds=30, warmup_rounds=3)
    assert (summary.timer is not None) == (hook_times == 'on')


@pytest.mark.parametrize('what', ['update x50', 'update x50 + average'])
def test_log_buffer(benchmark, what):
    values = [{'loss': torch.tensor(float(i)), 'acc': torch.tensor(0.5)} for i in range(50)]
    benchmark.group = 'log buffer (one log interval of 50 iterations)'

    def run():
        buf = fastrun.LogBuffer()
        for v in values:
            buf.update(v, 4)
        if what.endswith('average'):
            buf.average(50)
    benchmark(run)
