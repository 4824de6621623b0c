"""Optimizer-hook variants on real runs: gradient accumulation, AMP (bfloat16 / float16), loss scaling."""
import logging
from contextlib import nullcontext

import pytest
import torch

import fastrun.hooks.optimizer_variants  # noqa: F401  (registers the hooks)
from fastrun import Hook, OptimizerHook, Runner
from fastrun.checkpoint import read_checkpoint
from fastrun.hooks.optimizer_variants import (AmpOptimizerHook, Fp16OptimizerHook,
                                              GradientCumulativeFp16OptimizerHook,
                                              GradientCumulativeOptimizerHook)
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


def make_runner(model, optimizer_config, lr=0.1, logger=None, **kwargs):
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                    logger=logger or make_logger('runner')[0], **kwargs)
    runner.register_training_hooks(lr_config=None, optimizer_config=optimizer_config, timer_config=None)
    return runner


class StepLog(Hook):
    """Records, after every train iteration (it runs last), the parameters and the logged values."""

    def __init__(self):
        self.params, self.logged = [], []

    def after_train_iter(self, runner):
        self.params.append([p.detach().clone() for p in runner.model.parameters()])
        self.logged.append({k: v[-1] for k, v in runner.log_buffer.val_history.items()})


# ---------------------------------------------------------------- gradient accumulation
def test_cumulative_equals_big_batch_steps_with_remainder():
    """10 iterations (2 epochs of 5), cumulative_iters=4: steps over batches 4 + 4 + 2 (the remainder)."""
    torch.manual_seed(0)
    model = ToyModel()
    reference = ToyModel()
    reference.load_state_dict(model.state_dict())
    initial = [p.detach().clone() for p in model.parameters()]
    loader = make_loader(5, batch_size=3)
    runner = make_runner(model, dict(type='GradientCumulativeOptimizerHook', cumulative_iters=4),
                         max_epochs=2)
    log = StepLog()
    runner.register_hook(log, priority='LOWEST')
    runner.run([loader], [('train', 1)])
    assert isinstance(runner.hooks[0], GradientCumulativeOptimizerHook) and runner.hooks[0].priority == 40

    order = loader + loader
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    expected = []
    for group in (order[0:4], order[4:8], order[8:10]):
        x = torch.cat([b[0] for b in group])
        y = torch.cat([b[1] for b in group])
        opt.zero_grad()
        ((reference(x) - y) ** 2).mean().backward()
        opt.step()
        expected.append([p.detach().clone() for p in reference.parameters()])
    # The parameters change only at iterations 4, 8 and 10, to the big-batch values.
    want = [initial] * 3 + [expected[0]] * 4 + [expected[1]] * 2 + [expected[2]]
    assert len(log.params) == len(want) == 10
    for got, w in zip(log.params, want):
        torch.testing.assert_close(got, w)
    assert all(p.grad is None for p in model.parameters())  # zeroed after the last step


def test_cumulative_warnings_for_batchnorm_and_remainder():
    class BN(ToyModel):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(4)

    logger, handler = make_logger('cumulative')
    runner = make_runner(BN(), dict(type='GradientCumulativeOptimizerHook', cumulative_iters=2),
                         logger=logger, max_epochs=1)
    runner.run([make_loader(3)], [('train', 1)])
    warnings = [m for level, m in handler.messages if level == 'WARNING']
    assert any('BatchNorm' in m for m in warnings)
    assert sum('divided by 1 in the last 1 iterations' in m for m in warnings) == 1
    with pytest.raises(ValueError, match='cumulative_iters'):
        GradientCumulativeOptimizerHook(cumulative_iters=0)


# ---------------------------------------------------------------- AMP
class DtypeModel(ToyModel):
    """Records the dtype of each forward output; regresses a fixed linear target."""

    def __init__(self):
        super().__init__()
        self.dtypes = []

    def forward(self, x):
        out = super().forward(x)
        self.dtypes.append(out.dtype)
        return out


def regression_loader(n=4, batch_size=8):
    g = torch.Generator().manual_seed(1)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    batches = []
    for _ in range(n):
        x = torch.randn(batch_size, 4, generator=g)
        batches.append((x, x @ w + 0.5))
    return batches


