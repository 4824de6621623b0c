"""torch.distributed set-up and collectives; single-process runs never initialise torch.distributed.

fastrun runs on PyTorch's own engine: processes are started by ``torchrun``, by Slurm's
``srun`` or by Open MPI's ``mpirun`` (see :func:`init_dist`; the rendezvous is env:// in all
three), gradients are reduced by ``DistributedDataParallel``, and every collective here is a
``torch.distributed`` call on the default process group.
"""
import atexit
import datetime
import functools
import inspect
import os
import random
import subprocess
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .errors import ArgumentError, LauncherError
from .registry import MODULE_WRAPPERS

__all__ = ['get_dist_info', 'master_only', 'is_module_wrapper', 'init_dist', 'wrap_distributed',
           'MMDistributedDataParallel', 'is_distributed', 'collective_device', 'barrier',
           'allreduce_buffers', 'allreduce_grads', 'allreduce_params', 'sync_random_seed',
           'LAUNCHERS']

#: The ``--launcher`` values that start a distributed run, and what starts its processes.
LAUNCHERS = {'pytorch': 'torchrun', 'slurm': 'srun (Slurm)', 'mpi': 'mpirun (Open MPI)'}
#: torch.distributed's usual rendezvous port, used when a launcher gives none (as mmcv).
DEFAULT_PORT = 29500


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
    """True when ``module`` is an instance of a class registered in ``MODULE_WRAPPERS``.

    torch's DataParallel and DistributedDataParallel (and so fastrun's MMDataParallel and
    MMDistributedDataParallel) are registered; a user's wrapper registered with
    ``@MODULE_WRAPPERS.register_module()`` is looked through as they are (checkpoints, EMA).
    """
    return isinstance(module, tuple(MODULE_WRAPPERS.module_dict.values()))


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


def _allreduce_mean(tensors, bucket_size_mb=-1):
    # One all-reduce per bucket: per (device, dtype) by default, or chunks of about
    # bucket_size_mb MB of one (device, dtype) each.
    groups = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    limit = bucket_size_mb * 1024 * 1024 if bucket_size_mb > 0 else None
    world_size = get_dist_info()[1]
    with torch.no_grad():
        for group in groups.values():
            buckets, size = [[]], 0
            for t in group:
                nbytes = t.numel() * t.element_size()
                if limit is not None and buckets[-1] and size + nbytes > limit:
                    buckets.append([])
                    size = 0
                buckets[-1].append(t)
                size += nbytes
            for bucket in buckets:
                flat = torch.cat([t.reshape(-1) for t in bucket])
                dist.all_reduce(flat)
                flat.div_(world_size)
                for t, v in zip(bucket, flat.split([t.numel() for t in bucket])):
                    t.copy_(v.view_as(t))


def allreduce_params(params, coalesce=True, bucket_size_mb=-1):
    """Average the tensors ``params`` (parameters or buffers) over all ranks, in place.

    ``coalesce``: flatten them into few all-reduces (buckets of ``bucket_size_mb`` MB, or one
    per device and dtype when it is -1); otherwise one all-reduce per tensor. A collective:
    every rank must call it. Nothing on one process.
    """
    if get_dist_info()[1] == 1:
        return
    tensors = [p.data for p in params]
    if coalesce:
        _allreduce_mean(tensors, bucket_size_mb)
    else:
        world_size = get_dist_info()[1]
        for t in tensors:
            dist.all_reduce(t.div_(world_size))


def allreduce_grads(params, coalesce=True, bucket_size_mb=-1):
    """Average the gradients of ``params`` over all ranks, in place (those that have one).

    For models trained without DistributedDataParallel (which reduces gradients itself);
    arguments as :func:`allreduce_params`.
    """
    grads = [p.grad.data for p in params if p.requires_grad and p.grad is not None]
    if get_dist_info()[1] == 1:
        return
    if coalesce:
        _allreduce_mean(grads, bucket_size_mb)
    else:
        world_size = get_dist_info()[1]
        for g in grads:
            dist.all_reduce(g.div_(world_size))


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


