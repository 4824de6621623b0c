"""torch.distributed helpers; single-process runs never touch torch.distributed."""
import functools

import torch.distributed as dist


def get_dist_info():
    """(rank, world_size) of this process: (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def master_only(func):
    """Run ``func`` on rank 0 only (other ranks return None)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if get_dist_info()[0] == 0:
            return func(*args, **kwargs)
    return wrapper


def is_module_wrapper(module):
    """True for DataParallel / DistributedDataParallel wrappers."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel
    return isinstance(module, (DataParallel, DistributedDataParallel))
