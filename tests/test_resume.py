"""Exact resume: a run interrupted and resumed ends bit-for-bit where the straight run ends.

Each case trains the same config twice on the CPU: straight through, and interrupted (a hook
raises after a checkpoint, or a SIGTERM stops it mid-epoch) then resumed in a fresh runner
with scrambled RNGs. Parameters, optimizer state and every logged value must be identical.
The MLP has dropout, so a resume that did not restore the RNGs would differ.
"""
import copy
import glob
import json
import os
import os.path as osp
import random
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

import fastrun.hooks.ema  # noqa: F401  (registers the hooks used by the configs)
import fastrun.hooks.optimizer_variants  # noqa: F401
from fastrun import Config, Hook, Runner
from fastrun.builder import build_dataset, build_model, set_random_seed, train_model
from fastrun.checkpoint import CheckpointError, read_checkpoint
from fastrun.sampler import ResumableSampler, start_after
from fastrun.signals import Preempted
from tests.conftest import ToyModel, make_loader

EPOCH_LEN = 8  # 60 samples in batches of 8: the last batch has 4


def make_cfg(work_dir, kind='epoch', amp=None, ema=False, cumulative=None):
    optimizer_config = dict(grad_clip=dict(max_norm=5.0))
    if amp:
        optimizer_config['amp'] = dict(dtype=amp)
    if cumulative:
        optimizer_config = dict(type='GradientCumulativeOptimizerHook', cumulative_iters=cumulative)
    cfg = dict(
        model=dict(type='ImageClassifier',
                   backbone=dict(type='MLP', in_channels=16, hidden_channels=(32,), dropout=0.2),
                   head=dict(type='LinearClsHead', num_classes=4, in_channels=32)),
        data=dict(samples_per_gpu=8, workers_per_gpu=0,
                  train=dict(type='SyntheticClassification', num_samples=60, shape=(1, 4, 4),
                             num_classes=4, seed=0)),
        optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
        optimizer_config=optimizer_config,
        lr_config=dict(policy='CosineAnnealing', min_lr=0.0, warmup='linear', warmup_iters=5),
        runner=(dict(type='EpochBasedRunner', max_epochs=4) if kind == 'epoch'
                else dict(type='IterBasedRunner', max_iters=4 * EPOCH_LEN)),
        checkpoint_config=dict(interval=1) if kind == 'epoch' else dict(interval=5),
        # 3 does not divide the epoch: a resumed run needs the values logged before it stopped
        log_config=dict(interval=3, hooks=[dict(type='TextLoggerHook')]),
        workflow=[('train', 1)], seed=0, work_dir=str(work_dir))
    if ema:
        cfg['custom_hooks'] = [dict(type='EMAHook', momentum=0.2, warm_up=2, priority=49)]
    return Config(cfg)


class Crash(Hook):
    """Raises after train iteration ``at`` (1-based), after the hooks that save checkpoints."""

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner):
        if runner.iter + 1 == self.at:
            raise RuntimeError('simulated crash')


class SendSignal(Hook):
    """Sends ``signum`` to this process during train iteration ``at`` (1-based)."""

    def __init__(self, at, signum=signal.SIGTERM):
        self.at, self.signum = at, signum

    def after_train_iter(self, runner):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)


def train(cfg, timestamp, resume_from=None, hooks=()):
    """A run as ``fastrun train`` makes it (seeded, then resumed), in this process."""
    cfg = copy.deepcopy(cfg)
    if cfg.seed is not None:
        set_random_seed(cfg.seed)
    model = build_model(cfg.model)
    dataset = build_dataset(cfg.data.train)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + list(hooks)
    if resume_from:
        cfg.resume_from = resume_from
    return train_model(model, [dataset], cfg, validate=False, timestamp=timestamp,
                       meta=dict(seed=cfg.seed))


def scramble_rngs():
    torch.manual_seed(12345)
    random.seed(6789)
    np.random.seed(101)


