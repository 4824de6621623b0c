"""EvalHook / DistEvalHook / EarlyStoppingHook and the test loops, on real runs."""
import datetime
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from fastrun.dist import shutdown_dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

import fastrun.hooks.checkpoint  # noqa: F401  (registers the hooks under test)
import fastrun.hooks.early_stopping  # noqa: F401
import fastrun.hooks.evaluation  # noqa: F401
from fastrun import HOOKS, Hook, Runner
from fastrun.evaluation import multi_gpu_test, single_gpu_test
from fastrun.hooks.checkpoint import CheckpointHook
from fastrun.hooks.early_stopping import EarlyStoppingHook
from fastrun.hooks.evaluation import DistEvalHook, EvalHook, EvaluationHook
from fastrun.hooks.iter_timer import IterTimerHook
from fastrun.hooks.logger.text import TextLoggerHook
from fastrun.hooks.optimizer import OptimizerHook


class ScriptedSet(Dataset):
    """``dict(img, gt_label)`` samples whose ``evaluate`` returns the next of ``scores``.

    ``img[0]`` is the sample's index, so results can be checked for data set order. Every call
    of ``evaluate`` is recorded (the results, the keyword arguments, the epoch it happened in).
    """

    def __init__(self, scores=(), n=6, key='accuracy_top-1'):
        g = torch.Generator().manual_seed(0)
        self.imgs = torch.randn(n, 4, generator=g)
        self.imgs[:, 0] = torch.arange(n, dtype=torch.float32)
        self.labels = torch.arange(n) % 3
        self.scores = list(scores)
        self.key = key
        self.calls = []
        self.runner = None

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return dict(img=self.imgs[i], gt_label=self.labels[i])

    def evaluate(self, results, logger=None, **kwargs):
        when = None if self.runner is None else (self.runner.epoch, self.runner.iter)
        self.calls.append(dict(results=results, kwargs=kwargs, when=when))
        value = self.scores[len(self.calls) - 1]
        return dict(value) if isinstance(value, dict) else {self.key: value}


