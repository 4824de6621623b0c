"""EmptyCacheHook: release the CUDA caching allocator's unused blocks at chosen stages."""
import torch

from ..hook import Hook
from ..registry import HOOKS


@HOOKS.register_module()
class EmptyCacheHook(Hook):
    """``torch.cuda.empty_cache()`` before epochs, after epochs and/or after iterations.

    The generic stages apply to train and val phases alike, as in mmcv. Only the enabled stages
    are bound on the instance, so disabled ones never enter the dispatch tables (an
    ``after_iter=False`` hook costs nothing per iteration). Without CUDA it does nothing.
    """

    def __init__(self, before_epoch=False, after_epoch=True, after_iter=False):
        # Instance attributes are what the dispatch core counts as overrides (hook.stage_method).
        for stage, enabled in (('before_epoch', before_epoch), ('after_epoch', after_epoch),
                               ('after_iter', after_iter)):
            if enabled:
                setattr(self, stage, self.empty_cache)

    def empty_cache(self, runner):
        """Return cached, unused GPU memory to the device (a no-op before CUDA is initialised)."""
        torch.cuda.empty_cache()
