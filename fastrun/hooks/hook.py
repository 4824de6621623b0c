"""mmcv 1.x's ``mmcv.runner.hooks.hook`` names: the hook base class and the hook registry."""
from ..hook import STAGES, Hook
from ..registry import HOOKS

__all__ = ['HOOKS', 'Hook', 'STAGES']
