"""The Runner on real runs, against both cores: order, counters, workflow, errors, checkpoints."""
import logging
import os

import pytest
import torch

import fastrun
from fastrun import HOOKS, EpochBasedRunner, Hook, IterBasedRunner, Runner
from tests.conftest import ToyModel, make_loader

ALL_STAGES = fastrun.STAGES


class Recorder(Hook):
    """Records (stage, mode, epoch, iter, inner_iter) at every stage."""

    def __init__(self, trace, tag='rec'):
        self.trace = trace
        self.tag = tag

    def _rec(stage):
        def method(self, runner):
            self.trace.append((self.tag, stage, runner.mode, runner.epoch, runner.iter, runner.inner_iter))
        method.__name__ = stage
        return method

    for _s in ALL_STAGES:
        locals()[_s] = _rec(_s)
    del _s, _rec


def test_runner_factory_and_arguments(core, toy_model):
    assert type(Runner(toy_model, max_epochs=1)) is EpochBasedRunner
    assert type(Runner(toy_model, max_iters=3)) is IterBasedRunner
    assert type(Runner(toy_model)) is EpochBasedRunner
    assert isinstance(Runner(toy_model, max_iters=3), Runner)
    with pytest.raises(ValueError, match='Only one of'):
        Runner(toy_model, max_epochs=1, max_iters=2)
    with pytest.raises(TypeError, match='optimizer'):
        Runner(toy_model, optimizer='sgd')
    with pytest.raises(TypeError, match='train_step'):
        Runner(torch.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match='cannot be both'):
        Runner(toy_model, batch_processor=lambda *a, **k: {})
    with pytest.raises(TypeError, match='meta'):
        Runner(toy_model, meta=[1])


def test_priority_order_mixed_and_ties(core, toy_model):
    runner = Runner(toy_model, max_epochs=1)
    trace = []
    names = [('a', 'LOW'), ('b', 30), ('c', fastrun.Priority.LOW), ('d', 'highest'), ('e', 70),
             ('f', 'VERY_LOW'), ('g', 0)]
    for tag, pri in names:
        h = Recorder(trace, tag)
        runner.register_hook(h, pri)
    assert [h.tag for h in runner.hooks] == ['d', 'g', 'b', 'a', 'c', 'e', 'f']
    assert [h.priority for h in runner.hooks] == [0, 0, 30, 70, 70, 70, 90]
    runner.run([make_loader(1)], [('train', 1)])
    assert [t[0] for t in trace if t[1] == 'before_run'] == ['d', 'g', 'b', 'a', 'c', 'e', 'f']
    with pytest.raises(ValueError, match='priority'):
        runner.register_hook(Hook(), 'URGENT')
    with pytest.raises(TypeError):
        runner.register_hook(object())


def test_counters_at_each_stage_epoch_based(core, toy_model):
    trace = []
    runner = Runner(toy_model, optimizer=torch.optim.SGD(toy_model.parameters(), lr=0.01), max_epochs=2)
    runner.register_hook(Recorder(trace))
    runner.run([make_loader(2)], [('train', 1)])
    got = [t[1:] for t in trace]
    assert got == [
        ('before_run', None, 0, 0, 0),
        ('before_train_epoch', 'train', 0, 0, 0),
        ('before_train_iter', 'train', 0, 0, 0),
        ('after_train_iter', 'train', 0, 0, 0),
        ('before_train_iter', 'train', 0, 1, 1),
        ('after_train_iter', 'train', 0, 1, 1),
        ('after_train_epoch', 'train', 0, 2, 1),
        ('before_train_epoch', 'train', 1, 2, 1),
        ('before_train_iter', 'train', 1, 2, 0),
        ('after_train_iter', 'train', 1, 2, 0),
        ('before_train_iter', 'train', 1, 3, 1),
        ('after_train_iter', 'train', 1, 3, 1),
        ('after_train_epoch', 'train', 1, 4, 1),
        ('after_run', 'train', 2, 4, 1),
    ]
    assert runner.max_iters == 4


def test_counters_iter_based(core, toy_model):
    trace = []
    runner = Runner(toy_model, max_iters=5)
    runner.register_hook(Recorder(trace))
    runner.run([make_loader(2), make_loader(3)], [('train', 2), ('val', 1)])
    got = [t[1:] for t in trace]
    train_iters = [g for g in got if g[0] == 'after_train_iter']
    # iter counts train iterations; inner_iter restarts per workflow entry; epoch follows the loader
    assert [(g[3], g[4]) for g in train_iters] == [(0, 0), (1, 1), (2, 0), (3, 1), (4, 0)]
    # mmcv reads the loader's epoch before drawing the batch, so it lags one iteration
    assert [g[2] for g in train_iters] == [0, 0, 0, 1, 1]
    assert [g[0] for g in got if g[0].endswith('val_iter')] == ['before_val_iter', 'after_val_iter'] * 3
    assert got[0][0] == 'before_run' and got[-1][0] == 'after_run'
    assert runner.iter == 5


