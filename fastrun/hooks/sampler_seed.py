"""DistSamplerSeedHook: reshuffle distributed samplers differently every epoch."""
from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    """Calls ``set_epoch(runner.epoch)`` on the data loader's sampler before each epoch.

    ``DistributedSampler`` shuffles with ``seed + epoch``; without this every epoch would see the
    same order. The sampler is the loader's ``sampler``, or its ``batch_sampler.sampler`` when a
    batch sampler wraps it; loaders without either are left alone. Epoch-based runs only: the
    iter-based runner's IterLoader sets the epoch itself.
    """

    def before_epoch(self, runner):
        loader = runner.data_loader
        sampler = getattr(loader, 'sampler', None)
        if not hasattr(sampler, 'set_epoch'):
            sampler = getattr(getattr(loader, 'batch_sampler', None), 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(runner.epoch)
