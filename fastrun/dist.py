"""torch.distributed set-up and collectives; single-process runs never initialise torch.distributed.

fastrun runs on PyTorch's own engine: processes are started by ``torchrun`` (env://
rendezvous), gradients are reduced by ``DistributedDataParallel``, and every collective here is
a ``torch.distributed`` call on the default process group.
"""
import atexit
import datetime
import functools
import inspect
import os
import random
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DataParallel, DistributedDataParallel

__all__ = ['get_dist_info', 'master_only', 'is_module_wrapper', 'init_dist', 'wrap_distributed',
           'MMDistributedDataParallel', 'is_distributed', 'collective_device', 'barrier',
           'allreduce_buffers', 'sync_random_seed']


def get_dist_info():
    """(rank, world_size) of this process: (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_distributed():
    """True when torch.distributed is initialised with more than one process."""
    return get_dist_info()[1] > 1


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


def collective_device():
    """The device tensors must be on for a collective of the default process group.

    NCCL only reduces CUDA tensors (on this process's device); gloo and MPI take CPU tensors,
    and so does a ``'cpu:gloo,cuda:nccl'`` group.
    """
    backend = str(dist.get_backend())
    if 'gloo' in backend or 'mpi' in backend or not torch.cuda.is_available():
        return torch.device('cpu')
    return torch.device('cuda', torch.cuda.current_device())


def barrier():
    """``torch.distributed.barrier()`` in a distributed run; nothing on one process."""
    if is_distributed():
        dist.barrier()


def allreduce_buffers(module):
    """Average the floating-point buffers of ``module`` (BatchNorm statistics) over all ranks.

    One all-reduce per (device, dtype), the buffers flattened into one tensor. Integer buffers
    (``num_batches_tracked``) count the same steps on every rank and are left alone. A
    collective: every rank must call it. Nothing on one process.
    """
    _, world_size = get_dist_info()
    if world_size == 1:
        return
    groups = {}
    for buf in module.buffers():
        if buf.is_floating_point():
            groups.setdefault((buf.device, buf.dtype), []).append(buf)
    with torch.no_grad():
        for bufs in groups.values():
            flat = torch.cat([b.reshape(-1) for b in bufs])
            dist.all_reduce(flat)
            flat.div_(world_size)
            for b, v in zip(bufs, flat.split([b.numel() for b in bufs])):
                b.copy_(v.view_as(b))


def sync_random_seed(seed=None):
    """``seed``, or when it is None a random seed drawn on rank 0 and sent to every rank.

    Distributed samplers must shuffle with the same seed on every rank, or their shares of
    the data set overlap. The draw uses the operating system's randomness: the global RNGs
    (seeded per rank) are not touched.
    """
    if seed is not None:
        return int(seed)
    seed = random.SystemRandom().randrange(2 ** 31)
    if is_distributed():
        t = torch.tensor(seed, dtype=torch.int64, device=collective_device())
        dist.broadcast(t, src=0)
        seed = int(t.item())
    return seed


def init_dist(launcher='pytorch', backend=None, timeout_s=1800, **kwargs):
    """Initialise torch.distributed from torchrun's environment (env:// rendezvous).

    ``backend``: NCCL when CUDA is available, else gloo. On CUDA each process takes the device
    of its ``LOCAL_RANK`` before the group is created. ``timeout_s`` bounds every collective
    (and the rendezvous): a rank that stops answering makes the others fail after it instead of
    hanging forever; torchrun already stops the whole job as soon as one rank exits with an
    error. Other keyword arguments (``dist_params`` keys) go to ``init_process_group``.
    """
    if launcher != 'pytorch':
        raise ValueError(f"unsupported launcher {launcher!r}: use 'pytorch' (torchrun) or 'none'")
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs the environment torchrun sets '
                           f'({", ".join(missing)} missing): run under '
                           '`torchrun --nproc_per_node=N -m fastrun train ... --launcher pytorch`')
    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count())
    backend = backend or ('nccl' if torch.cuda.is_available() else 'gloo')
    if backend == 'nccl' and not torch.cuda.is_available():
        raise RuntimeError("dist_params backend='nccl' needs CUDA; use backend='gloo' on CPUs")
    timeout = kwargs.pop('timeout', None) or datetime.timedelta(seconds=timeout_s)
    dist.init_process_group(backend=backend, timeout=timeout, **kwargs)
    atexit.register(shutdown_dist)


def shutdown_dist():
    """Destroy the process group (if any) without the gloo abort at exit; safe to call twice."""
    # At exit, gloo's worker threads may still be releasing the last collective's tensors,
    # which needs the GIL; once the interpreter finalises, taking the GIL ends the thread and
    # the process aborts ("terminate called without an active exception", pytorch#190489).
    # A short sleep hands them the GIL while Python is still alive.
    if dist.is_available() and dist.is_initialized():
        time.sleep(0.05)
        dist.destroy_process_group()


def wrap_distributed(model, cfg, device):
    """``model`` (already on ``device``) wrapped in :class:`MMDistributedDataParallel`.

    Options from the config: ``model_wrapper_cfg`` (DDP keyword arguments such as
    ``find_unused_parameters``, ``broadcast_buffers``, ``static_graph``,
    ``gradient_as_bucket_view``, ``bucket_cap_mb``; a ``type`` key is ignored), the top-level
    ``find_unused_parameters`` (mmcls), and ``sync_bn`` (True or ``'torch'``: BatchNorm layers
    become ``torch.nn.SyncBatchNorm``, CUDA only). ``broadcast_buffers`` defaults to False as in
    mmcls: rank 0's buffers are not copied to the others before each forward; use
    ``SyncBuffersHook`` or DistEvalHook's ``broadcast_bn_buffer`` to align BatchNorm statistics.
    On a PyTorch whose DDP has ``forward_sync_buffers`` (the new name), ``broadcast_buffers``
    is passed as that.
    """
    sync_bn = cfg.get('sync_bn')
    if sync_bn:
        if sync_bn not in (True, 'torch'):
            raise ValueError(f"sync_bn must be True or 'torch', got {sync_bn!r}")
        if device.type != 'cuda':
            # PyTorch's SyncBatchNorm raises in its forward for CPU tensors; say it up front.
            raise ValueError('sync_bn needs CUDA: torch.nn.SyncBatchNorm does not run on CPU '
                             'tensors (with gloo on CPUs use SyncBuffersHook to average the '
                             'BatchNorm statistics instead)')
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp_cfg = dict(cfg.get('model_wrapper_cfg') or {})
    ddp_cfg.pop('type', None)
    if cfg.get('find_unused_parameters') is not None:
        ddp_cfg.setdefault('find_unused_parameters', cfg['find_unused_parameters'])
    broadcast = ddp_cfg.pop('broadcast_buffers', None)
    if _DDP_HAS_FORWARD_SYNC_BUFFERS:
        # Recent torch (2.13 here) renamed it and deprecated the old name; the new one copies
        # rank 0's buffers once at construction, so every rank starts from the same ones.
        if broadcast is not None:
            ddp_cfg.setdefault('forward_sync_buffers', broadcast)
        ddp_cfg.setdefault('forward_sync_buffers', False)
    else:
        ddp_cfg['broadcast_buffers'] = False if broadcast is None else broadcast
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == 'cuda' else None
    return MMDistributedDataParallel(model, device_ids=device_ids, **ddp_cfg)


_DDP_HAS_FORWARD_SYNC_BUFFERS = 'forward_sync_buffers' in inspect.signature(
    DistributedDataParallel.__init__).parameters


class MMDistributedDataParallel(DistributedDataParallel):
    """DDP whose ``train_step``/``val_step`` run the wrapped model's own, as mmcv's wrapper.

    Each step goes through the same preparation DDP's ``forward`` does around the module call
    (``_pre_forward``: buffers broadcast, bucket rebuild, inputs to the device; ``_post_forward``:
    the backward's gradient reduction armed, unused parameters found, ``static_graph``
    handled), so ``no_sync()``, ``find_unused_parameters`` and ``static_graph`` behave as with
    ``ddp(inputs)``. The model's step may itself call ``self(**data)``: its ``forward`` is not
    touched. mmcv 1.x re-implemented part of DDP's forward with the reducer's private calls,
    which misses the bucket rebuild and ``static_graph`` on recent PyTorch.
    """

    def __init__(self, module, *args, **kwargs):
        if not (hasattr(DistributedDataParallel, '_pre_forward')
                and hasattr(DistributedDataParallel, '_post_forward')):
            raise RuntimeError(f'MMDistributedDataParallel needs torch >= 2.0 (DDP._pre_forward); '
                               f'this is torch {torch.__version__}')
        super().__init__(module, *args, **kwargs)

    def train_step(self, *inputs, **kwargs):
        """``module.train_step`` with DDP's gradient synchronisation."""
        return self._run_step('train_step', inputs, kwargs)

    def val_step(self, *inputs, **kwargs):
        """``module.val_step`` (no gradients are reduced under ``torch.no_grad``)."""
        return self._run_step('val_step', inputs, kwargs)

    def _run_step(self, name, inputs, kwargs):
        with torch.autograd.profiler.record_function(f'DistributedDataParallel.{name}'):
            inputs, kwargs = self._pre_forward(*inputs, **kwargs)
            step = getattr(self.module, name)
            inside = getattr(self, '_inside_ddp_forward', None)
            if inside is None or getattr(self, '_use_python_reducer', False):
                output = step(*inputs, **kwargs)
            else:
                with inside():  # lets torch.compile's DDP optimizer see this module
                    output = step(*inputs, **kwargs)
            return self._post_forward(output)
