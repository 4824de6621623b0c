"""Reduction helpers shared by the losses (mmcls 0.x ``weight_reduce_loss`` semantics)."""
import torch.nn.functional as F

__all__ = ['REDUCTIONS', 'check_reduction', 'convert_to_one_hot', 'reduce_loss',
           'weight_reduce_loss']

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction, owner):
    """``reduction`` if it is one of 'none', 'mean', 'sum', else a ValueError naming ``owner``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f'{owner}: reduction must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def reduce_loss(loss, reduction):
    """Element-wise ``loss`` reduced by 'none', 'mean' or 'sum'."""
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def weight_reduce_loss(loss, weight=None, reduction='mean', avg_factor=None):
    """Multiply by ``weight`` (broadcast), then reduce.

    With ``avg_factor`` the 'mean' is ``loss.sum() / avg_factor`` (so an (N, C) element-wise loss
    averaged with ``avg_factor=N`` is summed over classes), and 'sum' is refused, as in mmcls.
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'mean':
        return loss.sum() / avg_factor
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def convert_to_one_hot(targets, classes):
    """Class indices (N,) or (N, 1) -> one-hot (N, classes) int64."""
    return F.one_hot(targets.long().reshape(-1), num_classes=classes)


def sample_weight(weight, pred):
    """A per-sample weight (N,) as float, shaped to broadcast over ``pred`` (N, C)."""
    if weight is None:
        return None
    if weight.dim() != 1:
        raise ValueError(f'the sample weight must be 1-d (N,), got shape {tuple(weight.shape)}')
    weight = weight.float()
    return weight.reshape(-1, 1) if pred.dim() > 1 else weight
