"""Necks between backbone and head: ``GlobalAveragePooling``."""
import torch.nn as nn

from ..registry import MODELS

__all__ = ['GlobalAveragePooling']


@MODELS.register_module()
class GlobalAveragePooling(nn.Module):
    """Average over the spatial dims: (N, C, ...) -> (N, C); tuples are pooled element-wise.

    A feature that is already flat (N, C) passes through unchanged, so the neck can follow any
    backbone.
    """

    def __init__(self, dim=2):
        super().__init__()
        if dim not in (1, 2, 3):
            raise ValueError(f'GlobalAveragePooling dim must be 1, 2 or 3, got {dim!r}')
        self.dim = dim
        self.gap = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[dim](1)

    def init_weights(self):
        """Nothing to initialise (kept for the mmcv ``init_weights`` protocol)."""

    def _pool(self, x):
        if x.dim() == 2:
            return x
        if x.dim() != self.dim + 2:
            raise ValueError(f'GlobalAveragePooling(dim={self.dim}) expects {self.dim + 2}-d '
                             f'input, got shape {tuple(x.shape)}')
        return self.gap(x).flatten(1)

    def forward(self, inputs):
        """Pool a tensor or each tensor of a tuple."""
        if isinstance(inputs, (tuple, list)):
            return tuple(self._pool(x) for x in inputs)
        return self._pool(inputs)
