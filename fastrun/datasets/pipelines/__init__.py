"""The data pipeline: transforms registered in :data:`~fastrun.registry.PIPELINES` under
mmcls 0.x's names, and :class:`Compose`."""
from .compose import Compose

__all__ = ['Compose']
