"""From a config to a run: model, data, optimizer, runner and hooks (mmcls ``train_model`` semantics)."""
import copy
import logging
import os
import random
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import storage
from .dist import get_dist_info
from .hook_order import priority_of
from .hooks.invalid_loss import CheckInvalidLossHook
from .profiling import hook_times_requested, nvtx_requested
from .registry import (DATASETS, HOOKS, MODELS, OPTIMIZER_BUILDERS, OPTIMIZERS,  # noqa: F401
                       RUNNER_BUILDERS, build_from_cfg)
from .runner import (RUNNERS, DefaultRunnerConstructor, EpochBasedRunner, IterBasedRunner,  # noqa: F401
                     build_runner, build_runner_constructor)
from .step import DeviceLoader
from .summary import RunSummary

logger = logging.getLogger('fastrun')


def set_random_seed(seed, deterministic=False, use_rank_shift=False, rank=None):
    """Seed Python, NumPy and torch; ``deterministic`` picks deterministic kernels.

    The seed is ``seed + rank`` with ``rank`` given, ``seed`` + this process's rank with
    ``use_rank_shift`` (mmcv's argument), else ``seed``. ``PYTHONHASHSEED`` is set to it too,
    for the processes started afterwards (data loader workers started with spawn), as mmcv.
    Returns the seed used.
    """
    if rank is None:
        rank = get_dist_info()[0] if use_rank_shift else 0
    seed = seed + rank
    os.environ['PYTHONHASHSEED'] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def build_model(cfg):
    """Build a model from ``cfg`` in ``MODELS`` and run its ``init_weights`` (``init_cfg``)."""
    model = build_from_cfg(dict(cfg), MODELS)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    return model


def build_dataset(cfg, default_args=None):
    """Build a data set from ``cfg`` in ``DATASETS``; a list of configs and the wrappers
    (``ConcatDataset``, ``RepeatDataset``, ``ClassBalancedDataset``, ``KFoldDataset``) build
    their inner data sets too (see :func:`fastrun.datasets.build_dataset`)."""
    from .datasets.builder import build_dataset as _build
    return _build(cfg, default_args)


def build_sampler(cfg, default_args=None):
    """A sampler from ``dict(type=..., ...)`` in ``SAMPLERS`` (None for None), as mmcls's."""
    if cfg is None:
        return None
    from .registry import SAMPLERS
    return build_from_cfg(dict(cfg), SAMPLERS, default_args)


def _worker_init(base_seed):
    def init(worker_id):
        seed = (base_seed + worker_id) % 2**32
        np.random.seed(seed)
        random.seed(seed)
    return init