def train_records(work_dir):
    """The train records of all JSON logs of ``work_dir``, by (epoch, iter), times left out."""
    records = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*.log.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get('mode') != 'train':
                    continue
                key = (rec['epoch'], rec['iter'])
                value = {k: v for k, v in rec.items() if k not in ('time', 'data_time', 'memory')}
                # the interrupted run and the resumed one may both log the same iteration
                assert records.setdefault(key, value) == value, key
    return records


def assert_same_run(straight, resumed, straight_dir, resumed_dir):
    for (name, a), (name_b, b) in zip(straight.model.state_dict().items(),
                                      resumed.model.state_dict().items(), strict=True):
        assert name == name_b and torch.equal(a, b), name
    sa, sb = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert sa['param_groups'] == sb['param_groups']
    for i, state in sa['state'].items():
        for k, v in state.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb['state'][i][k])), (i, k)
    ra, rb = train_records(straight_dir), train_records(resumed_dir)
    assert len(ra) >= 8 and ra == rb


CASES = {
    # name: (config options, crash iteration, the checkpoint resumed from)
    'epoch': (dict(kind='epoch'), 2 * EPOCH_LEN + 1, 'epoch_2.pth'),
    'iter_mid_epoch': (dict(kind='iter'), 13, 'iter_10.pth'),  # 2 batches into epoch 2
    'epoch_bf16_ema': (dict(kind='epoch', amp='bfloat16', ema=True), 2 * EPOCH_LEN + 3, 'epoch_2.pth'),
    'iter_bf16_ema': (dict(kind='iter', amp='bfloat16', ema=True), 13, 'iter_10.pth'),
    # 10 % 3 == 1: the checkpoint holds the gradient of iteration 10, half a cycle
    'iter_accumulation_mid_cycle': (dict(kind='iter', cumulative=3), 13, 'iter_10.pth'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_interrupted_and_resumed_run_equals_the_straight_run(tmp_path, case):
    options, crash_at, resume_file = CASES[case]
    straight = train(make_cfg(tmp_path / 'a', **options), 'straight')

    cfg = make_cfg(tmp_path / 'b', **options)
    with pytest.raises(RuntimeError, match='after_train_iter of Crash: simulated crash'):
        train(cfg, 'first', hooks=[Crash(crash_at)])
    latest = str(tmp_path / 'b' / 'latest.pth')
    assert osp.basename(osp.realpath(latest)) == resume_file
    scramble_rngs()
    resumed = train(cfg, 'second', resume_from=latest)
    assert_same_run(straight, resumed, tmp_path / 'a', tmp_path / 'b')


def test_sigterm_mid_epoch_saves_the_position_and_the_resumed_run_matches(tmp_path):
    straight = train(make_cfg(tmp_path / 'a'), 'straight')
    cfg = make_cfg(tmp_path / 'b')
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted) as stopped:
        train(cfg, 'first', hooks=[SendSignal(EPOCH_LEN + 5)])  # iteration 5 of epoch 2
    assert stopped.value.code == 143 and isinstance(stopped.value, SystemExit)
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers are put back
    path = str(tmp_path / 'b' / 'epoch_2_iter_5.pth')
    assert stopped.value.checkpoint == path
    assert os.readlink(tmp_path / 'b' / 'latest.pth') == 'epoch_2_iter_5.pth'
    state = read_checkpoint(path)['runner_state']
    assert (state['epoch'], state['iter'], state['inner_iter']) == (1, EPOCH_LEN + 5, 5)
    assert sorted(f for f in os.listdir(tmp_path / 'b') if f.startswith('epoch_')) == \
        ['epoch_1.pth', 'epoch_2_iter_5.pth']  # epoch 2 was not reported complete
    scramble_rngs()
    resumed = train(cfg, 'second', resume_from=str(tmp_path / 'b' / 'latest.pth'))
    assert_same_run(straight, resumed, tmp_path / 'a', tmp_path / 'b')


def test_sigint_exits_130_and_iter_based_resumes_mid_epoch(tmp_path):
    straight = train(make_cfg(tmp_path / 'a', kind='iter'), 'straight')
    cfg = make_cfg(tmp_path / 'b', kind='iter')
    with pytest.raises(Preempted) as stopped:
        train(cfg, 'first', hooks=[SendSignal(11, signal.SIGINT)])
    assert stopped.value.code == 130
    assert osp.basename(stopped.value.checkpoint) == 'iter_11.pth'
    scramble_rngs()
    resumed = train(cfg, 'second', resume_from=str(tmp_path / 'b' / 'latest.pth'))
    assert_same_run(straight, resumed, tmp_path / 'a', tmp_path / 'b')


def test_a_signal_at_an_epoch_end_saves_nothing_twice(tmp_path):
    cfg = make_cfg(tmp_path)
    with pytest.raises(Preempted) as stopped:
        train(cfg, 'first', hooks=[SendSignal(EPOCH_LEN)])  # the last iteration of epoch 1
    # epoch 1 completed (its hooks ran, epoch_1.pth was saved): that file is the checkpoint
    assert osp.basename(stopped.value.checkpoint) == 'epoch_1.pth'
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == ['epoch_1.pth', 'latest.pth']
    assert read_checkpoint(str(tmp_path / 'epoch_1.pth'))['runner_state']['epoch'] == 1


def test_runner_state_holds_plain_types_only(tmp_path):
    train(make_cfg(tmp_path, kind='iter', amp='bfloat16', ema=True), 'run')
    # a plain torch.load, no allow-list: every file fastrun writes loads this way
    ckpt = torch.load(tmp_path / 'latest.pth', weights_only=True)
    state = ckpt['runner_state']
    assert set(state) == {'epoch', 'iter', 'inner_iter', 'rng', 'loaders', 'log_buffer', 'hooks'}
    assert set(state['rng'][0]) == {'python', 'numpy', 'torch'}
    assert state['loaders'][0]['sampler'] == {'seed': 0, 'epoch': 3}
    assert state['loaders'][0]['consumed'] == EPOCH_LEN
    assert 'ema_backbone_layers_0_weight' in ckpt['state_dict']
    assert set(ckpt) == {'meta', 'state_dict', 'optimizer', 'runner_state', 'fastrun_checksum'}


def test_an_unseeded_sampler_keeps_its_seed_in_the_checkpoint(tmp_path):
    cfg = make_cfg(tmp_path, kind='iter')
    cfg.seed = None
    runner = train(cfg, 'run')
    sampler = runner.data_loader._dataloader.sampler
    saved = read_checkpoint(str(tmp_path / 'latest.pth'))['runner_state']['loaders'][0]['sampler']
    assert saved == {'seed': sampler.seed, 'epoch': 3}


# ---------------------------------------------------------------- hooks with state
class Counter(Hook):
    """A hook with its own state: the number of train iterations it saw."""

    def __init__(self):
        self.count = 0

    def after_train_iter(self, runner):
        self.count += 1

    def state_dict(self):
        return {'count': self.count}

    def load_state_dict(self, state):
        self.count = state['count']


def test_hook_state_dicts_are_saved_and_restored(tmp_path):
    def runner_with(counter, max_epochs):
        torch.manual_seed(0)
        model = ToyModel()
        runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        work_dir=str(tmp_path), max_epochs=max_epochs)
        runner.register_training_hooks(None, dict(), dict(interval=1))
        runner.register_hook(counter)
        runner.register_hook(Counter())  # a second one of the class: 'Counter#2'
        return runner

    first = Counter()
    runner_with(first, 2).run([make_loader(3)], [('train', 1)])
    assert read_checkpoint(str(tmp_path / 'epoch_2.pth'))['runner_state']['hooks'] == \
        {'Counter': {'count': 6}, 'Counter#2': {'count': 6}}
    second = Counter()
    runner = runner_with(second, 3)
    runner.resume(str(tmp_path / 'epoch_2.pth'))
    assert second.count == 6
    runner.run([make_loader(3)], [('train', 1)])
    assert second.count == 9


