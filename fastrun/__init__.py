"""fastrun: a hook-driven PyTorch training runner with mmcv 1.x semantics and a compiled core."""
from ._version import __version__

from ._core import CORE
from .amp import auto_fp16, force_fp32, wrap_fp16_model
from .checkpoint import load_checkpoint, load_state_dict, save_checkpoint, weights_to_cpu
from .config import Config, ConfigDict, ConfigError, DictAction
from . import datasets, models  # noqa: F401  (register the bundled data sets and models)
from .dist import get_dist_info, init_dist, master_only
from .hook import STAGES, Hook
from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .log_buffer import LogBuffer
from .log import get_host_info, get_logger, get_time_str, print_log
from .models import BaseModule, ModuleDict, ModuleList, Sequential
from .parallel import MMDataParallel, MMDistributedDataParallel
from .priority import Priority, get_priority
from .registry import (DATASETS, HOOKS, MODELS, OPTIMIZER_BUILDERS, OPTIMIZERS, RUNNERS, Registry,
                       build_from_cfg)
from .runner import BaseRunner, EpochBasedRunner, IterBasedRunner, IterLoader, Runner, build_runner
from .builder import DefaultOptimizerConstructor, build_optimizer, set_random_seed
from .evaluation import multi_gpu_test, single_gpu_test
from .sampler import ResumableSampler
from .signals import Preempted

__all__ = ['CORE', 'STAGES', 'Hook', 'Priority', 'get_priority', 'Registry', 'build_from_cfg',
           'HOOKS', 'MODELS', 'DATASETS', 'OPTIMIZERS', 'RUNNERS', 'Runner', 'EpochBasedRunner',
           'IterBasedRunner', 'IterLoader', 'build_runner', 'LogBuffer', 'get_logger', 'print_log',
           'get_dist_info', 'master_only', 'save_checkpoint', 'load_checkpoint', 'Config',
           'ConfigDict', 'ConfigError', 'DictAction', 'BaseRunner', 'OPTIMIZER_BUILDERS',
           'DefaultOptimizerConstructor', 'build_optimizer', 'set_random_seed', 'init_dist',
           'load_state_dict', 'weights_to_cpu', 'get_host_info', 'get_time_str', 'BaseModule',
           'ModuleList', 'ModuleDict', 'Sequential', 'auto_fp16', 'force_fp32', 'wrap_fp16_model',
           'single_gpu_test', 'multi_gpu_test', 'ResumableSampler', 'Preempted', 'MMDataParallel',
           'MMDistributedDataParallel'] + _hooks_all
