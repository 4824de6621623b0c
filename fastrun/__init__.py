"""fastrun: a hook-driven PyTorch training runner with mmcv 1.x semantics and a compiled core."""
__version__ = '0.1.0'

from ._core import CORE
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, ConfigDict, ConfigError, DictAction
from . import datasets, models  # noqa: F401  (register the bundled data sets and models)
from .dist import get_dist_info, master_only
from .hook import STAGES, Hook
from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .log_buffer import LogBuffer
from .log import get_logger, print_log
from .priority import Priority, get_priority
from .registry import DATASETS, HOOKS, MODELS, OPTIMIZERS, RUNNERS, Registry, build_from_cfg
from .runner import EpochBasedRunner, IterBasedRunner, IterLoader, Runner, build_runner

__all__ = ['CORE', 'STAGES', 'Hook', 'Priority', 'get_priority', 'Registry', 'build_from_cfg',
           'HOOKS', 'MODELS', 'DATASETS', 'OPTIMIZERS', 'RUNNERS', 'Runner', 'EpochBasedRunner',
           'IterBasedRunner', 'IterLoader', 'build_runner', 'LogBuffer', 'get_logger', 'print_log',
           'get_dist_info', 'master_only', 'save_checkpoint', 'load_checkpoint', 'Config',
           'ConfigDict', 'ConfigError', 'DictAction'] + _hooks_all
