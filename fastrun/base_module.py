"""mmcv 1.x's ``mmcv.runner.base_module`` names (they live in :mod:`fastrun.models`)."""
from .models import BaseModule, ModuleDict, ModuleList, Sequential

__all__ = ['BaseModule', 'ModuleDict', 'ModuleList', 'Sequential']