def build_dataloader(dataset, samples_per_gpu, workers_per_gpu=0, dist=False, shuffle=True,
                     seed=None, pin_memory=False, persistent_workers=False, drop_last=False,
                     round_up=True, sampler_cfg=None, num_gpus=1, **kwargs):
    """A DataLoader with ``samples_per_gpu`` per process (mmcls's ``build_dataloader``).

    ``dist``: each process of the distributed run takes its share of the data set through a
    :class:`~fastrun.sampler.ResumableSampler` (``torch.utils.data.DistributedSampler``'s split:
    rank ``r`` takes every ``world_size``-th index from ``r``, the order padded to a multiple of
    the world size unless ``round_up=False``), shuffled with ``seed + epoch`` when ``shuffle``;
    ``DistSamplerSeedHook`` sets the epoch. The seed is the same on every rank (the config's
    ``seed``, else one drawn on rank 0 and broadcast), so the shares never overlap; data
    loading workers get ``seed`` + ``rank * workers_per_gpu`` + their id (NumPy's and
    Python's RNGs). Without ``dist`` it is a one-process ResumableSampler: the order of an
    epoch depends only on ``seed`` and the epoch, so a run resumed mid-epoch sees the batches
    of the run it continues.

    ``sampler_cfg``: a sampler of ``SAMPLERS`` instead (``dict(type='RepeatAugSampler')``, a
    config's top-level ``sampler``), given ``dataset``, ``num_replicas``, ``rank``, ``seed``
    and ``shuffle``. ``num_gpus``: mmcls's one-process multi-GPU batch; fastrun runs one
    device per process, so only 1 (launch one process per GPU instead).

    In-memory data sets (``Digits``, ``SyntheticClassification``, a ``TensorDataset``) without
    workers get an :class:`~fastrun.datasets.loader.InMemoryLoader`: the same batches in the
    same order, each taken with one tensor index instead of per-sample ``__getitem__`` calls
    and ``default_collate``. Other data sets' batches: ``default_collate``, or mmcv's
    :func:`~fastrun.parallel.collate` for samples holding DataContainers.
    """
    from .datasets.loader import InMemoryLoader, batch_indexer
    from .dist import get_dist_info, sync_random_seed
    from .errors import ArgumentError
    from .sampler import ResumableSampler
    if num_gpus != 1 and not dist:
        raise ArgumentError(f'num_gpus={num_gpus}: fastrun drives one device per process; '
                            'start one process per GPU (a distributed launch) instead')
    rank, world_size = get_dist_info() if dist else (0, 1)
    worker_seed = seed
    if sampler_cfg:
        seed = sync_random_seed(seed) if dist else seed
        sampler = build_sampler(dict(sampler_cfg, shuffle=shuffle), default_args=dict(
            dataset=dataset, num_replicas=world_size, rank=rank, seed=seed))
        worker_seed = None if seed is None else seed + rank * workers_per_gpu
    elif dist:
        seed = sync_random_seed(seed) if shuffle else (seed or 0)
        sampler = ResumableSampler(dataset, shuffle=shuffle, seed=seed, num_replicas=world_size,
                                   rank=rank, round_up=round_up)
        worker_seed = seed + rank * workers_per_gpu
    else:
        # An order fixed by (seed, epoch) that can start mid-epoch, so a resumed run draws the
        # batches the interrupted one would have (seed None: one is drawn, checkpoints keep it).
        sampler = ResumableSampler(dataset, shuffle=shuffle, seed=seed, num_replicas=1, rank=0)
    shuffle = False
    # The loader's own generator: starting an epoch (the workers' base seed) never draws from
    # torch's global RNG, whose stream a resumed run restores.
    generator = torch.Generator().manual_seed(int(getattr(sampler, 'seed', 0) or 0))
    take = None
    if workers_per_gpu == 0 and 'collate_fn' not in kwargs and 'batch_sampler' not in kwargs:
        take = batch_indexer(dataset)
    loader_cls, extra = (DataLoader, {}) if take is None else (InMemoryLoader, dict(take=take))
    if take is None and 'collate_fn' not in kwargs:
        # Samples holding DataContainers (mmcv's pipelines) are collated as mmcv does, in
        # chunks of samples_per_gpu; any other batch is default_collate's, as before.
        from .parallel.collate import DataContainerCollate
        extra['collate_fn'] = DataContainerCollate(samples_per_gpu)
    return loader_cls(
        dataset, batch_size=samples_per_gpu, sampler=sampler, shuffle=shuffle,
        num_workers=workers_per_gpu, pin_memory=pin_memory, drop_last=drop_last,
        persistent_workers=persistent_workers and workers_per_gpu > 0, generator=generator,
        worker_init_fn=(_worker_init(worker_seed) if worker_seed is not None and workers_per_gpu > 0
                        else None),
        **extra, **kwargs)


def _loader_arguments():
    import inspect
    names = set(inspect.signature(build_dataloader).parameters)
    names |= set(inspect.signature(DataLoader.__init__).parameters)
    return names - {'self', 'dataset', 'kwargs', 'batch_size', 'sampler', 'batch_sampler'}


#: The keys of ``cfg.data`` that are not loader arguments (mmcls's list).
_SPLIT_KEYS = ('train', 'val', 'test', 'train_dataloader', 'val_dataloader', 'test_dataloader')


