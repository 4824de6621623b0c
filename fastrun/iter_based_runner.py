"""mmcv 1.x's ``mmcv.runner.iter_based_runner`` names (they live in :mod:`fastrun.runner`)."""
from .runner import IterBasedRunner, IterLoader

__all__ = ['IterBasedRunner', 'IterLoader']
