"""fastrun: a hook-driven PyTorch training runner with mmcv 1.x semantics and a compiled core.

The public names are imported on first use (PEP 562): ``import fastrun`` alone does not import
torch, so the ``fastrun`` command reports an error in a config file before paying for it.
``from fastrun import Runner, HOOKS, Hook`` and ``fastrun.CORE`` work as plain imports do.
"""
import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and editors read; at run time __getattr__ imports them
    from ._core import CORE
    from .amp import LossScaler, auto_fp16, force_fp32, wrap_fp16_model
    from .builder import (DefaultOptimizerConstructor, build_optimizer, build_optimizer_constructor,
                          set_random_seed)
    from .checkpoint import (CheckpointLoader, _load_checkpoint, _load_checkpoint_with_prefix,
                             load_checkpoint, load_state_dict, save_checkpoint, weights_to_cpu)
    from .config import Config, ConfigDict, ConfigError, DictAction
    from .dist import allreduce_grads, allreduce_params, get_dist_info, init_dist, master_only
    from .evaluation import multi_gpu_test, single_gpu_test
    from .hook import STAGES, Hook
    from .hooks import *  # noqa: F401,F403
    from .log import get_host_info, get_logger, get_time_str, print_log
    from .log_buffer import LogBuffer
    from .models import BaseModule, ModuleDict, ModuleList, Sequential
    from .parallel import MMDataParallel, MMDistributedDataParallel
    from .priority import Priority, get_priority
    from .registry import (DATASETS, HOOKS, MODELS, OPTIMIZER_BUILDERS, OPTIMIZERS, RUNNER_BUILDERS,
                           RUNNERS, Registry, build_from_cfg)
    from .runner import (BaseRunner, DefaultRunnerConstructor, EpochBasedRunner, IterBasedRunner,
                         IterLoader, Runner, build_runner)
    from .sampler import ResumableSampler
    from .signals import Preempted
    from .utils import obj_from_dict

# module (relative to this package) -> the public names it provides: the names imported
# above for type checkers, and every name of ``fastrun.hooks.__all__`` (tests/test_lazy_import.py
# checks that the three agree).
_PROVIDERS = {
    '._core': ('CORE',),
    '.amp': ('LossScaler', 'auto_fp16', 'force_fp32', 'wrap_fp16_model'),
    '.checkpoint': ('CheckpointLoader', '_load_checkpoint', '_load_checkpoint_with_prefix',
                    'load_checkpoint', 'load_state_dict', 'save_checkpoint', 'weights_to_cpu'),
    '.config': ('Config', 'ConfigDict', 'ConfigError', 'DictAction'),
    '.dist': ('allreduce_grads', 'allreduce_params', 'get_dist_info', 'init_dist', 'master_only'),
    '.hook': ('STAGES', 'Hook'),
    '.log_buffer': ('LogBuffer',),
    '.log': ('get_host_info', 'get_logger', 'get_time_str', 'print_log'),
    '.models': ('BaseModule', 'ModuleDict', 'ModuleList', 'Sequential'),
    '.parallel': ('MMDataParallel', 'MMDistributedDataParallel'),
    '.priority': ('Priority', 'get_priority'),
    '.registry': ('DATASETS', 'HOOKS', 'MODELS', 'OPTIMIZER_BUILDERS', 'OPTIMIZERS',
                  'RUNNER_BUILDERS', 'RUNNERS', 'Registry', 'build_from_cfg'),
    '.runner': ('BaseRunner', 'DefaultRunnerConstructor', 'EpochBasedRunner', 'IterBasedRunner',
                'IterLoader', 'Runner', 'build_runner'),
    '.builder': ('DefaultOptimizerConstructor', 'build_optimizer', 'build_optimizer_constructor',
                 'set_random_seed'),
    '.evaluation': ('multi_gpu_test', 'single_gpu_test'),
    '.sampler': ('ResumableSampler',),
    '.signals': ('Preempted',),
    '.utils': ('obj_from_dict',),
    '.hooks': (
        'IterTimerHook', 'OptimizerHook', 'ProgressBarHook', 'CheckpointHook',
        'EarlyStoppingHook', 'EvalHook', 'EvaluationHook', 'DistEvalHook', 'ClosureHook',
        'EMAHook', 'CheckInvalidLossHook', 'EmptyCacheHook', 'AmpOptimizerHook',
        'Fp16OptimizerHook', 'GradientCumulativeOptimizerHook',
        'GradientCumulativeFp16OptimizerHook', 'ProfilerHook', 'DistSamplerSeedHook',
        'SyncBuffersHook', 'LoggerHook', 'TextLoggerHook', 'TensorboardLoggerHook',
        'WandbLoggerHook', 'MlflowLoggerHook', 'DvcliveLoggerHook', 'NeptuneLoggerHook',
        'ClearMLLoggerHook', 'SegmindLoggerHook', 'PaviLoggerHook', 'LrUpdaterHook',
        'FixedLrUpdaterHook', 'StepLrUpdaterHook', 'ExpLrUpdaterHook', 'PolyLrUpdaterHook',
        'InvLrUpdaterHook', 'CosineAnnealingLrUpdaterHook', 'FlatCosineAnnealingLrUpdaterHook',
        'CosineRestartLrUpdaterHook', 'CyclicLrUpdaterHook', 'OneCycleLrUpdaterHook',
        'LinearAnnealingLrUpdaterHook', 'MomentumUpdaterHook', 'StepMomentumUpdaterHook',
        'CosineAnnealingMomentumUpdaterHook', 'LinearAnnealingMomentumUpdaterHook',
        'CyclicMomentumUpdaterHook', 'OneCycleMomentumUpdaterHook',
        'PreciseBNHook', 'ClassNumCheckHook', 'CosineAnnealingCooldownLrUpdaterHook'),
}
_PROVIDER_OF = {name: module for module, names in _PROVIDERS.items() for name in names}

__all__ = list(_PROVIDER_OF)


def __getattr__(name):
    """Import the module that provides ``name`` (a public name or a submodule) on first use."""
    module = _PROVIDER_OF.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
    elif not name.startswith('__'):
        try:  # `fastrun.hooks`, `fastrun.checkpoint`, ... as after a full import
            value = importlib.import_module(f'.{name}', __name__)
        except ModuleNotFoundError as e:
            if e.name != f'{__name__}.{name}':
                raise  # the submodule exists but needs something missing
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