def loader_cfg_of(cfg, split, distributed=False, device=None):
    """The ``build_dataloader`` arguments of ``split`` ('train', 'val' or 'test'), as mmcls's
    ``train_model`` and test tool assemble them: fastrun's defaults, then every key of
    ``cfg.data`` but the splits, then ``cfg.data.<split>_dataloader``. The val and test loaders
    do not shuffle, use no ``sampler`` and keep the last batch unless their own dict says so;
    the train loader takes the config's top-level ``sampler`` (mmcls's ``sampler_cfg``).

    fastrun's defaults differ from mmcls's in two places: ``pin_memory`` is True only on a
    CUDA device and ``persistent_workers`` is False (set them in ``cfg.data`` for mmcls's).
    """
    device = torch.device(device) if device is not None else default_device()
    data_cfg = cfg.get('data') or {}
    out = dict(dist=distributed, round_up=True, seed=cfg.get('seed'),
               sampler_cfg=cfg.get('sampler'), samples_per_gpu=32, workers_per_gpu=0,
               pin_memory=device.type == 'cuda', persistent_workers=False)
    known = _loader_arguments()
    # Keys of cfg.data that no loader takes (a typo: the config check warns about it) are left
    # out rather than failing the DataLoader, as fastrun always did.
    out.update({k: v for k, v in data_cfg.items() if k not in _SPLIT_KEYS and k in known})
    if split == 'train':
        out['shuffle'] = out.get('shuffle', True)
    else:
        out.update(shuffle=False, sampler_cfg=None, drop_last=False)
    own = dict(data_cfg.get(f'{split}_dataloader') or {})
    unknown = sorted(set(own) - known)
    if unknown:
        from .config import ConfigError
        raise ConfigError(f'{", ".join(map(repr, unknown))} is not a data loader argument '
                          '(of build_dataloader or torch DataLoader)',
                          getattr(cfg, 'filename', None), f'data.{split}_dataloader')
    out.update(own)
    if out.get('sampler_cfg') is not None:
        out['sampler_cfg'] = dict(out['sampler_cfg'])
    return out


_NORM = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm,
         torch.nn.modules.instancenorm._InstanceNorm)

#: mmcv.ops' deformable convolutions (and their subclasses): their ``conv_offset`` children
#: take ``dcn_offset_lr_mult``. Matched by class name: fastrun does not depend on mmcv.ops.
_DCN_NAMES = frozenset({'DeformConv2d', 'ModulatedDeformConv2d'})


def _is_dcn(module):
    return any(c.__name__ in _DCN_NAMES and c.__module__.startswith('mmcv')
               for c in type(module).__mro__)


def _is_in(group, groups):
    params = set(group['params'])
    return any(not params.isdisjoint(g['params']) for g in groups)


