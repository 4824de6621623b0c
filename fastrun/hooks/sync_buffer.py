"""SyncBuffersHook: average model buffers (BatchNorm statistics) across processes."""
import torch
import torch.distributed as dist

from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class SyncBuffersHook(Hook):
    """All-reduce and average the floating-point buffers of the model after every epoch.

    Runs only when ``distributed`` is True and torch.distributed is initialised with more than
    one process; otherwise a no-op. Integer buffers (``num_batches_tracked``) are the same on
    every rank and are left alone.
    """

    def __init__(self, distributed=True):
        self.distributed = distributed

    def after_epoch(self, runner):
        if not (self.distributed and dist.is_available() and dist.is_initialized()):
            return
        world_size = dist.get_world_size()
        if world_size < 2:
            return
        groups = {}
        for buf in runner.model.buffers():
            if buf.is_floating_point():
                groups.setdefault((buf.device, buf.dtype), []).append(buf)
        # One collective per (device, dtype): buffers are flattened into a single tensor.
        with torch.no_grad():
            for bufs in groups.values():
                flat = torch.cat([b.reshape(-1) for b in bufs])
                dist.all_reduce(flat)
                flat.div_(world_size)
                offset = 0
                for b in bufs:
                    b.copy_(flat[offset:offset + b.numel()].view_as(b))
                    offset += b.numel()