@pytest.mark.parametrize('config', [
    dict(amp=dict(dtype='bfloat16'), grad_clip=dict(max_norm=100.0)),
    dict(type='AmpOptimizerHook', amp=dict(dtype='bfloat16'), grad_clip=dict(max_norm=100.0)),
])
def test_bfloat16_autocast_trains_on_cpu(config):
    torch.manual_seed(0)
    model = DtypeModel()
    runner = make_runner(model, config, lr=0.05, max_epochs=6)
    log = StepLog()
    runner.register_hook(log, priority='LOWEST')
    runner.run([regression_loader(), regression_loader(1)], [('train', 1), ('val', 1)])
    hook = runner.hooks[0]
    assert isinstance(hook, AmpOptimizerHook) and isinstance(hook, OptimizerHook)
    assert not hook.scaler.is_enabled()  # bfloat16 needs no loss scaling
    # Autocast really was on, for train and val steps alike; parameters stay float32.
    assert set(model.dtypes) == {torch.bfloat16} and len(model.dtypes) == 6 * 5
    assert all(p.dtype == torch.float32 for p in model.parameters())
    losses = [float(step['loss']) for step in log.logged]
    assert sum(losses[-4:]) < 0.2 * sum(losses[:4])
    assert all(torch.is_tensor(step['grad_norm']) for step in log.logged)  # logged without a sync
    assert 'loss_scale' not in log.logged[0]
    assert runner.step_context is None  # restored after the run


def test_amp_option_errors():
    with pytest.raises(ValueError, match='dtype'):
        AmpOptimizerHook(amp=dict(dtype='float8'))
    with pytest.raises(TypeError, match='unknown amp option'):
        AmpOptimizerHook(amp=dict(dtype='bfloat16', scale=2))
    with pytest.raises(ValueError, match='loss_scale'):
        Fp16OptimizerHook(loss_scale='static')


def test_no_amp_is_the_plain_optimizer_hook():
    torch.manual_seed(0)
    a, b = ToyModel(), ToyModel()
    b.load_state_dict(a.state_dict())
    make_runner(a, dict(type='AmpOptimizerHook'), max_epochs=2).run([make_loader(3)], [('train', 1)])
    make_runner(b, dict(), max_epochs=2).run([make_loader(3)], [('train', 1)])
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