@OPTIMIZER_BUILDERS.register_module()
class DefaultOptimizerConstructor:
    """Builds a torch.optim optimizer, applying ``paramwise_cfg`` exactly as mmcv 1.x's does.

    Each parameter gets its own group. A ``custom_keys`` key contained in the parameter's name
    (``'<module path>.<name>'``; longer keys first, then alphabetical) sets ``lr_mult`` and
    ``decay_mult`` and no other rule applies. Otherwise: ``bias_lr_mult`` scales the lr of
    every ``bias`` except in norm layers and deformable convolutions; ``dcn_offset_lr_mult``
    the lr of a deformable convolution's ``conv_offset``; and the weight decay is scaled by
    the first that applies of ``norm_decay_mult`` (BatchNorm, GroupNorm, LayerNorm,
    InstanceNorm), ``dwconv_decay_mult`` (a ``Conv2d`` whose ``in_channels == groups``, which
    includes one-channel convolutions and applies to their bias too) and ``bias_decay_mult``.
    Frozen parameters keep the defaults. ``bypass_duplicate`` skips (with a warning) a
    parameter shared with a group already made. The ``*_mult`` options need a
    ``weight_decay``.
    """

    def __init__(self, optimizer_cfg, paramwise_cfg=None):
        if not isinstance(optimizer_cfg, dict):
            raise TypeError(f'optimizer_cfg must be a dict, got {type(optimizer_cfg).__name__}')
        self.optimizer_cfg = dict(optimizer_cfg)
        self.paramwise_cfg = {} if paramwise_cfg is None else paramwise_cfg
        self.base_lr = optimizer_cfg.get('lr')
        self.base_wd = optimizer_cfg.get('weight_decay')
        self._validate_cfg()

    def _validate_cfg(self):
        cfg = self.paramwise_cfg
        if not isinstance(cfg, dict):
            raise TypeError(f'paramwise_cfg should be None or a dict, but got {type(cfg).__name__}')
        if 'custom_keys' in cfg:
            if not isinstance(cfg['custom_keys'], dict):
                raise TypeError(f'If specified, custom_keys must be a dict, '
                                f'but got {type(cfg["custom_keys"]).__name__}')
            if self.base_wd is None and any('decay_mult' in v for v in cfg['custom_keys'].values()):
                raise ValueError('paramwise_cfg.custom_keys sets a decay_mult: the optimizer needs '
                                 'a weight_decay (base_wd should not be None)')
        mults = [k for k in ('bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult') if k in cfg]
        if mults and self.base_wd is None:
            raise ValueError(f'paramwise_cfg.{mults[0]} needs a weight_decay in the optimizer '
                             '(base_wd should not be None)')

    def add_params(self, params, module, prefix='', is_dcn_module=None):
        """Append a param group for each parameter of ``module`` and its children (mmcv's walk)."""
        cfg = self.paramwise_cfg
        custom_keys = cfg.get('custom_keys', {})
        # longer and alphabetically later keys first, as mmcv, so 'backbone.layer1' beats 'backbone'
        sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)
        bias_lr_mult = cfg.get('bias_lr_mult', 1.)
        bias_decay_mult = cfg.get('bias_decay_mult', 1.)
        norm_decay_mult = cfg.get('norm_decay_mult', 1.)
        dwconv_decay_mult = cfg.get('dwconv_decay_mult', 1.)
        bypass_duplicate = cfg.get('bypass_duplicate', False)
        dcn_offset_lr_mult = cfg.get('dcn_offset_lr_mult', 1.)

        is_norm = isinstance(module, _NORM)
        is_dwconv = isinstance(module, torch.nn.Conv2d) and module.in_channels == module.groups
        for name, param in module.named_parameters(recurse=False):
            group = {'params': [param]}
            if not param.requires_grad:
                params.append(group)
                continue
            if bypass_duplicate and _is_in(group, params):
                warnings.warn(f'{prefix} is duplicate. It is skipped since '
                              f'bypass_duplicate={bypass_duplicate}')
                continue
            full_name = f'{prefix}.{name}'  # '.weight' at the top level, as mmcv matches keys
            key = next((k for k in sorted_keys if k in full_name), None)
            if key is not None:
                group['lr'] = self.base_lr * custom_keys[key].get('lr_mult', 1.)
                if self.base_wd is not None:
                    group['weight_decay'] = self.base_wd * custom_keys[key].get('decay_mult', 1.)
            else:
                if name == 'bias' and not (is_norm or is_dcn_module):
                    group['lr'] = self.base_lr * bias_lr_mult
                if 'conv_offset' in prefix and is_dcn_module and isinstance(module, torch.nn.Conv2d):
                    group['lr'] = self.base_lr * dcn_offset_lr_mult
                if self.base_wd is not None:
                    # The first rule that applies, in mmcv's order: a depth-wise conv's bias
                    # takes dwconv_decay_mult, not bias_decay_mult.
                    if is_norm:
                        group['weight_decay'] = self.base_wd * norm_decay_mult
                    elif is_dwconv:
                        group['weight_decay'] = self.base_wd * dwconv_decay_mult
                    elif name == 'bias' and not is_dcn_module:
                        group['weight_decay'] = self.base_wd * bias_decay_mult
            params.append(group)

        is_dcn_module = _is_dcn(module)
        for child_name, child in module.named_children():
            child_prefix = f'{prefix}.{child_name}' if prefix else child_name
            self.add_params(params, child, prefix=child_prefix, is_dcn_module=is_dcn_module)

    def __call__(self, model):
        model = getattr(model, 'module', model)
        cfg = dict(self.optimizer_cfg)
        if not self.paramwise_cfg:
            return build_from_cfg(dict(cfg, params=model.parameters()), OPTIMIZERS)
        params = []
        self.add_params(params, model)
        return build_from_cfg(dict(cfg, params=params), OPTIMIZERS)