# ---------------------------------------------------------------- the sampler
@pytest.mark.parametrize('n, replicas, drop_last', [(10, 1, False), (10, 3, False),
                                                     (10, 3, True), (2, 4, False)])
def test_resumable_sampler_splits_as_distributed_sampler(n, replicas, drop_last):
    data = list(range(n))
    for rank in range(replicas):
        ours = ResumableSampler(data, shuffle=True, seed=7, num_replicas=replicas, rank=rank,
                                drop_last=drop_last)
        theirs = DistributedSampler(data, num_replicas=replicas, rank=rank, shuffle=True, seed=7,
                                    drop_last=drop_last)
        for epoch in range(3):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_resumable_sampler_order_is_a_function_of_seed_and_epoch_and_starts_anywhere():
    data = list(range(20))
    torch.manual_seed(0)
    a = ResumableSampler(data, seed=3, num_replicas=1, rank=0)
    torch.manual_seed(1)  # the global RNG plays no part
    b = ResumableSampler(data, seed=3, num_replicas=1, rank=0)
    a.set_epoch(2)
    b.set_epoch(2)
    full = list(a)
    assert full == list(b) and sorted(full) == data
    b.set_start(7)
    assert list(b) == full[7:]
    assert list(b) == full  # the start applies to one pass only
    a.set_epoch(3)
    assert list(a) != full
    assert ResumableSampler(data, shuffle=False, num_replicas=1, rank=0).order() == data
    c = ResumableSampler(data, num_replicas=1, rank=0)
    c.load_state_dict(b.state_dict())
    assert list(c) == full
    with pytest.raises(ValueError, match='start index'):
        c.set_start(21)


