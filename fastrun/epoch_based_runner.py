"""mmcv 1.x's ``mmcv.runner.epoch_based_runner`` names (they live in :mod:`fastrun.runner`)."""
from .runner import EpochBasedRunner, Runner

__all__ = ['EpochBasedRunner', 'Runner']