def build_optimizer_constructor(cfg):
    """An optimizer constructor from ``dict(type='DefaultOptimizerConstructor', optimizer_cfg=...,
    paramwise_cfg=...)`` (``OPTIMIZER_BUILDERS``); calling it on a model gives the optimizer."""
    return build_from_cfg(cfg, OPTIMIZER_BUILDERS)


def build_optimizer(model, cfg):
    """A torch.optim optimizer from ``dict(type='SGD', lr=..., paramwise_cfg=..., constructor=...)``."""
    cfg = copy.deepcopy(dict(cfg))
    constructor = cfg.pop('constructor', 'DefaultOptimizerConstructor')
    paramwise_cfg = cfg.pop('paramwise_cfg', None)
    builder = build_optimizer_constructor(dict(type=constructor, optimizer_cfg=cfg,
                                               paramwise_cfg=paramwise_cfg))
    return builder(model)


def prepare_model(model, cfg, device):
    """``model`` on ``device``, in channels_last layout and compiled when the config asks.

    ``channels_last=True``; ``compile=True`` or ``compile=dict(mode=..., ...)`` (arguments of
    ``torch.compile``; the first steps pay the compilation, about 20 s for a small CNN on a CPU).
    """
    model = model.to(device)
    if cfg.get('channels_last'):
        model = model.to(memory_format=torch.channels_last)
    compile_cfg = cfg.get('compile')
    if compile_cfg:
        # nn.Module.compile compiles the module's __call__ in place: train_step's self(...) goes
        # through the compiled graph and the module keeps its type, methods and state_dict keys.
        model.compile(**(compile_cfg if isinstance(compile_cfg, dict) else {}))
    return model


def default_device():
    return torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() else torch.device('cpu')