def test_start_after_skips_batches_of_any_loader():
    loader = torch.utils.data.DataLoader(list(range(10)), batch_size=3,
                                         sampler=ResumableSampler(list(range(10)), shuffle=False,
                                                                  num_replicas=1, rank=0))
    it, exact = start_after(loader, 2)
    assert exact and [b.tolist() for b in it] == [[6, 7, 8], [9]]
    it, exact = start_after([1, 2, 3, 4], 3)  # a plain list: its first batches are drawn
    assert not exact and list(it) == [4]


def test_a_stale_signal_handler_acts_as_the_one_it_replaced():
    import signal

    from fastrun.signals import StopOnSignal

    class R:
        stop_training = False

    seen = []
    previous = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:
        runner = R()
        with StopOnSignal(runner) as stopper:
            stale = signal.getsignal(signal.SIGINT)  # what a library might record and restore
        signal.signal(signal.SIGINT, stale)
        stale(signal.SIGINT, None)
        assert seen == [signal.SIGINT] and not runner.stop_training and stopper.signum is None
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------- another batch size, a done run
class SeenInEpoch(Hook):
    """Records the images of the train batches of epoch ``epoch`` (1-based), one row a sample."""

    def __init__(self, epoch, rows):
        self.epoch, self.rows = epoch, rows

    def before_train_iter(self, runner):
        if runner.epoch + 1 == self.epoch:
            self.rows.extend(tuple(r.flatten().tolist()) for r in runner.data_batch['img'])


def test_a_mid_epoch_resume_with_another_batch_size_trains_each_sample_once(tmp_path):
    cfg = make_cfg(tmp_path)
    rows = []
    with pytest.raises(Preempted):  # 5 batches of 8 into epoch 2: 40 samples done
        train(cfg, 'first', hooks=[SendSignal(EPOCH_LEN + 5), SeenInEpoch(2, rows)])
    assert len(rows) == 40
    assert read_checkpoint(str(tmp_path / 'epoch_2_iter_5.pth'))['runner_state']['loaders'][0][
        'batch_size'] == 8
    half = copy.deepcopy(cfg)
    half.data.samples_per_gpu = 4
    train(half, 'second', resume_from=str(tmp_path / 'latest.pth'), hooks=[SeenInEpoch(2, rows)])
    # the 20 samples left, in batches of 4: every sample of epoch 2 once, none twice or skipped
    dataset = build_dataset(cfg.data.train)
    every = sorted(tuple(dataset[i]['img'].flatten().tolist()) for i in range(len(dataset)))
    assert sorted(rows) == every


