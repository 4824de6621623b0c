"""EMAHook says when its average cannot move: mmcv's ``momentum ** interval`` is kept, and warned about.

The spec's snippet ``dict(type='EMAHook', interval=100)`` weighs each update by 0.0002 ** 100
(0 in float): the average stays the starting weights and every evaluation and checkpoint
sees an untrained model. That used to train to chance accuracy without a word.
"""
import math

import pytest
import torch

from fastrun.hooks.ema import EMAHook
from tests.conftest import ToyModel, make_loader
from tests.test_custom_hooks import make_logger, sgd_runner


def run_with(hook, epochs=2, n_batches=4):
    logger, handler = make_logger('ema-reach')
    torch.manual_seed(0)
    runner = sgd_runner(ToyModel(), logger=logger, max_epochs=epochs)
    runner.register_hook(hook, priority=49)
    runner.run([make_loader(n_batches)], [('train', 1)])
    return [m for level, m in handler.messages if level == 'WARNING' and m.startswith('EMAHook')]


def test_the_specs_interval_100_warns_naming_the_effective_momentum():
    [warning] = run_with(EMAHook(interval=100))
    assert ('EMAHook: the average can barely move in this run: 1 update (every 100 '
            'iterations), each giving the new weights momentum ** interval = 0.0002 ** 100 = 0 (below '
            "float precision) (mmcv's formula), so 100% of the average are still the starting "
            'weights') in warning
    assert 'momentum = w ** (1 / interval) (e.g. 0.9616 for w = 0.02)' in warning


def test_a_momentum_that_moves_the_average_says_nothing():
    assert run_with(EMAHook(momentum=0.5, interval=2, warm_up=1)) == []


def test_the_formula_itself_is_unchanged():
    hook = EMAHook(momentum=0.9, interval=3)
    assert hook.momentum == pytest.approx(0.9 ** 3)  # configs mean what they meant in mmcv


@pytest.mark.parametrize('momentum, interval, warm_up', [(0.3, 1, 5), (0.6, 2, 10), (0.01, 1, 100)])
def test_the_starting_share_is_the_product_of_the_updates(momentum, interval, warm_up):
    hook = EMAHook(momentum=momentum, interval=interval, warm_up=warm_up)
    keep = 1.0
    for i in range(3, 40):
        if i % interval == 0:
            keep *= 1 - min(momentum ** interval, (1 + i) / (warm_up + i))
    assert hook.starting_share(3, 40) == pytest.approx(keep)
    assert hook.starting_share(5, 5) == 1.0
    assert math.isclose(EMAHook(interval=100).starting_share(0, 10_000), 1.0)
