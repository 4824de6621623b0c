"""SyncBuffersHook: average model buffers (BatchNorm statistics) across processes."""
from ..dist import allreduce_buffers, is_distributed
from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class SyncBuffersHook(Hook):
    """All-reduce and average the floating-point buffers of the model after every epoch (mmcv).

    DistributedDataParallel with ``broadcast_buffers=False`` (fastrun's default, as mmcls)
    leaves each rank with BatchNorm running statistics of its own data; after this hook every
    rank holds their mean, so checkpoints and evaluations use statistics of all the data. One
    all-reduce per (device, dtype) of buffers. Integer buffers (``num_batches_tracked``) are the
    same on every rank and left alone. A no-op unless ``distributed`` and torch.distributed runs
    more than one process.
    """

    def __init__(self, distributed=True):
        self.distributed = distributed

    def after_epoch(self, runner):
        if self.distributed and is_distributed():
            allreduce_buffers(runner.model)
