"""Classification losses with mmclassification 0.x names, arguments and reductions.

Every loss takes ``(cls_score, label, weight=None, avg_factor=None, reduction_override=None)``;
heads pass ``avg_factor=N``. ``accuracy`` / ``Accuracy`` are mmcls's top-k with a threshold.
"""
from .accuracy import Accuracy, accuracy, topk_accuracy
from .cross_entropy_loss import (CrossEntropyLoss, binary_cross_entropy, cross_entropy,
                                 soft_cross_entropy)
from .focal_loss import AsymmetricLoss, FocalLoss, asymmetric_loss, sigmoid_focal_loss
from .label_smooth_loss import LabelSmoothLoss
from .seesaw_loss import SeesawLoss
from .utils import convert_to_one_hot, reduce_loss, weight_reduce_loss

__all__ = ['Accuracy', 'AsymmetricLoss', 'CrossEntropyLoss', 'FocalLoss', 'LabelSmoothLoss',
           'SeesawLoss', 'accuracy', 'asymmetric_loss', 'binary_cross_entropy',
           'convert_to_one_hot', 'cross_entropy', 'reduce_loss', 'sigmoid_focal_loss',
           'soft_cross_entropy', 'topk_accuracy', 'weight_reduce_loss']