def build_runner_from_cfg(cfg, model, datasets=None, distributed=False, validate=True,
                          timestamp=None, meta=None, device=None):
    """Everything ``train_model`` does short of running: returns ``(runner, data_loaders)``."""
    device = torch.device(device) if device is not None else default_device()
    data_cfg = cfg.get('data', {})
    train_loader_cfg = loader_cfg_of(cfg, 'train', distributed, device)
    data_loaders = []
    for i, ds in enumerate(datasets or []):
        loader = build_dataloader(ds, **train_loader_cfg)
        data_loaders.append(DeviceLoader(loader, device, channels_last=bool(cfg.get('channels_last'))))

    model = prepare_model(model, cfg, device)
    if distributed:
        from .dist import wrap_distributed
        model = wrap_distributed(model, cfg, device)
    optimizer = build_optimizer(model, cfg['optimizer']) if cfg.get('optimizer') else None

    runner_cfg = cfg.get('runner')
    if runner_cfg is None:
        runner_cfg = {'type': 'EpochBasedRunner', 'max_epochs': cfg['total_epochs']}
        warnings.warn('config has no "runner"; using EpochBasedRunner with max_epochs=total_epochs',
                      UserWarning)
    runner = build_runner(runner_cfg, default_args=dict(
        model=model, batch_processor=None, optimizer=optimizer, work_dir=cfg.get('work_dir'),
        logger=logging.getLogger('fastrun'), meta=meta))
    if timestamp is not None:
        runner.timestamp = timestamp
    if nvtx_requested(cfg):
        runner.enable_nvtx()

    optimizer_config = cfg.get('optimizer_config')
    fp16_cfg = cfg.get('fp16')
    if fp16_cfg is not None:
        optimizer_config = dict(optimizer_config or {}, **fp16_cfg, type='Fp16OptimizerHook')
    runner.register_training_hooks(
        cfg.get('lr_config'), optimizer_config, cfg.get('checkpoint_config'), cfg.get('log_config'),
        cfg.get('momentum_config'), custom_hooks_config=cfg.get('custom_hooks'))
    # By class, not by name: mmcv's type='Runner' alias and subclasses are epoch-based too.
    if distributed and isinstance(runner, EpochBasedRunner):
        runner.register_hook(build_from_cfg(dict(type='DistSamplerSeedHook'), HOOKS),
                             priority=priority_of('dist_sampler_seed'))

    if validate and data_cfg.get('val') is not None:
        val_dataset = build_dataset(data_cfg['val'], dict(test_mode=True))
        val_loader = DeviceLoader(build_dataloader(val_dataset, **loader_cfg_of(
            cfg, 'val', distributed, device)), device,
                                  channels_last=bool(cfg.get('channels_last')))
        eval_cfg = dict(cfg.get('evaluation') or {})
        if eval_cfg.get('save_best') is True:
            # MMClassification's docs write evaluation=dict(save_best=True) for "keep the best";
            # the hook itself refuses True as mmcv's does, so the config's True means 'auto'.
            eval_cfg['save_best'] = 'auto'
        eval_cfg['by_epoch'] = not isinstance(runner, IterBasedRunner)
        eval_type = 'DistEvalHook' if distributed else 'EvalHook'
        # After IterTimerHook (same LOW priority, registered later), as mmcls does.
        runner.register_hook(build_from_cfg(dict(eval_cfg, type=eval_type, dataloader=val_loader), HOOKS),
                             priority=priority_of('eval'))
    if not any(isinstance(h, CheckInvalidLossHook) for h in runner.hooks):
        interval = (cfg.get('log_config') or {}).get('interval', 50)
        # Every log interval: the logger syncs then anyway, so the check costs little.
        runner.register_hook(CheckInvalidLossHook(interval=interval),
                             priority=priority_of('invalid_loss'))
    return runner, data_loaders


def train_model(model, datasets, cfg, distributed=False, validate=True, timestamp=None, meta=None,
                device=None, weights_only=True):
    """Build the runner and its hooks from ``cfg``, restore ``resume_from``/``load_from``, and run.

    A non-finite loss stops the run with an error naming the iteration (a
    ``CheckInvalidLossHook`` checking every log interval is added unless the config has one;
    ``custom_hooks=[dict(type='CheckInvalidLossHook', action='skip')]`` skips such steps
    instead). ``weights_only=False`` lets the checkpoints unpickle any object (trusted files
    only). A signal stops the run with a checkpoint and raises ``fastrun.signals.Preempted``.
    A run that ends normally logs a :class:`~fastrun.summary.RunSummary` (with the time of each
    hook per stage when the config has ``profiling=dict(hook_times=True)``).
    """
    datasets = datasets if isinstance(datasets, (list, tuple)) else [datasets]
    runner, data_loaders = build_runner_from_cfg(cfg, model, datasets, distributed, validate,
                                                 timestamp, meta, device)
    if cfg.get('resume_from'):
        runner.resume(cfg['resume_from'], weights_only=weights_only)
    elif cfg.get('load_from'):
        runner.load_checkpoint(cfg['load_from'], weights_only=weights_only)
    summary = RunSummary(runner, hook_times=hook_times_requested(cfg), config=cfg)
    runner.run(data_loaders, cfg.get('workflow', [('train', 1)]))
    summary.log()
    storage.wait_uploads()  # the summary is in the text log: a URL work dir gets it too
    return runner