def test_a_batch_size_that_does_not_divide_the_samples_done_is_refused_naming_both(tmp_path):
    cfg = make_cfg(tmp_path)
    with pytest.raises(Preempted):
        train(cfg, 'first', hooks=[SendSignal(EPOCH_LEN + 5)])
    other = copy.deepcopy(cfg)
    other.data.samples_per_gpu = 16
    path = str(tmp_path / 'latest.pth')
    with pytest.raises(CheckpointError) as err:
        train(other, 'second', resume_from=path)
    assert str(err.value) == (
        f"{path}: saved 5 batches of 8 samples into epoch 2 (40 samples); this run's batch size "
        f"16 does not divide them, so it cannot go on where that run stopped; resume with the "
        f"batch size 8 (data.samples_per_gpu), or from a checkpoint of an epoch's end")


@pytest.fixture
def fastrun_log():
    """The messages of the ``fastrun`` logger (which does not propagate)."""
    import logging
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger('fastrun')
    level = logger.level
    logger.setLevel(logging.INFO)  # the summary is an INFO message
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_resume_of_a_finished_run_says_there_is_nothing_left_to_train(tmp_path, fastrun_log):
    cfg = make_cfg(tmp_path)
    train(cfg, 'first')
    path = str(tmp_path / 'epoch_4.pth')
    fastrun_log.clear()
    runner = train(cfg, 'second', resume_from=path)
    assert runner.epoch == 4
    assert (f'resume: {path} is at epoch 4 and max_epochs is 4: nothing left to train (raise '
            f'max_epochs to train further)') in fastrun_log
    summary = next(m for m in fastrun_log if m.startswith('Nothing to train'))
    assert summary.splitlines()[0] == ('Nothing to train: the run resumed at epoch 4, and '
                                       'max_epochs is 4 (raise max_epochs to train further)')
    iters = copy.deepcopy(make_cfg(tmp_path / 'it', kind='iter'))
    train(iters, 'first')
    fastrun_log.clear()
    train(iters, 'second', resume_from=str(tmp_path / 'it' / 'latest.pth'))
    assert any(m.startswith('Nothing to train: the run resumed at iteration 32, and max_iters is '
                            '32') for m in fastrun_log)


def test_the_summary_of_a_resumed_run_names_the_first_epoch_with_the_best_value(tmp_path):
    from fastrun.hooks.evaluation import EvalHook
    from fastrun.summary import RunSummary
    from tests.test_eval_hook import Classifier, ScriptedSet

    def run(max_epochs, scores, resume_from=None):
        torch.manual_seed(0)
        model = Classifier()
        runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        work_dir=str(tmp_path), max_epochs=max_epochs)
        runner.register_training_hooks(None, dict(), dict(interval=1))
        val = torch.utils.data.DataLoader(ScriptedSet(scores=scores), batch_size=2)
        runner.register_hook(EvalHook(val, save_best='accuracy_top-1'), 'LOW')
        if resume_from:
            runner.resume(resume_from)
        summary = RunSummary(runner)
        runner.run([torch.utils.data.DataLoader(ScriptedSet(), batch_size=2)], [('train', 1)])
        return summary.lines()

    run(3, [0.5, 0.8, 0.6])  # the best, 0.8, at epoch 2
    lines = run(5, [0.8, 0.7], resume_from=str(tmp_path / 'epoch_3.pth'))  # epoch 4 ties it
    assert lines[1] == 'Best accuracy_top-1: 0.8000 at epoch 2 (of 2 evaluations; the last: 0.7000)'
    assert lines[3] == f'Best checkpoint: {tmp_path / "best_accuracy_top-1_epoch_2.pth"}'
