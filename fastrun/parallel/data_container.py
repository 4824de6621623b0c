"""mmcv 1.x's ``mmcv.parallel.data_container``: :class:`DataContainer` (in :mod:`fastrun.data_container`)."""
from ..data_container import DataContainer, holds_data_container, is_data_container

__all__ = ['DataContainer', 'is_data_container', 'holds_data_container']
