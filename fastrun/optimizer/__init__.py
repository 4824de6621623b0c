"""mmcv 1.x's ``mmcv.runner.optimizer`` names (what builds optimizers: :mod:`fastrun.builder`)."""
from .builder import (OPTIMIZER_BUILDERS, OPTIMIZERS, TORCH_OPTIMIZERS, build_optimizer,
                      build_optimizer_constructor)
from .default_constructor import DefaultOptimizerConstructor
from .lamb import Lamb

__all__ = ['OPTIMIZER_BUILDERS', 'OPTIMIZERS', 'TORCH_OPTIMIZERS', 'DefaultOptimizerConstructor',
           'build_optimizer', 'build_optimizer_constructor', 'Lamb']
