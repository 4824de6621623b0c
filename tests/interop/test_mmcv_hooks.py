"""Hooks written against mmcv 1.x (``mmcv.runner.Hook`` subclasses, mmcv's own EvalHook, lr
updaters, loggers, checkpoints) registered on fastrun's runner and run there."""
import json
import os.path as osp

import pytest
import torch
from mmcv.runner import Hook as MmcvHook
from mmcv.runner.hooks import (CheckpointHook, CosineAnnealingLrUpdaterHook, DistEvalHook,
                               EvalHook, IterTimerHook, OptimizerHook, StepLrUpdaterHook, TextLoggerHook)
from torch import nn
from torch.utils.data import DataLoader, Dataset

import fastrun
from fastrun import EpochBasedRunner, IterBasedRunner
from fastrun.hook import stage_method


class Points(Dataset):
    def __init__(self, n=8):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 2, generator=g)
        self.y = (self.x.sum(1, keepdim=True) > 0).float()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(x=self.x[i], y=self.y[i])

    def evaluate(self, results, logger=None, **kwargs):
        return dict(accuracy=float(len(results)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x, y=None, return_loss=True):
        out = self.fc(x)
        if not return_loss:
            return list(out.detach())
        return nn.functional.mse_loss(out, y)

    def train_step(self, batch, optimizer=None):
        loss = self(**batch)
        return dict(loss=loss, log_vars=dict(loss=loss.item()), num_samples=len(batch['x']))

    def val_step(self, batch, optimizer=None):
        return self.train_step(batch)


def _runner(tmp_path, cls=EpochBasedRunner, **kw):
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return cls(model, optimizer=opt, work_dir=str(tmp_path), meta=dict(), **kw)


class Counting(MmcvHook):
    def __init__(self, log):
        self.log = log

    def before_epoch(self, runner):
        self.log.append(('epoch', runner.mode, runner.epoch))

    def after_train_iter(self, runner):
        self.log.append(('iter', runner.iter, self.every_n_iters(runner, 2),
                         float(runner.outputs['loss'])))


def test_an_mmcv_hook_is_dispatched_only_where_it_overrides(tmp_path):
    log = []
    hook = Counting(log)
    runner = _runner(tmp_path, max_epochs=1)
    runner.register_hook(hook, priority='LOW')
    assert runner.hooks[-1] is hook and hook.priority == 70
    assert stage_method(hook, 'before_train_iter') is None  # no table entry where it does nothing
    assert stage_method(hook, 'before_val_epoch') == hook.before_epoch
    loader = DataLoader(Points(), batch_size=4)
    runner.run([loader, loader], [('train', 1), ('val', 1)])
    assert [e[:3] for e in log] == [('epoch', 'train', 0), ('iter', 0, False), ('iter', 1, True),
                                    ('epoch', 'val', 1)]


def test_mmcv_priority_order_mixes_with_fastrun_hooks(tmp_path):
    runner = _runner(tmp_path, max_epochs=1)
    mm, ours = Counting([]), fastrun.Hook()
    runner.register_hook(mm, priority='VERY_LOW')
    runner.register_hook(ours, priority='HIGH')
    runner.register_hook(Counting([]), priority=10)
    assert [h.priority for h in runner.hooks] == [10, 30, 90]


def test_mmcv_runtime_hooks_train_on_fastrun(tmp_path):
    runner = _runner(tmp_path, max_epochs=2)
    loader = DataLoader(Points(), batch_size=2)
    runner.register_hook(CosineAnnealingLrUpdaterHook(min_lr=0.0, by_epoch=False), priority='VERY_HIGH')
    runner.register_hook(OptimizerHook(grad_clip=dict(max_norm=1.0)), priority='ABOVE_NORMAL')
    runner.register_hook(CheckpointHook(interval=1), priority='NORMAL')
    runner.register_hook(EvalHook(DataLoader(Points(4), batch_size=2), interval=1,
                                  save_best='accuracy'), priority='LOW')
    runner.register_hook(IterTimerHook(), priority='LOW')
    runner.register_hook(TextLoggerHook(interval=2), priority='VERY_LOW')
    w0 = runner.model.fc.weight.detach().clone()
    runner.run([loader], [('train', 1)])
    assert not torch.equal(w0, runner.model.fc.weight)
    assert runner.current_lr()[0] < 0.1 * 0.05  # cosine annealed towards min_lr
    assert osp.isfile(tmp_path / 'epoch_2.pth') and osp.isfile(tmp_path / 'latest.pth')
    assert runner.meta['hook_msgs']['best_ckpt'].endswith('best_accuracy_epoch_1.pth')
    ckpt = torch.load(tmp_path / 'epoch_2.pth', weights_only=False)
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 8
    lines = [json.loads(x) for x in open(tmp_path / f'{runner.timestamp}.log.json')][1:]
    assert [x['mode'] for x in lines] == ['train', 'train', 'val', 'train', 'train', 'val']
    assert lines[2]['accuracy'] == 4.0 and 'grad_norm' in lines[0] and 'loss' in lines[0]


def test_mmcv_step_lr_and_eval_on_the_iter_runner(tmp_path):
    runner = _runner(tmp_path, cls=IterBasedRunner, max_iters=6)
    runner.register_hook(StepLrUpdaterHook(step=[3], by_epoch=False), priority='VERY_HIGH')
    runner.register_hook(OptimizerHook(), priority='ABOVE_NORMAL')
    evals = EvalHook(DataLoader(Points(4), batch_size=2), interval=3, by_epoch=False)
    runner.register_hook(evals, priority='LOW')
    runner.run([DataLoader(Points(), batch_size=2)], [('train', 6)])
    assert runner.iter == 6 and runner.current_lr() == [pytest.approx(0.01)]
    assert runner.log_buffer.output.get('accuracy') == 4.0


@pytest.fixture
def one_process_group(tmp_path):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg', rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_mmcv_dist_eval_hook_runs_in_a_process_group(tmp_path, one_process_group):
    runner = _runner(tmp_path, max_epochs=1)
    runner.register_hook(OptimizerHook(), priority='ABOVE_NORMAL')
    hook = DistEvalHook(DataLoader(Points(4), batch_size=2), interval=1,
                        tmpdir=str(tmp_path / 'eval'), gpu_collect=False)
    runner.register_hook(hook, priority='LOW')
    runner.run([DataLoader(Points(), batch_size=4)], [('train', 1)])
    assert runner.log_buffer.output['accuracy'] == 4.0


def test_register_training_hooks_builds_mmcv_types_by_scope(tmp_path):
    runner = _runner(tmp_path, max_epochs=1)
    runner.register_training_hooks(lr_config=dict(policy='mmcv.Step', step=[1]),
                                   optimizer_config=dict(type='mmcv.OptimizerHook'),
                                   log_config=dict(interval=1, hooks=[dict(type='mmcv.TextLoggerHook')]))
    assert {type(h).__module__.split('.')[0] for h in runner.hooks} >= {'mmcv', 'fastrun'}
    runner.run([DataLoader(Points(), batch_size=4)], [('train', 1)])
    assert runner.iter == 2


def test_what_is_not_a_hook_is_refused(tmp_path):
    with pytest.raises(TypeError, match='mmcv.runner.Hook'):
        _runner(tmp_path, max_epochs=1).register_hook(object())
