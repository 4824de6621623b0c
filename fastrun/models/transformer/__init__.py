"""Transformer building blocks with mmcv 1.x / mmcls 0.x names and state_dict keys.

``MultiheadAttention`` (keys ``qkv``, ``proj``), the window attentions of Swin
(``WindowMSA``, ``WindowMSAV2``, ``ShiftWindowMSA`` with its ``w_msa`` child), ``FFN`` (keys
``layers.0.0``, ``layers.1``), ``PatchEmbed`` (``projection``, ``norm``), ``PatchMerging``
(``reduction``, ``norm``), and the checkpoint resizers ``resize_pos_embed`` and
``resize_relative_position_bias_table``. Attention runs through
``torch.nn.functional.scaled_dot_product_attention``.
"""
from .attention import MultiheadAttention, ShiftWindowMSA, WindowMSA, WindowMSAV2
from .embed import (AdaptivePadding, PatchEmbed, PatchMerging, resize_pos_embed,
                    resize_relative_position_bias_table, to_2tuple)
from .ffn import FFN

__all__ = ['AdaptivePadding', 'FFN', 'MultiheadAttention', 'PatchEmbed', 'PatchMerging',
           'ShiftWindowMSA', 'WindowMSA', 'WindowMSAV2', 'resize_pos_embed',
           'resize_relative_position_bias_table', 'to_2tuple']
