"""mmcv 1.x's ``mmcv.runner.dist_utils`` names (what they do: :mod:`fastrun.dist`)."""
from .dist import (allreduce_grads, allreduce_params, get_dist_info, init_dist, is_module_wrapper,
                   master_only)

__all__ = ['allreduce_grads', 'allreduce_params', 'get_dist_info', 'init_dist', 'master_only',
           'is_module_wrapper']
