"""mmcv 1.x's ``mmcv.runner.base_runner`` name (it lives in :mod:`fastrun.runner`)."""
from .runner import BaseRunner

__all__ = ['BaseRunner']
