"""Backbones with mmclassification 0.x names, arguments and state_dict keys (and fastrun's small ones)."""
from ..necks import GlobalAveragePooling  # importable from here as before
from .small import MLP, SmallCNN

__all__ = ['GlobalAveragePooling', 'MLP', 'SmallCNN']
