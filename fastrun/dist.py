"""torch.distributed helpers; single-process runs never touch torch.distributed."""
import functools

import torch.distributed as dist
from torch.nn.parallel import DataParallel, DistributedDataParallel


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
    return isinstance(module, (DataParallel, DistributedDataParallel))


def init_dist(launcher='pytorch', backend=None, timeout_s=1800, **kwargs):
    """Initialise torch.distributed from torchrun's environment (env:// rendezvous).

    One device per local rank on CUDA (NCCL by default), gloo on the CPU.
    """
    import datetime
    import os

    import torch
    if launcher != 'pytorch':
        raise ValueError(f"unsupported launcher {launcher!r}: use 'pytorch' (torchrun) or 'none'")
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise RuntimeError('--launcher pytorch needs the environment torchrun sets (RANK, WORLD_SIZE, '
                           'MASTER_ADDR, MASTER_PORT): run under `torchrun --nproc_per_node=N ...`')
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count())
    backend = backend or ('nccl' if torch.cuda.is_available() else 'gloo')
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s), **kwargs)


def wrap_distributed(model, cfg, device):
    """``model`` wrapped in DistributedDataParallel with the config's options."""
    import torch
    if cfg.get('sync_bn'):
        if device.type != 'cuda':
            raise ValueError('sync_bn=True needs CUDA: SyncBatchNorm does not run on the CPU')
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp_cfg = dict(cfg.get('model_wrapper_cfg') or {})
    ddp_cfg.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    device_ids = [device.index] if device.type == 'cuda' else None
    return MMDistributedDataParallel(model, device_ids=device_ids, **ddp_cfg)




class MMDistributedDataParallel(DistributedDataParallel):
    """DDP whose ``train_step``/``val_step`` reach the wrapped model through DDP's forward."""

    def train_step(self, *inputs, **kwargs):
        return self._run_step('train_step', inputs, kwargs)

    def val_step(self, *inputs, **kwargs):
        return self._run_step('val_step', inputs, kwargs)

    def _run_step(self, name, inputs, kwargs):
        # DDP's forward prepares the gradient reduction and syncs buffers; it calls
        # module.forward, which is the step for the duration of this call.
        module = self.module
        module.forward = getattr(module, name)
        try:
            return self(*inputs, **kwargs)
        finally:
            del module.forward
