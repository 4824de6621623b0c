"""The run state: one capture for every checkpoint, and what a resume leaves for the run to apply."""
import os
import signal

import pytest
import torch

from tests.conftest import ToyModel, make_loader
from fastrun import Hook, Runner
from fastrun.checkpoint import read_checkpoint
from fastrun.hooks.checkpoint import CheckpointHook
from fastrun.hooks.optimizer import OptimizerHook
from fastrun.signals import Preempted


class Kill(Hook):
    """Sends SIGTERM to this process during train iteration ``at`` (1-based)."""

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


class Draw(Hook):
    """Draws from the global RNG every iteration, so the saved RNG states move on."""

    def before_train_iter(self, runner):
        torch.rand(3)


def make_runner(work_dir, *hooks, **kwargs):
    """A seeded toy runner with an optimizer hook, the RNG-drawing hook and ``hooks``."""
    torch.manual_seed(0)
    model = ToyModel()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    work_dir=str(work_dir), **kwargs)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    runner.register_hook(Draw())
    for hook in hooks:
        runner.register_hook(hook)
    return runner


def same(a, b):
    """Equal, tensors included, all the way down."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


@pytest.mark.parametrize('kind', ['epoch', 'iter'])
def test_a_signal_checkpoint_holds_what_the_checkpoint_hook_saves_at_that_point(tmp_path, core, kind):
    # Iteration 6: in the middle of the second epoch of 4 batches.
    length = dict(max_epochs=3) if kind == 'epoch' else dict(max_iters=12)
    scheduled = make_runner(tmp_path / 'hook', CheckpointHook(interval=6, by_epoch=False), **length)
    scheduled.run([make_loader()], [('train', 1)])
    stopped = make_runner(tmp_path / 'signal', Kill(6), **length)  # no checkpoint hook: the runner saves
    with pytest.raises(Preempted) as exc:
        stopped.run([make_loader()], [('train', 1)])
    name = 'epoch_2_iter_2.pth' if kind == 'epoch' else 'iter_6.pth'
    assert exc.value.checkpoint == str(tmp_path / 'signal' / name)
    by_hook = read_checkpoint(str(tmp_path / 'hook' / 'iter_6.pth'))['runner_state']
    by_signal = read_checkpoint(exc.value.checkpoint)['runner_state']
    assert (by_signal['epoch'], by_signal['iter']) == (1, 6)
    assert same(by_signal, by_hook)  # counters, position, RNG states, log values, hook states


def test_resume_alone_records_the_file_and_rotation_still_holds_max_keep_ckpts(tmp_path):
    first = make_runner(tmp_path, CheckpointHook(interval=1), max_epochs=3)
    first.run([make_loader()], [('train', 1)])
    resumed = make_runner(tmp_path, CheckpointHook(interval=1, max_keep_ckpts=1), max_epochs=5)
    resumed.resume(str(tmp_path / 'epoch_1.pth'))
    assert resumed.run_state.resumed_from == str(tmp_path / 'epoch_1.pth')
    resumed.run([make_loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path)) == ['epoch_5.pth', 'latest.pth']


def test_what_a_resume_left_pending_is_applied_once(tmp_path, core):
    first = make_runner(tmp_path, Kill(6), max_epochs=3)
    with pytest.raises(Preempted) as exc:
        first.run([make_loader()], [('train', 1)])
    resumed = make_runner(tmp_path, max_epochs=3)
    resumed.resume(exc.value.checkpoint)
    state = resumed.run_state
    assert (resumed.epoch, resumed.iter, state.epoch_pos) == (1, 6, 2)
    assert state.pending_rng is not None and state.pending_loaders is not None
    seen = []

    class Look(Hook):
        """Records the position and what is still pending at each train iteration."""

        def before_train_iter(self, runner):
            seen.append((runner.inner_iter, runner.run_state.pending_rng, runner.run_state.pending_loaders))

    resumed.register_hook(Look())
    resumed.run([make_loader()], [('train', 1)])
    assert seen[0] == (2, None, None)  # the second epoch goes on from its third batch
    assert len(seen) == 12 - 6 and state.preemption is None and resumed.epoch == 3


class SeesTheEpochFile(Hook):
    """At NORMAL, after the checkpoint hook: records whether this epoch's file is there, now and
    once the stage's checkpoints are written (``run_state.when_saved``)."""

    def __init__(self, work_dir):
        self.work_dir = work_dir
        self.now, self.when_saved = [], []

    def after_train_epoch(self, runner):
        path = os.path.join(self.work_dir, f'epoch_{runner.epoch + 1}.pth')
        self.now.append(os.path.isfile(path))
        runner.run_state.when_saved(lambda: self.when_saved.append(os.path.isfile(path)))


def test_a_hook_before_the_writer_acts_on_the_epoch_file_once_it_is_written(tmp_path, core):
    # The epoch's checkpoint waits for its evaluation (hooks up to LOW); a hook at NORMAL, where
    # mmcv's hooks found epoch_N.pth already (PAVI's snapshot upload), gets it through when_saved.
    seen = SeesTheEpochFile(str(tmp_path))
    runner = make_runner(tmp_path, CheckpointHook(interval=1), seen, max_epochs=3)
    runner.run([make_loader()], [('train', 1)])
    assert seen.now == [False, False, False]
    assert seen.when_saved == [True, True, True]  # once per epoch, with the file complete


def test_when_saved_calls_at_once_when_no_checkpoint_waits(tmp_path, core):
    seen = SeesTheEpochFile(str(tmp_path))
    runner = make_runner(tmp_path, CheckpointHook(interval=2), seen, max_epochs=3)
    runner.run([make_loader()], [('train', 1)])
    # Epoch 1 saves nothing (interval 2): the callback runs at once and finds no file; epochs
    # 2 (interval) and 3 (save_last) save: it runs after the write
    assert seen.now == [False, False, False]
    assert seen.when_saved == [False, True, True]