def test_val_workflow_leaves_parameters_and_counts_train_epochs(core, toy_model):
    opt = torch.optim.SGD(toy_model.parameters(), lr=0.1)
    runner = Runner(toy_model, optimizer=opt, max_epochs=2)
    runner.register_training_hooks(None, optimizer_config=dict())
    snapshots = []

    class Snap(Hook):
        def before_val_epoch(self, r):
            snapshots.append(('before', [p.detach().clone() for p in r.model.parameters()], r.model.training))

        def after_val_iter(self, r):
            assert not torch.is_grad_enabled()

        def after_val_epoch(self, r):
            snapshots.append(('after', [p.detach().clone() for p in r.model.parameters()], r.model.training))

    runner.register_hook(Snap())
    train, val = make_loader(3), make_loader(2, seed=1)
    runner.run([train, val], [('train', 1), ('val', 1)])
    assert runner.epoch == 2 and runner.iter == 6
    assert len(snapshots) == 4  # val ran after each of the 2 train epochs
    for (_, before, training), (_, after, _) in zip(snapshots[::2], snapshots[1::2]):
        assert not training
        assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert not torch.equal(snapshots[0][1][0], snapshots[2][1][0])  # train epochs did change them


def test_workflow_errors_raise_before_running(core, toy_model):
    trace = []
    runner = Runner(toy_model, max_epochs=1)
    runner.register_hook(Recorder(trace))
    with pytest.raises(ValueError, match="unknown workflow phase 'test'"):
        runner.run([make_loader(1)], [('test', 1)])
    with pytest.raises(ValueError, match='same length'):
        runner.run([make_loader(1)], [('train', 1), ('val', 1)])
    with pytest.raises(ValueError, match='positive int'):
        runner.run([make_loader(1)], [('train', 0)])
    with pytest.raises(ValueError, match='max_epochs'):
        Runner(toy_model).run([make_loader(1)], [('train', 1)])
    with pytest.raises(ValueError, match='max_iters'):
        IterBasedRunner(toy_model).run([make_loader(1)], [('train', 1)])
    assert trace == []


def test_unknown_hook_type_names_close_matches(core, toy_model):
    runner = Runner(toy_model, max_epochs=1)
    with pytest.raises(KeyError, match=r"'IterTimerHok' is not in the hook registry; did you mean 'IterTimerHook'"):
        runner.register_hook_from_cfg(dict(type='IterTimerHok'))


def test_registry_semantics():
    reg = fastrun.Registry('thing')

    @reg.register_module()
    class A:
        def __init__(self, x=1):
            self.x = x

    @reg.register_module(name='Bee')
    class B:
        pass

    reg.register_module(module=B, name='B2')
    assert reg.get('A') is A and reg.get('Bee') is B and reg.get('B2') is B and 'A' in reg
    with pytest.raises(KeyError, match='already registered'):
        reg.register_module(name='A', module=B)
    reg.register_module(name='A', module=B, force=True)
    assert reg.get('A') is B
    assert fastrun.build_from_cfg(dict(type='Bee'), reg).__class__ is B
    with pytest.raises(TypeError, match='A: '):
        reg.register_module(name='A', module=A, force=True)
        fastrun.build_from_cfg(dict(type='A', y=2), reg)
    assert fastrun.build_from_cfg(dict(type='A'), reg, default_args=dict(x=5)).x == 5
    assert fastrun.OPTIMIZERS.get('SGD') is torch.optim.SGD and 'AdamW' in fastrun.OPTIMIZERS


def test_mutating_the_hook_list_rebuilds_tables(core, toy_model):
    runner = Runner(toy_model, max_epochs=1)
    calls = []

    class A(Hook):
        def before_run(self, r):
            calls.append('A')

    runner.hooks.append(A())
    runner.hooks[0].priority = 50
    assert len(runner._dispatch.table('before_run')) == 1
    runner.hooks.pop()
    assert runner._dispatch.table('before_run') == ()


def test_hook_not_overriding_a_stage_is_not_in_its_table(core, toy_model):
    runner = Runner(toy_model, max_epochs=1)
    for _ in range(100):
        runner.register_hook(fastrun.Hook())

    class AfterRunOnly(Hook):
        def after_run(self, r):
            pass

    runner.register_hook(AfterRunOnly())
    for name in fastrun.hook.DISPATCH_NAMES:
        assert len(runner._dispatch.table(name)) == (1 if name == 'after_run' else 0)


def test_error_in_hook_names_stage_and_hook(core, toy_model):
    runner = Runner(toy_model, max_epochs=1)

    class Faulty(Hook):
        def after_train_iter(self, r):
            if r.iter == 1:
                raise ValueError('bad value')

    runner.register_hook(Faulty())
    with pytest.raises(ValueError, match=r'after_train_iter of Faulty: bad value'):
        runner.run([make_loader(3)], [('train', 1)])
    assert runner.iter == 1


def test_step_must_return_dict(core):
    class Bad(ToyModel):
        def train_step(self, *a, **k):
            return 1.0

    runner = Runner(Bad(), max_epochs=1)
    with pytest.raises(TypeError, match='must return a dict'):
        runner.run([make_loader(1)], [('train', 1)])


