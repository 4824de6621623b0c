"""mmcv 1.x's ``mmcv.runner.optimizer.builder`` names.

``OPTIMIZERS`` holds every ``torch.optim`` class (``TORCH_OPTIMIZERS`` lists their names, the
base ``Optimizer`` included, as mmcv's); ``OPTIMIZER_BUILDERS`` the optimizer constructors.
"""
from ..builder import build_optimizer, build_optimizer_constructor
from ..registry import OPTIMIZER_BUILDERS, OPTIMIZERS, TORCH_OPTIMIZERS

__all__ = ['OPTIMIZER_BUILDERS', 'OPTIMIZERS', 'TORCH_OPTIMIZERS', 'build_optimizer',
           'build_optimizer_constructor']
