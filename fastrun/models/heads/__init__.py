"""Classification heads with mmclassification 0.x names, arguments and state_dict keys.

``ClsHead`` is the base of the single-label heads (``loss``, ``topk``, ``cal_acc``), and
``MultiLabelClsHead`` of the multi-label ones. The losses live in :mod:`fastrun.models.losses`;
``CrossEntropyLoss`` and ``topk_accuracy`` are importable from here as before.
"""
from ..losses import CrossEntropyLoss, topk_accuracy
from .cls_head import ClsHead
from .linear_head import LinearClsHead, StackedLinearClsHead
from .multi_label_head import MultiLabelClsHead, MultiLabelLinearClsHead
from .vision_transformer_head import DeiTClsHead, VisionTransformerClsHead

__all__ = ['ClsHead', 'CrossEntropyLoss', 'DeiTClsHead', 'LinearClsHead', 'MultiLabelClsHead',
           'MultiLabelLinearClsHead', 'StackedLinearClsHead', 'VisionTransformerClsHead',
           'topk_accuracy']
