"""The hooks fastrun ships; each module registers its hooks in ``fastrun.HOOKS``."""
from ..hook import Hook
from .iter_timer import IterTimerHook
from .optimizer import OptimizerHook

__all__ = ['Hook', 'IterTimerHook', 'OptimizerHook']
