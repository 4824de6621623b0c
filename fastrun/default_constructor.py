"""mmcv 1.x's ``mmcv.runner.default_constructor`` name (it lives in :mod:`fastrun.runner`)."""
from .runner import DefaultRunnerConstructor

__all__ = ['DefaultRunnerConstructor']
