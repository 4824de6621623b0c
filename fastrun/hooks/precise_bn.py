"""mmcls 0.x's ``PreciseBNHook``: batch-norm statistics recomputed with the weights fixed.

During training the running mean/variance of a BN layer average over batches seen by ever
changing weights. Every ``interval`` epochs this hook runs ``num_samples`` training samples
(``num_samples // (batch size * world size)`` batches, at most one epoch) through
``model.train_step`` with the BN momentum set to 1, and sets each BN layer's statistics to
the plain average over those batches (averaged across ranks when distributed): the "true"
per-batch average of `Rethinking Batch in BatchNorm <https://arxiv.org/abs/2105.07576>`_.
Only BN layers in training mode are updated (InstanceNorm/GroupNorm keep none).
Register it before ``CheckpointHook`` and ``EMAHook`` (mmcls: priority ``ABOVE_NORMAL``), so
saved checkpoints hold the new statistics.
"""
import itertools
import logging

import torch
import torch.distributed as dist
from torch.nn import GroupNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..dist import get_dist_info
from ..errors import ArgumentError, ArgumentTypeError
from ..hook import Hook
from ..log import print_log
from ..registry import HOOKS

__all__ = ['PreciseBNHook', 'update_bn_stats']


def _average_across_ranks(tensors, world_size):
    if world_size == 1:
        return tensors
    works = [dist.all_reduce(t, async_op=True) for t in tensors]
    for w in works:
        w.wait()
    for t in tensors:
        t.div_(world_size)
    return tensors


@torch.no_grad()
def update_bn_stats(model, loader, num_samples=8192, logger=None):
    """Set the BN statistics of ``model`` to their average over ``num_samples`` samples of ``loader``."""
    _, world_size = get_dist_info()
    batches = min(num_samples // (loader.batch_size * world_size), len(loader))
    bns = [m for m in model.modules() if m.training and isinstance(m, _BatchNorm)]
    if not bns:
        print_log('No BN found in model', logger=logger, level=logging.WARNING)
        return
    print_log(f'{len(bns)} BN found, run {batches} iters...', logger=logger)
    if any(m.training and isinstance(m, (_InstanceNorm, GroupNorm)) for m in model.modules()):
        print_log('IN/GN stats will not be updated in PreciseHook.', logger=logger)
    means = [torch.zeros_like(bn.running_mean) for bn in bns]
    variances = [torch.zeros_like(bn.running_var) for bn in bns]
    momentums = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 1.0  # running stats = this batch's
    for data in itertools.islice(loader, batches):
        model.train_step(data)
        for i, bn in enumerate(bns):
            means[i] += bn.running_mean / batches
            variances[i] += bn.running_var / batches
    means = _average_across_ranks(means, world_size)
    variances = _average_across_ranks(variances, world_size)
    for bn, mean, var, momentum in zip(bns, means, variances, momentums):
        bn.running_mean = mean
        bn.running_var = var
        bn.momentum = momentum


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Recompute the BN statistics every ``interval`` epochs on ``num_samples`` train samples."""

    def __init__(self, num_samples=8192, interval=1):
        if not (interval > 0 and num_samples > 0):
            raise ArgumentError(f'interval and num_samples must be > 0, got {interval} and {num_samples}')
        self.interval = interval
        self.num_samples = num_samples

    def after_train_epoch(self, runner):
        # By class name: fastrun's EpochBasedRunner and mmcv's (hooks never import the runner).
        if not any(c.__name__ == 'EpochBasedRunner' for c in type(runner).__mro__):
            raise ArgumentTypeError(f'PreciseBNHook needs an EpochBasedRunner, got {type(runner).__name__}')
        if self.every_n_epochs(runner, self.interval):
            print_log(f'Running Precise BN for {self.num_samples} items...', logger=runner.logger)
            update_bn_stats(runner.model, runner.data_loader, self.num_samples, logger=runner.logger)
            print_log('Finish Precise BN, BN stats updated.', logger=runner.logger)
