"""mmcv 1.x's ``mmcv.parallel.registry``: the model wrappers checkpoints and hooks look through.

``@MODULE_WRAPPERS.register_module()`` on a wrapper class whose ``.module`` is the model makes
:func:`~fastrun.dist.is_module_wrapper` true for its instances: ``save_checkpoint``,
``load_checkpoint``, ``get_state_dict`` and the hooks then use the model inside. torch's
DataParallel and DistributedDataParallel are registered (fastrun's MMDataParallel and
MMDistributedDataParallel are subclasses of them). The registry itself lives with every other
one in :mod:`fastrun.registry`.
"""
from ..registry import MODULE_WRAPPERS

__all__ = ['MODULE_WRAPPERS']
