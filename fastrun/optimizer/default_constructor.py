"""mmcv 1.x's ``mmcv.runner.optimizer.default_constructor`` name."""
from ..builder import DefaultOptimizerConstructor

__all__ = ['DefaultOptimizerConstructor']
