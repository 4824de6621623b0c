"""mmcv 1.x's ``mmcv.parallel.scatter_gather``: ``scatter``, ``scatter_kwargs`` (in :mod:`fastrun.data_container`)."""
from ..data_container import scatter, scatter_kwargs

__all__ = ['scatter', 'scatter_kwargs']