class SaveEachEpoch(Hook):
    """Saves a checkpoint after every train epoch, as a CheckpointHook would."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def after_train_epoch(self, runner):
        runner.save_checkpoint(self.out_dir)


def fp16_run(tmp_path, max_epochs, loss_scale, resume=None, model_cls=DtypeModel):
    torch.manual_seed(0)
    model = model_cls()
    runner = make_runner(model, dict(type='Fp16OptimizerHook', loss_scale=loss_scale), lr=0.01,
                         max_epochs=max_epochs)
    log = StepLog()
    runner.register_hook(log, priority='LOWEST')
    runner.register_hook(SaveEachEpoch(str(tmp_path)), priority='LOW')
    if resume is not None:
        runner.resume(resume)
    with pytest.warns(UserWarning, match='bfloat16') if not torch.cuda.is_available() else nullcontext():
        runner.run([regression_loader(3)], [('train', 1)])
    return runner, log


def test_fp16_static_scale_saved_in_checkpoint_meta(tmp_path):
    runner, log = fp16_run(tmp_path, 1, 512.)
    hook = runner.hooks[0]
    assert type(hook) is Fp16OptimizerHook and hook.scaler.is_enabled()
    assert [float(s['loss_scale']) for s in log.logged] == [512.0] * 3
    meta = read_checkpoint(str(tmp_path / 'epoch_1.pth'))['meta']
    state = meta['fp16']['loss_scaler']
    assert float(state['scale']) == 512.0 and state['growth_interval'] == 2000


def test_fp16_dynamic_scale_state_restored_by_resume(tmp_path):
    scale = dict(init_scale=256., growth_interval=2)
    # Uninterrupted: 6 steps, the scale doubles every 2: 256 -> 2048.
    full, _ = fp16_run(tmp_path / 'full', 2, scale)
    assert full.hooks[0].scaler.get_scale() == 2048.0
    # 3 steps (scale 512, growth tracker 1 saved), then a resumed run of the 3 others.
    first, log = fp16_run(tmp_path / 'a', 1, scale)
    assert [float(s['loss_scale']) for s in log.logged] == [256.0, 256.0, 512.0]
    state = read_checkpoint(str(tmp_path / 'a' / 'epoch_1.pth'))['meta']['fp16']['loss_scaler']
    assert (float(state['scale']), int(state['_growth_tracker'])) == (512.0, 1)
    resumed, log = fp16_run(tmp_path / 'b', 2, scale, resume=str(tmp_path / 'a' / 'epoch_1.pth'))
    assert [float(s['loss_scale']) for s in log.logged] == [512.0, 1024.0, 1024.0]
    assert resumed.hooks[0].scaler.get_scale() == 2048.0
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q)


class InfAt(DtypeModel):
    """Its loss is infinite at the 1-based train iteration ``k``."""

    k = 2

    def train_step(self, data_batch, optimizer=None, **kwargs):
        out = super().train_step(data_batch, optimizer)
        self.calls = getattr(self, 'calls', 0) + 1
        if self.calls == self.k:
            out['loss'] = out['loss'] * float('inf')
        return out


def test_fp16_skips_non_finite_steps_and_logs_them(tmp_path):
    runner, log = fp16_run(tmp_path, 1, 'dynamic', model_cls=InfAt)
    hook = runner.hooks[0]
    assert [float(s['skipped_step']) for s in log.logged] == [0.0, 1.0, 0.0]
    assert [float(s['loss_scale']) for s in log.logged] == [65536.0, 65536.0, 32768.0]
    assert float(hook.skipped_steps) == 1.0
    # The skipped step left the parameters alone.
    for p, q in zip(log.params[0], log.params[1]):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())


def test_gradient_cumulative_fp16_steps_every_n(tmp_path):
    torch.manual_seed(0)
    model = DtypeModel()
    initial = [p.detach().clone() for p in model.parameters()]
    runner = make_runner(model, dict(type='GradientCumulativeFp16OptimizerHook', cumulative_iters=2,
                                     loss_scale='dynamic'), max_epochs=1)
    log = StepLog()
    runner.register_hook(log, priority='LOWEST')
    with pytest.warns(UserWarning, match='bfloat16') if not torch.cuda.is_available() else nullcontext():
        runner.run([regression_loader(5)], [('train', 1)])
    hook = runner.hooks[0]
    assert type(hook) is GradientCumulativeFp16OptimizerHook and isinstance(hook, Fp16OptimizerHook)
    assert hook.cumulative_iters == 2 and hook.scaler.is_enabled()
    before = [initial] + log.params[:-1]
    changed = [any(not torch.equal(p, q) for p, q in zip(a, b)) for a, b in zip(before, log.params)]
    assert changed == [False, True, False, True, True]  # steps after iterations 2, 4 and the last
    assert 'loss_scale' in log.logged[1]


# ---------------------------------------------------------------- CUDA
@pytest.mark.cuda
def test_float16_autocast_with_scaler_on_cuda(tmp_path):
    torch.manual_seed(0)
    model = DtypeModel().cuda()
    runner = make_runner(model, dict(amp=dict(dtype='float16')), lr=0.05, max_epochs=4)
    log = StepLog()
    runner.register_hook(log, priority='LOWEST')
    loader = [(x.cuda(), y.cuda()) for x, y in regression_loader()]
    runner.register_hook(SaveEachEpoch(str(tmp_path)), priority='LOW')
    runner.run([loader], [('train', 1)])
    assert set(model.dtypes) == {torch.float16}
    hook = runner.hooks[0]
    assert hook.scaler.is_enabled() and log.logged[-1]['loss_scale'].device.type == 'cuda'
    losses = [float(s['loss']) for s in log.logged]
    assert sum(losses[-4:]) < sum(losses[:4])
    state = read_checkpoint(str(tmp_path / 'epoch_4.pth'))['meta']['fp16']['loss_scaler']
    assert float(state['scale']) == hook.scaler.get_scale()


@pytest.mark.cuda
def test_bfloat16_on_cuda_needs_no_scaler():
    model = DtypeModel().cuda()
    runner = make_runner(model, dict(amp=dict(dtype='bfloat16')), max_epochs=1)
    runner.run([[(x.cuda(), y.cuda()) for x, y in regression_loader(2)]], [('train', 1)])
    assert set(model.dtypes) == {torch.bfloat16} and not runner.hooks[0].scaler.is_enabled()
