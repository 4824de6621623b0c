"""Kept for imports of the former module: the heads live in :mod:`fastrun.models.heads`."""
from .heads.vision_transformer_head import DeiTClsHead, VisionTransformerClsHead

__all__ = ['DeiTClsHead', 'VisionTransformerClsHead']