def test_batch_processor(core):
    model = torch.nn.Linear(4, 1)
    seen = []

    def bp(model, data, train_mode, **kw):
        seen.append((train_mode, kw))
        loss = model(data[0]).pow(2).mean()
        return dict(loss=loss, log_vars={'loss': loss.detach()}, num_samples=2)

    runner = Runner(model, batch_processor=bp, max_epochs=1)
    runner.run([make_loader(2), make_loader(1)], [('train', 1), ('val', 1)], flag=3)
    assert seen == [(True, {'flag': 3})] * 2 + [(False, {'flag': 3})]


def test_stop_training_ends_the_run(core, toy_model):
    runner = Runner(toy_model, max_epochs=5)

    class Stop(Hook):
        def after_train_epoch(self, r):
            if r.epoch == 1:
                r.stop_training = True

    runner.register_hook(Stop())
    runner.run([make_loader(2)], [('train', 1)])
    assert runner.epoch == 2


def test_current_lr_and_momentum(core, toy_model):
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    sgd = torch.optim.SGD([{'params': [p1], 'lr': 0.1}, {'params': [p2], 'lr': 0.2}], momentum=0.9)
    adam = torch.optim.Adam([p1], lr=0.01, betas=(0.8, 0.99))
    runner = Runner(toy_model, optimizer=sgd)
    assert runner.current_lr() == [0.1, 0.2] and runner.current_momentum() == [0.9, 0.9]
    runner = Runner(toy_model, optimizer={'a': sgd, 'b': adam})
    assert runner.current_lr() == {'a': [0.1, 0.2], 'b': [0.01]}
    assert runner.current_momentum() == {'a': [0.9, 0.9], 'b': [0.8]}
    with pytest.raises(RuntimeError, match='optimizer does not exist'):
        Runner(toy_model).current_lr()


def test_hook_info_lists_stages_with_priorities(core, toy_model):
    runner = Runner(toy_model, optimizer=torch.optim.SGD(toy_model.parameters(), lr=0.1), max_epochs=1)
    runner.register_training_hooks(None, optimizer_config=dict(), timer_config=dict(type='IterTimerHook'))
    info = runner.get_hook_info()
    assert 'after_train_iter:\n(ABOVE_NORMAL) OptimizerHook' in info
    assert '(LOW         ) IterTimerHook' in info
    assert 'before_run' not in info


def test_log_buffer_keeps_tensors_until_average(core, toy_model):
    runner = Runner(toy_model, optimizer=torch.optim.SGD(toy_model.parameters(), lr=0.0), max_epochs=1)
    runner.run([make_loader(4)], [('train', 1)])
    hist = runner.log_buffer.val_history['loss']
    assert all(isinstance(v, torch.Tensor) for v in hist)
    expected = sum(float(v) * 2 for v in hist[-2:]) / 4
    runner.log_buffer.average(2)
    assert runner.log_buffer.output['loss'] == pytest.approx(expected)
    assert all(isinstance(v, float) for v in hist)


def test_save_and_resume_checkpoint(core, tmp_path, toy_model):
    opt = torch.optim.SGD(toy_model.parameters(), lr=0.1, momentum=0.9)
    runner = Runner(toy_model, optimizer=opt, work_dir=str(tmp_path), max_epochs=2,
                    meta=dict(hook_msgs=dict(x=1)))
    runner.register_training_hooks(None, optimizer_config=dict())
    runner.run([make_loader(3)], [('train', 1)])
    path = runner.save_checkpoint(str(tmp_path))
    assert os.path.basename(path) == 'epoch_3.pth'
    assert os.path.realpath(tmp_path / 'latest.pth') == os.path.realpath(path)
    ckpt = torch.load(tmp_path / 'latest.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 6

    torch.manual_seed(1)
    model2 = ToyModel()
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    runner2 = Runner(model2, optimizer=opt2, max_epochs=4, logger=logging.getLogger('t'))
    runner2.resume(str(tmp_path / 'latest.pth'))
    assert (runner2.epoch, runner2.iter) == (3, 6)
    assert runner2.meta['hook_msgs']['x'] == 1
    for a, b in zip(model2.parameters(), toy_model.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()['state'][0]['momentum_buffer'].equal(opt.state_dict()['state'][0]['momentum_buffer'])

    it = Runner(ToyModel(), max_iters=3, work_dir=str(tmp_path / 'it'))
    it.run([make_loader(2)], [('train', 3)])
    path = it.save_checkpoint(str(tmp_path / 'it'))
    assert os.path.basename(path) == 'iter_4.pth'
    assert torch.load(path, weights_only=True)['meta']['iter'] == 4


def test_build_runner_from_registry(core, toy_model):
    runner = fastrun.build_runner(dict(type='IterBasedRunner', max_iters=7), default_args=dict(model=toy_model))
    assert isinstance(runner, IterBasedRunner) and runner.max_iters == 7
    assert 'EpochBasedRunner' in fastrun.RUNNERS


def test_hooks_registered_by_name():
    for name in ('OptimizerHook', 'IterTimerHook'):
        assert name in HOOKS