class Classifier(torch.nn.Module):
    """mmcls contract: losses with ``return_loss``, else per-sample softmax score arrays."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(4)
        self.fc = torch.nn.Linear(4, 3)
        self.test_calls = []

    def forward(self, img, return_loss=True, gt_label=None, **kwargs):
        scores = self.fc(self.bn(img))
        if return_loss:
            return F.cross_entropy(scores, gt_label)
        self.test_calls.append(dict(training=self.training, grad=torch.is_grad_enabled(),
                                    kwargs=sorted(kwargs), gt=gt_label is not None))
        return list(scores.softmax(1).numpy())

    def train_step(self, data, optimizer=None, **kwargs):
        loss = self(**data)
        return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(data['img']))


class After(Hook):
    """At the lowest priority, records what the run looks like after each train epoch/iter."""

    def __init__(self, folder=None, stage='after_train_epoch'):
        self.folder = folder
        self.seen = []
        setattr(self, stage, self._record)

    def _record(self, runner):
        best = ([] if self.folder is None else
                sorted(osp.basename(p) for p in glob.glob(osp.join(self.folder, 'best_*.pth'))))
        self.seen.append(dict(best=best, output=dict(runner.log_buffer.output),
                              ready=runner.log_buffer.ready, training=runner.model.training))


def val_loader(dataset, batch_size=4):
    return DataLoader(dataset, batch_size=batch_size)


def make_runner(work_dir, *hooks, seed=0, **kw):
    torch.manual_seed(seed)
    model = Classifier()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    work_dir=None if work_dir is None else str(work_dir), **kw)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    for hook, priority in hooks:
        runner.register_hook(hook, priority)
    return runner


def train_loader():
    return DataLoader(ScriptedSet(n=4), batch_size=2)


def run(runner, loader=None):
    runner.run([loader or train_loader()], [('train', 1)])
    return runner


# ---------------------------------------------------------------- the test loops
def test_single_gpu_test_contract():
    data = ScriptedSet(n=5)
    model = Classifier()
    model.train()
    results = single_gpu_test(model, DataLoader(data, batch_size=2))
    assert len(results) == 5 and all(r.shape == (3,) for r in results)
    model.eval()
    with torch.no_grad():
        expected = model.fc(model.bn(data.imgs)).softmax(1).numpy()
    np.testing.assert_allclose(np.stack(results), expected, rtol=1e-6)
    # eval mode, no grad, labels not passed to the model
    assert all(c == dict(training=False, grad=False, kwargs=[], gt=False) for c in model.test_calls)
    assert not model.training
    # (inputs, labels) tuples: the inputs are the first item; one process: multi == single
    tuples = DataLoader(torch.utils.data.TensorDataset(data.imgs, data.labels), batch_size=3)
    np.testing.assert_allclose(np.stack(multi_gpu_test(model, tuples)), expected, rtol=1e-6)


class DeviceCheck(Classifier):
    def forward(self, img, return_loss=True, **kwargs):
        self.seen = getattr(self, 'seen', []) + [img.device]
        return list(self.fc(self.bn(img)).softmax(1).cpu().numpy())


@pytest.mark.cuda
def test_single_gpu_test_moves_batches_to_the_model_device():
    data = ScriptedSet(n=5)
    model = DeviceCheck().cuda()
    results = single_gpu_test(model, DataLoader(data, batch_size=2))
    assert len(results) == 5 and model.seen == [torch.device('cuda', 0)] * 3


# ---------------------------------------------------------------- EvalHook
def test_evaluates_every_epoch_logs_and_keeps_the_best(tmp_path):
    data = ScriptedSet([50.0, 70.0, 60.0, 80.0])
    hook = EvalHook(val_loader(data), save_best='accuracy_top-1', metric='accuracy',
                    metric_options=dict(topk=(1,)))
    after = After(str(tmp_path))
    runner = make_runner(tmp_path, (hook, 'LOW'), (after, 'LOWEST'), max_epochs=4)
    data.runner = runner
    run(runner)
    assert [c['when'][0] for c in data.calls] == [0, 1, 2, 3]
    assert all(c['kwargs'] == dict(metric='accuracy', metric_options=dict(topk=(1,)))
               for c in data.calls)
    assert all(len(c['results']) == 6 for c in data.calls)
    assert [s['best'] for s in after.seen] == [
        ['best_accuracy_top-1_epoch_1.pth'], ['best_accuracy_top-1_epoch_2.pth'],
        ['best_accuracy_top-1_epoch_2.pth'], ['best_accuracy_top-1_epoch_4.pth']]
    # metrics in the log buffer, ready for the logger hooks; the model back in train mode
    assert after.seen[2]['output'] == {'eval_iter_num': 2, 'accuracy_top-1': 60.0}
    assert all(s['ready'] and s['training'] for s in after.seen)
    assert hook.rule == 'greater'
    msgs = runner.meta['hook_msgs']
    assert msgs['best_score'] == 80.0
    assert msgs['best_ckpt'] == str(tmp_path / 'best_accuracy_top-1_epoch_4.pth')
    best = torch.load(msgs['best_ckpt'], weights_only=True)
    assert best['meta']['hook_msgs']['best_score'] == 80.0 and best['meta']['epoch'] == 4
    for k, v in runner.model.state_dict().items():
        assert torch.equal(best['state_dict'][k], v)
    assert not osp.lexists(tmp_path / 'latest.pth')  # the best never moves latest.pth


def test_less_rule_inferred_from_loss_and_auto(tmp_path):
    data = ScriptedSet([{'val_loss': 1.0, 'acc': 1.0}, {'val_loss': 0.5, 'acc': 2.0},
                        {'val_loss': 0.7, 'acc': 3.0}])
    hook = EvalHook(val_loader(data), save_best='auto')
    after = After(str(tmp_path))
    run(make_runner(tmp_path, (hook, 'LOW'), (after, 'LOWEST'), max_epochs=3))
    assert (hook.key_indicator, hook.rule) == ('val_loss', 'less')  # the first key
    assert [s['best'] for s in after.seen] == [['best_val_loss_epoch_1.pth'],
                                              ['best_val_loss_epoch_2.pth'],
                                              ['best_val_loss_epoch_2.pth']]


def test_explicit_rule_and_inference_errors(tmp_path):
    with pytest.raises(ValueError, match='Cannot infer the rule'):
        EvalHook(val_loader(ScriptedSet()), save_best='error_rate')
    with pytest.raises(KeyError, match='rule must be'):
        EvalHook(val_loader(ScriptedSet()), save_best='acc', rule='bigger')
    assert EvalHook(val_loader(ScriptedSet()), save_best='mAP').rule == 'greater'
    assert EvalHook(val_loader(ScriptedSet()), save_best='Top1', rule=None).rule == 'greater'
    assert EvalHook(val_loader(ScriptedSet()), save_best='xyz', less_keys='xy').rule == 'less'
    data = ScriptedSet([0.3, 0.1, 0.2], key='error_rate')
    hook = EvalHook(val_loader(data), save_best='error_rate', rule='less')
    after = After(str(tmp_path))
    run(make_runner(tmp_path, (hook, 'LOW'), (after, 'LOWEST'), max_epochs=3))
    assert after.seen[-1]['best'] == ['best_error_rate_epoch_2.pth']
    # save_best=True is refused as mmcv refuses it (an AssertionError there), naming the fix
    with pytest.raises(AssertionError, match="save_best='auto'"):
        EvalHook(val_loader(ScriptedSet()), save_best=True)


@pytest.mark.parametrize('start, interval, max_epochs, expected', [
    (None, 1, 4, [1, 2, 3, 4]),
    (None, 3, 7, [3, 6]),
    (3, 2, 8, [3, 5, 7]),
    (3, 1, 4, [3, 4]),
    (0, 1, 2, [0, 1, 2]),  # start <= the epoch the run begins at: once before training
    (0, 2, 4, [2, 4]),  # ... if that first epoch is an evaluation one (mmcv)
])
def test_start_and_interval(start, interval, max_epochs, expected):
    data = ScriptedSet([1.0] * 10)
    hook = EvalHook(val_loader(data), start=start, interval=interval)
    runner = make_runner(None, (hook, 'LOW'), max_epochs=max_epochs)
    data.runner = runner
    run(runner)
    # epochs completed at each evaluation (2 iterations an epoch; 0: before training)
    assert [c['when'][1] // 2 for c in data.calls] == expected


def test_start_after_resume_evaluates_before_training(tmp_path):
    first = make_runner(tmp_path, (CheckpointHook(interval=1), 'NORMAL'), max_epochs=2)
    run(first)
    data = ScriptedSet([1.0] * 5)
    runner = make_runner(tmp_path, (EvalHook(val_loader(data), start=1), 'LOW'), max_epochs=4)
    runner.resume(str(tmp_path / 'latest.pth'))
    data.runner = runner
    run(runner)
    assert [c['when'] for c in data.calls] == [(2, 4), (2, 6), (3, 8)]


def test_arguments_are_checked():
    dl = val_loader(ScriptedSet())
    with pytest.raises(ValueError, match='smaller than 0'):
        EvalHook(dl, start=-1)
    with pytest.raises(ValueError, match='positive'):
        EvalHook(dl, interval=0)
    with pytest.raises(TypeError, match='DataLoader'):
        EvalHook([1, 2])
    with pytest.raises(TypeError, match='save_best'):
        EvalHook(dl, save_best=3)
    assert HOOKS.get('EvalHook') is EvalHook is EvaluationHook
    assert HOOKS.get('EvaluationHook') is EvalHook and HOOKS.get('DistEvalHook') is DistEvalHook


def test_best_score_survives_resume(tmp_path):
    data = ScriptedSet([90.0, 50.0])
    ckpt_hook = CheckpointHook(interval=1)
    run(make_runner(tmp_path, (ckpt_hook, 'NORMAL'),
                    (EvalHook(val_loader(data), save_best='accuracy_top-1'), 'LOW'),
                    max_epochs=2))
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith('best')) == [
        'best_accuracy_top-1_epoch_1.pth']

    data = ScriptedSet([80.0, 95.0])
    after = After(str(tmp_path))
    hook = EvalHook(val_loader(data), save_best='accuracy_top-1')
    runner = make_runner(tmp_path, (CheckpointHook(interval=1), 'NORMAL'), (hook, 'LOW'),
                         (after, 'LOWEST'), max_epochs=4)
    runner.resume(str(tmp_path / 'latest.pth'))
    assert runner.meta['hook_msgs']['best_score'] == 90.0
    run(runner)
    # 80 does not beat the restored 90; 95 does, and the first run's best file goes
    assert [s['best'] for s in after.seen] == [['best_accuracy_top-1_epoch_1.pth'],
                                              ['best_accuracy_top-1_epoch_4.pth']]
    assert runner.meta['hook_msgs']['best_score'] == 95.0


def test_out_dir_for_the_best_checkpoint(tmp_path):
    data = ScriptedSet([1.0, 2.0])
    hook = EvalHook(val_loader(data), save_best='acc', out_dir=str(tmp_path / 'store'))
    data.key = 'acc'
    run(make_runner(tmp_path / 'exp', (hook, 'LOW'), max_epochs=2))
    assert os.listdir(tmp_path / 'store' / 'exp') == ['best_acc_epoch_2.pth']


def test_by_iteration_on_iter_based_runner(tmp_path):
    data = ScriptedSet([1.0, 3.0, 2.0])
    hook = EvalHook(val_loader(data), by_epoch=False, interval=3, save_best='acc')
    data.key = 'acc'
    after = After(str(tmp_path), 'after_train_iter')
    runner = make_runner(tmp_path, (hook, 'LOW'), (after, 'LOWEST'), max_iters=8)
    data.runner = runner
    run(runner)
    assert [c['when'][1] for c in data.calls] == [2, 5]  # after iterations 3 and 6
    assert after.seen[-1]['best'] == ['best_acc_iter_6.pth']
    assert all(s['training'] for s in after.seen)
    assert after.seen[2]['output'] == {'eval_iter_num': 2, 'acc': 1.0}
    # An epoch-wise hook adds nothing to the per-iteration dispatch.
    stages = EvalHook(val_loader(data)).get_triggered_stages()
    assert 'after_train_iter' not in stages and 'before_train_iter' not in stages


def test_metrics_are_logged_as_val_by_the_text_logger(tmp_path):
    data = ScriptedSet([61.5, 62.5])
    runner = make_runner(tmp_path, (IterTimerHook(), 'LOW'), (EvalHook(val_loader(data)), 'LOW'),
                         (TextLoggerHook(interval=1), 'VERY_LOW'), max_epochs=2)
    run(runner)
    (log_file,) = glob.glob(str(tmp_path / '*.log.json'))
    records = [json.loads(line) for line in open(log_file)]
    vals = [r for r in records if r.get('mode') == 'val']
    assert [(r['epoch'], r['iter'], r['accuracy_top-1']) for r in vals] == [(1, 2, 61.5),
                                                                            (2, 2, 62.5)]
    assert all('accuracy_top-1' not in r for r in records if r.get('mode') == 'train')


def test_by_iteration_evaluation_is_logged_apart_from_training(tmp_path):
    data = ScriptedSet([1.0, 2.0])
    data.key = 'acc'
    runner = make_runner(tmp_path, (IterTimerHook(), 'LOW'),
                         (EvalHook(val_loader(data), by_epoch=False, interval=2), 'LOW'),
                         (TextLoggerHook(interval=2, by_epoch=False), 'VERY_LOW'), max_iters=4)
    run(runner)
    (log_file,) = glob.glob(str(tmp_path / '*.log.json'))
    records = [r for r in map(json.loads, open(log_file)) if 'mode' in r]
    assert [(r['mode'], 'acc' in r, 'loss' in r) for r in records] == [
        ('train', False, True), ('val', True, False), ('train', False, True), ('val', True, False)]


def test_dist_eval_hook_on_one_process_is_eval_hook(tmp_path):
    data = ScriptedSet([1.0, 3.0])
    data.key = 'acc'
    hook = DistEvalHook(val_loader(data), save_best='acc')
    after = After(str(tmp_path))
    run(make_runner(tmp_path, (hook, 'LOW'), (after, 'LOWEST'), max_epochs=2))
    assert after.seen[-1]['best'] == ['best_acc_epoch_2.pth']
    assert len(data.calls[0]['results']) == 6 and after.seen[-1]['training']


def test_builder_style_registration_from_config():
    hook = HOOKS.build(dict(type='EvaluationHook', dataloader=val_loader(ScriptedSet()),
                            interval=2, metric='accuracy'))
    assert isinstance(hook, EvalHook) and hook.eval_kwargs == dict(metric='accuracy')


# ---------------------------------------------------------------- EarlyStoppingHook
@pytest.mark.parametrize('scores, kw, epochs_run', [
    ([50, 60, 60, 55, 58, 90, 99], dict(patience=3), 5),     # an equal value is no improvement
    ([50, 60, 61, 55, 58, 60, 99], dict(patience=3), 6),
    ([50, 54, 60, 62, 63, 70, 80], dict(patience=2, min_delta=5), 5),
    ([50, 40, 30, 20, 10, 5, 1], dict(patience=1), 2),
    ([50, float('nan'), 60, 70, 80, 90, 99], dict(patience=3), 2),
    ([50, float('inf'), 60, 70, 80, 90, 99], dict(patience=3, check_finite=False), 5),
    ([50, 80, 95, 96, 97, 98, 99], dict(stopping_threshold=90), 3),
    ([50, 60, 70, 80, 90, 95, 99], dict(patience=1), 7),
])
def test_early_stopping_by_epoch(scores, kw, epochs_run):
    data = ScriptedSet(scores)
    stopper = EarlyStoppingHook('accuracy_top-1', **kw)
    # Registered at NORMAL, before the EvalHook: it is told the metrics whatever its place.
    runner = make_runner(None, (stopper, 'NORMAL'), (EvalHook(val_loader(data)), 'LOW'),
                         max_epochs=7)
    run(runner)
    assert runner.epoch == epochs_run and len(data.calls) == epochs_run


def test_early_stopping_counts_evaluations_and_less_rule():
    data = ScriptedSet([1.0, 0.5, 0.6, 0.7, 0.4], key='loss')
    stopper = EarlyStoppingHook('loss', patience=2)
    assert stopper.rule == 'less'
    runner = make_runner(None, (EvalHook(val_loader(data), interval=2), 'LOW'),
                         (stopper, 'BELOW_NORMAL'), max_epochs=20)
    run(runner)
    # evaluations at epochs 2, 4, 6, 8: 0.6 and 0.7 do not beat 0.5
    assert runner.epoch == 8 and len(data.calls) == 4
    assert stopper.best_score == 0.5 and stopper.wait_count == 2


def test_early_stopping_by_iteration():
    data = ScriptedSet([3.0, 2.0, 1.0, 0.0])
    data.key = 'acc'
    runner = make_runner(None, (EvalHook(val_loader(data), by_epoch=False, interval=2), 'LOW'),
                         (EarlyStoppingHook('acc', patience=2), 'LOW'), max_iters=100)
    run(runner)
    assert runner.iter == 6 and len(data.calls) == 3


def test_early_stopping_missing_metric_and_arguments():
    data = ScriptedSet([1.0, 1.0])
    runner = make_runner(None, (EvalHook(val_loader(data)), 'LOW'),
                         (EarlyStoppingHook('mAP'), 'LOW'), max_epochs=2)
    with pytest.warns(UserWarning, match="no 'mAP'"):
        run(runner)
    assert runner.epoch == 2
    strict = make_runner(None, (EvalHook(val_loader(ScriptedSet([1.0]))), 'LOW'),
                         (EarlyStoppingHook('mAP', strict=True), 'LOW'), max_epochs=1)
    with pytest.raises(KeyError, match='mAP'):
        run(strict)
    with pytest.raises(ValueError, match='Cannot infer'):
        EarlyStoppingHook('score')
    with pytest.raises(ValueError, match='patience'):
        EarlyStoppingHook('acc', patience=0)
    with pytest.raises(ValueError, match='rule'):
        EarlyStoppingHook('acc', rule='max')
    alone = make_runner(None, (EarlyStoppingHook('acc'), 'LOW'), max_epochs=1)
    with pytest.warns(UserWarning, match='no EvalHook'):
        run(alone)
    assert HOOKS.get('EarlyStoppingHook') is EarlyStoppingHook


# ---------------------------------------------------------------- two processes (gloo)
class IndexEcho(Classifier):
    """Test results that name the sample: ``[index, rank]``, whatever the weights."""

    def forward(self, img, return_loss=True, gt_label=None, **kwargs):
        if return_loss:
            return super().forward(img, return_loss, gt_label)
        self.bn(img)  # eval mode: uses, does not update, the running stats
        rank = torch.distributed.get_rank()
        return [np.array([float(i), rank]) for i in img[:, 0]]


class OrderCheckSet(ScriptedSet):
    def evaluate(self, results, logger=None, **kwargs):
        got = [int(r[0]) for r in results]
        return {'acc': 100.0 if got == list(range(len(self))) else -1.0,
                'ranks': float(len({int(r[1]) for r in results}))}


def _dist_worker(rank, world_size, init_file, root):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=60))
    try:
        torch.manual_seed(rank)
        model = IndexEcho()
        model.bn.momentum = 1.0
        runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        work_dir=osp.join(root, 'work'), max_epochs=5)
        runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
        val = OrderCheckSet(n=7)  # 7 samples on 2 ranks: the sampler pads one
        sampler = DistributedSampler(val, num_replicas=world_size, rank=rank, shuffle=True)
        hook = DistEvalHook(DataLoader(val, batch_size=2, sampler=sampler), save_best='acc')
        # 'ranks' is 2.0 each time: no improvement after the first evaluation
        runner.register_hook(hook, 'LOW')
        runner.register_hook(EarlyStoppingHook('ranks', rule='greater', patience=2), 'LOW')
        train = DataLoader(ScriptedSet(n=4), batch_size=4)
        train.dataset.imgs += rank  # different statistics on each rank
        runner.run([train], [('train', 1)])
        with open(osp.join(root, f'out{rank}.json'), 'w') as f:
            json.dump(dict(epoch=runner.epoch, latest=hook.latest_results,
                           mean=model.bn.running_mean.tolist(),
                           best=runner.meta.get('hook_msgs', {}).get('best_score')), f)
    finally:
        shutdown_dist()


def test_dist_eval_hook_with_two_processes(tmp_path):
    torch.multiprocessing.spawn(_dist_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)),
                                nprocs=2)
    out = [json.loads((tmp_path / f'out{r}.json').read_text()) for r in range(2)]
    for o in out:
        # every sample once, in data set order, from both ranks; every rank got the metrics
        # and the early stopping decision (3 evaluations, patience 2) was the same on both
        assert o['latest'] == {'acc': 100.0, 'ranks': 2.0}
        assert o['epoch'] == 3
    assert out[0]['best'] == 100.0 and out[1]['best'] is None  # rank 0 keeps the best
    # rank 0's BatchNorm statistics were broadcast before each evaluation
    assert out[0]['mean'] == out[1]['mean']
    assert os.listdir(tmp_path / 'work') == ['best_acc_epoch_1.pth']


def test_early_stopping_counts_survive_resume(tmp_path):
    data = ScriptedSet([50, 60, 55])
    stopper = EarlyStoppingHook('accuracy_top-1', patience=3)
    runner = make_runner(tmp_path, (EvalHook(val_loader(data)), 'LOW'), (stopper, 'LOW'), max_epochs=3)
    run(runner)
    assert (stopper.best_score, stopper.wait_count) == (60.0, 1)
    path = runner.save_checkpoint(str(tmp_path))
    fresh = EarlyStoppingHook('accuracy_top-1', patience=3)
    resumed = make_runner(None, (EvalHook(val_loader(ScriptedSet([50]))), 'LOW'), (fresh, 'LOW'),
                          max_epochs=4)
    resumed.resume(path)
    assert (fresh.best_score, fresh.wait_count) == (60.0, 1)
