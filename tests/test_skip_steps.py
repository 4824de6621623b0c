"""CheckInvalidLossHook(action='skip'): a skipped step leaves everything as it was before it.

The main job (the SmallCNN with BatchNorm on the digits) is trained with a batch of NaN, with a
learning rate that makes a finite loss give a non-finite update, with mixed precision (the loss
scaler) and with gradient accumulation. The run must finish and save its checkpoints, and the
state after each skipped step (weights, BatchNorm statistics, optimizer state, loss scaler,
accumulated gradients) must equal the state before it, to the bit.
"""
import copy
import glob
import logging
import os.path as osp

import pytest
import torch

import fastrun.hooks.invalid_loss  # noqa: F401  (registers the hook)
from fastrun import Config, Hook
from fastrun.builder import build_dataset, build_model, set_random_seed, train_model
from fastrun.checkpoint import read_checkpoint

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytest.importorskip('sklearn')


class NaNBatch(Hook):
    """Fills the images of train iteration ``at`` (1-based) with NaN, in place."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner):
        if runner.iter + 1 == self.at:
            runner.data_batch['img'].fill_(float('nan'))


class Probe(Hook):
    """After each train iteration: a copy of everything a step may change."""

    def __init__(self):
        self.states = []

    def after_train_iter(self, runner):
        scaler = next((h.scaler for h in runner.hooks if getattr(h, 'scaler', None) is not None
                       and h.scaler.is_enabled()), None)
        self.states.append(dict(
            model=copy.deepcopy(runner.model.state_dict()),
            optimizer=copy.deepcopy(runner.optimizer.state_dict()),
            grads=[None if p.grad is None else p.grad.clone() for p in runner.model.parameters()],
            scaler=None if scaler is None else (scaler._scale.clone(),
                                                scaler._growth_tracker.clone())))


def same(a, b):
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main_job(tmp_path, *hooks, validate=False, max_consecutive_skips=10, **options):
    """The main job's config (two epochs), with skip mode and ``hooks``; returns the runner.

    ``validate``: with its evaluation and best checkpoint (else left out, to be quicker).
    """
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'digits_cnn.py'))
    cfg.merge_from_dict(dict(runner=dict(max_epochs=2), work_dir=str(tmp_path), **options))
    cfg.custom_hooks = [dict(type='CheckInvalidLossHook', action='skip',
                             max_consecutive_skips=max_consecutive_skips)] + list(hooks)
    set_random_seed(cfg.seed)
    model = build_model(cfg.model)
    datasets = [build_dataset(cfg.data.train)]
    handler = Warnings()
    logging.getLogger('fastrun').addHandler(handler)
    try:
        runner = train_model(model, datasets, cfg, validate=validate, meta=dict(seed=cfg.seed))
    finally:
        logging.getLogger('fastrun').removeHandler(handler)
    return runner, handler.messages


def skip_hook(runner):
    return next(h for h in runner.hooks if type(h).__name__ == 'CheckInvalidLossHook')


def assert_run_finished_with_checkpoints(tmp_path):
    for name in ('epoch_1.pth', 'epoch_2.pth', 'latest.pth'):
        ckpt = read_checkpoint(str(tmp_path / name))
        assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
                   if v.is_floating_point())
    assert read_checkpoint(str(tmp_path / 'latest.pth'))['meta']['epoch'] == 2


def test_a_nan_batch_is_skipped_and_the_batchnorm_statistics_stay(tmp_path):
    probe = Probe()
    runner, warnings = main_job(tmp_path, NaNBatch(45), probe, validate=True)
    assert_run_finished_with_checkpoints(tmp_path)
    assert len(glob.glob(str(tmp_path / 'best_accuracy_top-1_epoch_*.pth'))) == 1
    assert skip_hook(runner).skipped == 1
    assert [m for m in warnings if 'skipped' in m] == [
        'non-finite loss at train iteration 45 (epoch 2, iteration 5 of the epoch): step skipped, '
        'the model, optimizer and loss scaler are as before it (1 so far)']
    before, after = probe.states[43], probe.states[44]
    assert any('running_var' in k for k in after['model'])
    assert same(after['model'], before['model'])  # running stats and num_batches_tracked too
    assert same(after['optimizer']['state'], before['optimizer']['state'])
    assert not same(probe.states[45]['model'], after['model'])  # training went on
    assert read_checkpoint(str(tmp_path / 'latest.pth'))['runner_state']['hooks'][
        'CheckInvalidLossHook'] == {'skipped': 1, 'consecutive': 0}


def test_a_finite_loss_with_a_non_finite_update_is_skipped(tmp_path):
    probe = Probe()
    # Every step after the first few is skipped: no limit here, to see each one undone (the
    # default limit, 10 in a row, would stop the run: test_faults.py)
    runner, warnings = main_job(tmp_path, probe, optimizer=dict(lr=1e10),
                                max_consecutive_skips=10 ** 6)
    assert_run_finished_with_checkpoints(tmp_path)
    skipped = [m for m in warnings if 'step skipped' in m]
    assert skipped and len(skipped) == skip_hook(runner).skipped
    assert all(m.startswith('finite loss, but non-finite values in ') for m in skipped), skipped[:3]
    flags = runner.log_buffer.val_history['nonfinite_skipped']
    iters = [int(m.split('train iteration ')[1].split()[0]) for m in skipped]
    assert iters[0] > 1
    for it in iters:  # 1-based: probe.states[it - 1] is after it, [it - 2] before it
        assert same(probe.states[it - 1]['model'], probe.states[it - 2]['model']), it
        # the state; the lr of the param groups follows the iteration (warm-up)
        assert same(probe.states[it - 1]['optimizer']['state'],
                    probe.states[it - 2]['optimizer']['state']), it
    assert flags  # counted in the log


@pytest.mark.filterwarnings('ignore:float16 autocast is not supported well on CPU')
def test_with_the_loss_scaler_a_skipped_step_leaves_the_scaler_too(tmp_path):
    probe = Probe()
    runner, _ = main_job(tmp_path, NaNBatch(30), probe,
                         optimizer_config=dict(amp=dict(dtype='float16')))
    assert_run_finished_with_checkpoints(tmp_path)
    assert skip_hook(runner).skipped == 1
    before, after = probe.states[28], probe.states[29]
    after['optimizer'].pop('param_groups'), before['optimizer'].pop('param_groups')  # lr: warm-up
    assert all(g is None for g in after.pop('grads'))  # the skipped step's gradients are dropped
    before.pop('grads')
    assert same(after, before)  # model, optimizer state, scale and growth tracker
    assert before['scaler'] is not None


def test_with_gradient_accumulation_the_accumulated_gradients_stay(tmp_path):
    probe = Probe()
    # steps after iterations 4, 8, ...: iteration 6 adds to the gradients of iteration 5
    runner, _ = main_job(tmp_path, NaNBatch(6), probe,
                         optimizer_config=dict(type='GradientCumulativeOptimizerHook',
                                               cumulative_iters=4))
    assert_run_finished_with_checkpoints(tmp_path)
    assert skip_hook(runner).skipped == 1
    before, after = probe.states[4], probe.states[5]
    assert all(g is not None for g in before['grads'])
    after['optimizer'].pop('param_groups'), before['optimizer'].pop('param_groups')  # lr: warm-up
    assert same(after, before)
    assert not same(probe.states[6]['grads'], after['grads'])
