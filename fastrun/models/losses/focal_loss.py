"""``FocalLoss`` (sigmoid) and ``AsymmetricLoss``: multi-label losses of mmcls 0.x."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import MODELS
from .utils import check_reduction, convert_to_one_hot, sample_weight, weight_reduce_loss

__all__ = ['AsymmetricLoss', 'FocalLoss', 'asymmetric_loss', 'sigmoid_focal_loss']


def _targets(target, pred):
    if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1 and pred.shape[1] != 1):
        target = convert_to_one_hot(target, pred.shape[-1])
    if target.shape != pred.shape:
        raise ValueError(f'targets {tuple(target.shape)} do not match the scores '
                         f'{tuple(pred.shape)}')
    return target.type_as(pred)


def sigmoid_focal_loss(pred, target, weight=None, gamma=2.0, alpha=0.25, reduction='mean',
                       avg_factor=None):
    """Element-wise sigmoid focal loss ``BCE * (alpha_t * (1 - p_t) ** gamma)`` then reduced."""
    prob = pred.sigmoid()
    pt = (1 - prob) * target + prob * (1 - target)  # 1 - p_t
    focal = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction='none') * focal
    return weight_reduce_loss(loss, sample_weight(weight, pred), reduction, avg_factor)


def asymmetric_loss(pred, target, weight=None, gamma_pos=1.0, gamma_neg=4.0, clip=0.05,
                    reduction='mean', avg_factor=None, use_sigmoid=True, eps=1e-8):
    """Element-wise asymmetric loss (Ridnik et al. 2021): negatives shifted by ``clip``."""
    prob = pred.sigmoid() if use_sigmoid else F.softmax(pred, dim=-1)
    if clip and clip > 0:
        pt = (1 - prob + clip).clamp(max=1) * (1 - target) + prob * target
    else:
        pt = (1 - prob) * (1 - target) + prob * target
    focus = (1 - pt).pow(gamma_pos * target + gamma_neg * (1 - target))
    loss = -torch.log(pt.clamp(min=eps)) * focus
    return weight_reduce_loss(loss, sample_weight(weight, pred), reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(nn.Module):
    """mmcls ``FocalLoss``: sigmoid focal loss; labels are indices (one-hot encoded) or (N, C)."""

    def __init__(self, gamma=2.0, alpha=0.25, reduction='mean', loss_weight=1.0):
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = check_reduction(reduction, 'FocalLoss')
        self.loss_weight = float(loss_weight)

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        """Loss of logits (N, C)."""
        reduction = check_reduction(reduction_override or self.reduction, 'FocalLoss')
        return self.loss_weight * sigmoid_focal_loss(
            pred, _targets(target, pred), weight, self.gamma, self.alpha, reduction, avg_factor)


@MODELS.register_module()
class AsymmetricLoss(nn.Module):
    """mmcls ``AsymmetricLoss`` (``gamma_pos``, ``gamma_neg``, ``clip``, ``use_sigmoid``, ``eps``)."""

    def __init__(self, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, reduction='mean',
                 loss_weight=1.0, use_sigmoid=True, eps=1e-8):
        super().__init__()
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.reduction = check_reduction(reduction, 'AsymmetricLoss')
        self.loss_weight = float(loss_weight)
        self.use_sigmoid = use_sigmoid
        self.eps = eps

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        """Loss of logits (N, C)."""
        reduction = check_reduction(reduction_override or self.reduction, 'AsymmetricLoss')
        return self.loss_weight * asymmetric_loss(
            pred, _targets(target, pred), weight, self.gamma_pos, self.gamma_neg, self.clip,
            reduction, avg_factor, self.use_sigmoid, self.eps)