def init_dist(launcher='pytorch', backend=None, timeout_s=None, port=None, **kwargs):
    """Initialise torch.distributed for the processes a launcher started (env:// rendezvous).

    ``launcher`` (what ``--launcher`` names, see :data:`LAUNCHERS`) says where each process
    reads its rank and the job's size, as mmcv 1.x does:

    - ``'pytorch'``: torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
      ``MASTER_PORT``;
    - ``'slurm'`` (``srun``): ``SLURM_PROCID`` (rank), ``SLURM_NTASKS`` (world size),
      ``SLURM_LOCALID`` (local rank; the rank modulo the GPUs when absent), the master address
      ``MASTER_ADDR`` or else the first host of ``SLURM_NODELIST`` (``scontrol show hostname``),
      the port ``port``, else ``MASTER_PORT``, else 29500 (set ``MASTER_PORT`` for several
      jobs on one node);
    - ``'mpi'`` (Open MPI's ``mpirun``): ``OMPI_COMM_WORLD_RANK``, ``OMPI_COMM_WORLD_SIZE``,
      ``OMPI_COMM_WORLD_LOCAL_RANK``, with ``MASTER_ADDR`` set by the job script (``port``,
      ``MASTER_PORT`` or 29500 for the port).

    Slurm and MPI set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` from these, so the rest of the run reads them as under torchrun.

    ``backend``: NCCL when there is a GPU, else gloo. With GPUs each process takes the device
    of its local rank before the group is created. ``timeout_s`` bounds every collective (and
    the rendezvous): a rank that stops answering makes the others fail after it instead of
    hanging (torch's default when None: 10 minutes with NCCL, 30 with gloo); torchrun and srun
    stop the whole job as soon as one rank exits with an error. Other keyword arguments
    (``dist_params`` keys) go to ``init_process_group``.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"unsupported launcher {launcher!r}: use 'pytorch' (torchrun), 'slurm' "
                         f"(srun), 'mpi' (mpirun) or 'none'")
    local_rank = _LAUNCHER_ENV[launcher](port)
    if dist.is_initialized():
        return
    gpus = torch.cuda.device_count()
    if gpus:
        torch.cuda.set_device(local_rank % gpus)
    backend = backend or ('nccl' if gpus else 'gloo')
    if backend == 'nccl' and not gpus:
        raise RuntimeError("dist_params backend='nccl' needs CUDA; use backend='gloo' on CPUs")
    timeout = kwargs.pop('timeout', None)
    if timeout is None and timeout_s is not None:
        timeout = datetime.timedelta(seconds=timeout_s)
    if timeout is not None:
        kwargs['timeout'] = timeout
    dist.init_process_group(backend=backend, **kwargs)
    atexit.register(shutdown_dist)


def _require_env(launcher, names, how):
    missing = [k for k in names if k not in os.environ]
    if missing:
        raise LauncherError(f'--launcher {launcher} needs the environment {how} sets '
                            f'({", ".join(missing)} missing): {_HOW_TO_RUN[launcher]}')


_HOW_TO_RUN = {
    'pytorch': 'run under `torchrun --nproc_per_node=N -m fastrun train ... --launcher pytorch`',
    'slurm': 'run under `srun --ntasks=N python -m fastrun train ... --launcher slurm`',
    'mpi': 'run under `mpirun -np N -x MASTER_ADDR=<host of rank 0> python -m fastrun train ... '
           '--launcher mpi`',
}


def _env_int(name):
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ArgumentError(f'the environment variable {name} must be an integer, got {value!r}') from None


def _pytorch_env(port):
    _require_env('pytorch', ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'), 'torchrun')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    return _env_int('LOCAL_RANK') if 'LOCAL_RANK' in os.environ else 0


def _slurm_env(port):
    _require_env('slurm', ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'), 'srun')
    rank, world_size = _env_int('SLURM_PROCID'), _env_int('SLURM_NTASKS')
    gpus = torch.cuda.device_count()
    if 'SLURM_LOCALID' in os.environ:
        local_rank = _env_int('SLURM_LOCALID')
    else:  # mmcv's rule: one process per GPU, the ranks of a node consecutive
        local_rank = rank % gpus if gpus else 0
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        # The first host of the allocation is rank 0's (mmcv reads it the same way).
        addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1').strip()
        if not addr or ' ' in addr:
            raise LauncherError(f'--launcher slurm: `scontrol show hostname {node_list}` gave no '
                                f'host name ({addr!r}); set MASTER_ADDR to the host of rank 0')
        os.environ['MASTER_ADDR'] = addr
    _set_port(port)
    os.environ.update(WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(local_rank))
    return local_rank


def _mpi_env(port):
    _require_env('mpi', ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
                         'OMPI_COMM_WORLD_LOCAL_RANK'), 'mpirun')
    if 'MASTER_ADDR' not in os.environ:
        raise LauncherError('--launcher mpi needs MASTER_ADDR, the host of rank 0 (Open MPI does '
                            'not set it): ' + _HOW_TO_RUN['mpi'])
    local_rank = _env_int('OMPI_COMM_WORLD_LOCAL_RANK')
    _set_port(port)
    os.environ.update(WORLD_SIZE=str(_env_int('OMPI_COMM_WORLD_SIZE')),
                      RANK=str(_env_int('OMPI_COMM_WORLD_RANK')), LOCAL_RANK=str(local_rank))
    return local_rank


def _set_port(port):
    # Every rank must come to the same port without talking to the others: no probing for a
    # free one (mmcv picks a random port when 29500 looks taken, which a rank that looks after
    # rank 0 has bound it sees, and which differs between nodes). Several jobs on one node
    # set MASTER_PORT each.
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    elif 'MASTER_PORT' not in os.environ:
        os.environ['MASTER_PORT'] = str(DEFAULT_PORT)


_LAUNCHER_ENV = {'pytorch': _pytorch_env, 'slurm': _slurm_env, 'mpi': _mpi_env}


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


def _holds_data_container(inputs, kwargs):
    from .data_container import holds_data_container
    return holds_data_container(inputs) or holds_data_container(kwargs)


class MMDistributedDataParallel(DistributedDataParallel):
    """DDP whose ``train_step``/``val_step`` run the wrapped model's own, as mmcv's wrapper.

    Each step goes through the same preparation DDP's ``forward`` does around the module call
    (``_pre_forward``: buffers broadcast, bucket rebuild, inputs to the device; ``_post_forward``:
    the backward's gradient reduction armed, unused parameters found, ``static_graph``
    handled), so ``no_sync()``, ``find_unused_parameters`` and ``static_graph`` behave as with
    ``ddp(inputs)``. The model's step may itself call ``self(**data)``: its ``forward`` is not
    touched. mmcv 1.x re-implemented part of DDP's forward with the reducer's private calls,
    which misses the bucket rebuild and ``static_graph`` on recent PyTorch.

    Inputs holding DataContainers (mmcv's batches) are unwrapped first (each field's chunk, as
    ``scatter_kwargs(..., [-1])`` gives it); DDP then moves their tensors to this process's
    device (the lists of a ``cpu_only`` field hold no tensors in mmcls's and mmdet's pipelines).
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
        if _holds_data_container(inputs, kwargs):  # mmcv's batches: each field's chunk first
            from .data_container import scatter_kwargs
            inputs, kwargs = scatter_kwargs(inputs, kwargs, [-1])
            inputs, kwargs = inputs[0], kwargs[0]
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
