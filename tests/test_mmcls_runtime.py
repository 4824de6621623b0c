"""mmcls 0.x's runtime pieces, native: PreciseBNHook, ClassNumCheckHook, the cool-down cosine
LR policy and the Lamb optimizer."""
import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fastrun import EpochBasedRunner
from fastrun.errors import ArgumentError
from fastrun.registry import HOOKS, OPTIMIZERS


class Rows(Dataset):
    CLASSES = ('a', 'b', 'c')

    def __init__(self, n=8):
        self.x = torch.arange(n * 2, dtype=torch.float32).view(n, 2)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


class BNNet(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.bn = nn.BatchNorm1d(2)
        self.head = nn.Linear(2, num_classes)
        self.head.num_classes = num_classes

    def train_step(self, x, optimizer=None):
        out = self.head(self.bn(x)).sum()
        return dict(loss=out, log_vars=dict(loss=out.item()), num_samples=len(x))


def _run(model, hook, epochs=1, batch=2):
    runner = EpochBasedRunner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                              max_epochs=epochs)
    runner.register_hook(hook)
    runner.run([DataLoader(Rows(), batch_size=batch)], [('train', 1)])
    return runner


def test_precise_bn_sets_the_plain_average_of_batch_statistics():
    model = BNNet()
    _run(model, HOOKS.build(dict(type='PreciseBNHook', num_samples=8)))
    x = Rows().x.view(4, 2, 2)  # the 4 batches of 2
    assert torch.allclose(model.bn.running_mean, x.mean(1).mean(0))
    assert torch.allclose(model.bn.running_var, x.var(1, unbiased=True).mean(0))
    assert model.bn.momentum == 0.1
    with pytest.raises(ArgumentError):
        HOOKS.build(dict(type='PreciseBNHook', interval=0))


def test_class_num_check_stops_a_mismatched_head():
    _run(BNNet(3), HOOKS.build(dict(type='ClassNumCheckHook')))
    with pytest.raises(ArgumentError, match=r'num_classes` \(4\)'):
        _run(BNNet(4), HOOKS.build(dict(type='ClassNumCheckHook')))


def test_cosine_cooldown_anneals_then_stays_at_the_cooled_minimum():
    hook = HOOKS.build(dict(type='CosineAnnealingCooldownLrUpdaterHook', by_epoch=False,
                            min_lr_ratio=0.1, cool_down_time=2, cool_down_ratio=0.5))
    lrs = []
    for it in range(6):
        fake = type('R', (), dict(iter=it, max_iters=6, epoch=0, max_epochs=1))()
        lrs.append(hook.get_lr(fake, 1.0))
    assert lrs[0] == 1.0 and lrs[4] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.05)
    assert lrs[1] > lrs[2] > lrs[3] > lrs[4]


def test_lamb_descends_and_its_loaded_state_leaves_the_dict_alone():
    w = torch.randn(4, 3, requires_grad=True)
    x = torch.randn(3)
    opt = OPTIMIZERS.build(dict(type='Lamb', params=[w], lr=0.05))

    def loss():
        opt.zero_grad()
        out = w.mv(x).pow(2).sum()
        out.backward()
        return out
    first = loss().item()
    for _ in range(30):
        opt.step(loss)
    assert loss().item() < first
    saved = copy.deepcopy(opt.state_dict())
    given = copy.deepcopy(saved)
    other = OPTIMIZERS.build(dict(type='Lamb', params=[w.detach().clone().requires_grad_()], lr=0.05))
    other.load_state_dict(given)
    other.param_groups[0]['params'][0].grad = torch.ones(4, 3)
    other.step()
    assert torch.equal(given['state'][0]['exp_avg'], saved['state'][0]['exp_avg'])
