"""mmcls 0.x's ``policy='CosineAnnealingCooldown'``: cosine annealing, then a flat cool-down.

The LR follows a cosine from ``base_lr`` to the target (``min_lr``, or ``base_lr *
min_lr_ratio``: exactly one of them) over the first ``max - cool_down_time`` epochs (iterations
with ``by_epoch=False``); afterwards it stays at ``target * cool_down_ratio``. The warmup
arguments are the LrUpdaterHook's.
"""
from ..registry import HOOKS
from .lr_updater import LrUpdaterHook, _check_min, annealing_cos

__all__ = ['CosineAnnealingCooldownLrUpdaterHook']


@HOOKS.register_module()
class CosineAnnealingCooldownLrUpdaterHook(LrUpdaterHook):
    """Cosine annealing to ``min_lr`` (``min_lr_ratio``), then ``cool_down_ratio`` of it."""

    def __init__(self, min_lr=None, min_lr_ratio=None, cool_down_ratio=0.1, cool_down_time=10,
                 **kwargs):
        _check_min(min_lr, min_lr_ratio, 'min_lr')
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        self.cool_down_time = cool_down_time
        self.cool_down_ratio = cool_down_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        progress, max_progress = self._progress(runner)
        target = base_lr * self.min_lr_ratio if self.min_lr_ratio is not None else self.min_lr
        anneal_end = max_progress - self.cool_down_time
        if progress > anneal_end:
            return target * self.cool_down_ratio
        return annealing_cos(base_lr, target, progress / anneal_end)
