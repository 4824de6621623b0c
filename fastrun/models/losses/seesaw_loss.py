"""``SeesawLoss``: softmax cross entropy re-weighted for long-tailed classes (mmcls 0.x)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import MODELS
from .utils import check_reduction, sample_weight, weight_reduce_loss

__all__ = ['SeesawLoss']


def seesaw_ce_loss(cls_score, labels, weight, cum_samples, num_classes, p, q, eps,
                   reduction='mean', avg_factor=None):
    """Cross entropy whose negative logits are shifted by log of the seesaw weights."""
    onehot = F.one_hot(labels, num_classes)
    seesaw = cls_score.new_ones(onehot.shape)
    if p > 0:
        # Mitigation: a frequent class's logit is damped on samples of a rarer one.
        ratio = cum_samples[None, :].clamp(min=1) / cum_samples[:, None].clamp(min=1)
        below = (ratio < 1.0).float()
        seesaw = seesaw * (ratio.pow(p) * below + (1 - below))[labels]
    if q > 0:
        # Compensation: a wrongly high-scoring negative is penalised more.
        scores = F.softmax(cls_score.detach(), dim=1)
        own = scores.gather(1, labels[:, None]).clamp(min=eps)
        ratio = scores / own
        above = (ratio > 1.0).float()
        seesaw = seesaw * (ratio.pow(q) * above + (1 - above))
    cls_score = cls_score + seesaw.log() * (1 - onehot)
    loss = F.cross_entropy(cls_score, labels, reduction='none')
    return weight_reduce_loss(loss, sample_weight(weight, loss), reduction, avg_factor)


@MODELS.register_module()
class SeesawLoss(nn.Module):
    """mmcls ``SeesawLoss`` (Wang et al. 2021): ``p`` mitigation, ``q`` compensation.

    ``cum_samples`` (a saved buffer, key ``cum_samples``) counts the labels seen per class; it
    is updated on the device at every call, without a host sync.
    """

    def __init__(self, use_sigmoid=False, p=0.8, q=2.0, num_classes=1000, eps=1e-2,
                 reduction='mean', loss_weight=1.0):
        super().__init__()
        if use_sigmoid:
            raise ValueError('SeesawLoss: use_sigmoid is not supported')
        self.use_sigmoid = False
        self.p, self.q, self.eps = p, q, eps
        self.num_classes = int(num_classes)
        self.reduction = check_reduction(reduction, 'SeesawLoss')
        self.loss_weight = float(loss_weight)
        self.register_buffer('cum_samples', torch.zeros(self.num_classes, dtype=torch.float))

    def forward(self, cls_score, labels, weight=None, avg_factor=None, reduction_override=None):
        """Loss of logits (N, num_classes) against class indices (N,)."""
        reduction = check_reduction(reduction_override or self.reduction, 'SeesawLoss')
        labels = labels.reshape(-1)
        if cls_score.shape[0] != labels.shape[0] or cls_score.shape[-1] != self.num_classes:
            raise ValueError(f'SeesawLoss: scores {tuple(cls_score.shape)} need '
                             f'{self.num_classes} classes and one label per sample '
                             f'(got {labels.shape[0]})')
        # index_add_, not bincount: bincount sizes its output from the data (a host sync).
        self.cum_samples.index_add_(0, labels,
                                    torch.ones_like(labels, dtype=self.cum_samples.dtype))
        return self.loss_weight * seesaw_ce_loss(
            cls_score, labels, weight, self.cum_samples, self.num_classes, self.p, self.q,
            self.eps, reduction, avg_factor)
