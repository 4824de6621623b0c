"""Batch augments of ``train_cfg.augments``: mixup, cutmix, resizemix (mmcls 0.x semantics).

Each augment maps ``(img (N, C, H, W), gt_label (N,))`` to the mixed batch and soft targets
(N, num_classes) float32, which ``CrossEntropyLoss`` (soft or ``use_soft``) and
``LabelSmoothLoss`` take. :class:`Augments` picks one per batch by the ``prob`` of each.

The random draws are mmcls's, in its order, from the same generators: a Python ``random``
seed for the choice of augment, ``np.random`` for the mixing ratio and the box, the CPU
``torch.randperm`` for the partner of each sample. Runs seeded alike (``random``, ``numpy``,
``torch``) therefore mix alike. CutMix and ResizeMix paste into ``img`` in place, as mmcls.
"""
import numbers
import random

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import AUGMENTS, build_from_cfg

__all__ = ['Augments', 'BatchCutMixLayer', 'BatchMixupLayer', 'BatchResizeMixLayer', 'Identity',
           'one_hot_encoding']


def one_hot_encoding(gt, num_classes):
    """Class indices (N,) -> one-hot float32 (N, num_classes); targets already 2-d pass through."""
    if gt.dim() != 1:
        return gt
    return F.one_hot(gt.long(), num_classes=num_classes).float()


def _check(owner, *, num_classes, prob, alpha=None):
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise ValueError(f'{owner}: num_classes must be a positive int, got {num_classes!r}')
    if not isinstance(prob, numbers.Real) or not 0.0 <= prob <= 1.0:
        raise ValueError(f'{owner}: prob must be a float in [0, 1], got {prob!r}')
    if alpha is not None and (not isinstance(alpha, numbers.Real) or not alpha > 0):
        raise ValueError(f'{owner}: alpha must be a positive float, got {alpha!r}')


def _mix_labels(one_hot, index, lam):
    return lam * one_hot + (1 - lam) * one_hot[index]


@AUGMENTS.register_module()
class Identity:
    """The batch unchanged, the labels one-hot encoded (what ``Augments`` picks otherwise)."""

    def __init__(self, num_classes, prob=1.0):
        _check('Identity', num_classes=num_classes, prob=prob)
        self.num_classes = int(num_classes)
        self.prob = float(prob)

    def __call__(self, img, gt_label):
        return img, one_hot_encoding(gt_label, self.num_classes)


@AUGMENTS.register_module(name='BatchMixup')
class BatchMixupLayer:
    """Mixup (Zhang et al. 2018): ``lam * x + (1 - lam) * x[perm]``, lam ~ Beta(alpha, alpha),
    the targets mixed alike."""

    def __init__(self, alpha, num_classes, prob=1.0):
        _check('BatchMixup', num_classes=num_classes, prob=prob, alpha=alpha)
        self.alpha = float(alpha)
        self.num_classes = int(num_classes)
        self.prob = float(prob)

    def mixup(self, img, gt_label):
        """The mixed batch and its soft targets."""
        one_hot = one_hot_encoding(gt_label, self.num_classes)
        lam = np.random.beta(self.alpha, self.alpha)
        index = torch.randperm(img.size(0)).to(img.device)
        mixed = lam * img + (1 - lam) * img[index]
        return mixed, _mix_labels(one_hot, index.to(one_hot.device), lam)

    def __call__(self, img, gt_label):
        return self.mixup(img, gt_label)


@AUGMENTS.register_module(name='BatchCutMix')
class BatchCutMixLayer:
    """CutMix (Yun et al. 2019): a box of each image replaced by the same box of its partner.

    Without ``cutmix_minmax`` the box is a square-ratio box of area ``1 - lam`` (lam ~
    Beta(alpha, alpha)) centred uniformly and clipped by the borders; with it, its height and
    width are uniform in ``[min, max)`` times the image's (alpha unused). ``correct_lam``
    (always with ``cutmix_minmax``) sets lam to the area really kept after clipping.
    """

    def __init__(self, alpha, num_classes, prob=1.0, cutmix_minmax=None, correct_lam=True):
        owner = type(self).__name__.replace('Layer', '')
        _check(owner, num_classes=num_classes, prob=prob, alpha=alpha)
        if cutmix_minmax is not None and (len(cutmix_minmax) != 2
                                          or not 0 <= cutmix_minmax[0] < cutmix_minmax[1] <= 1):
            raise ValueError(f'{owner}: cutmix_minmax must be (min, max) with 0 <= min < max '
                             f'<= 1, got {cutmix_minmax!r}')
        self.alpha = float(alpha)
        self.num_classes = int(num_classes)
        self.prob = float(prob)
        self.cutmix_minmax = cutmix_minmax
        self.correct_lam = bool(correct_lam)

    def rand_bbox_minmax(self, img_shape, count=None):
        """``(y1, y2, x1, x2)`` of a box whose sides are uniform in ``cutmix_minmax``."""
        img_h, img_w = img_shape[-2:]
        lo, hi = self.cutmix_minmax
        cut_h = np.random.randint(int(img_h * lo), int(img_h * hi), size=count)
        cut_w = np.random.randint(int(img_w * lo), int(img_w * hi), size=count)
        yl = np.random.randint(0, img_h - cut_h, size=count)
        xl = np.random.randint(0, img_w - cut_w, size=count)
        return yl, yl + cut_h, xl, xl + cut_w

    def rand_bbox(self, img_shape, lam, margin=0., count=None):
        """``(y1, y2, x1, x2)`` of a box of sides ``sqrt(1 - lam)`` times the image's, clipped."""
        ratio = np.sqrt(1 - lam)
        img_h, img_w = img_shape[-2:]
        cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
        margin_y, margin_x = int(margin * cut_h), int(margin * cut_w)
        cy = np.random.randint(0 + margin_y, img_h - margin_y, size=count)
        cx = np.random.randint(0 + margin_x, img_w - margin_x, size=count)
        yl = np.clip(cy - cut_h // 2, 0, img_h)
        yh = np.clip(cy + cut_h // 2, 0, img_h)
        xl = np.clip(cx - cut_w // 2, 0, img_w)
        xh = np.clip(cx + cut_w // 2, 0, img_w)
        return yl, yh, xl, xh

    def cutmix_bbox_and_lam(self, img_shape, lam, count=None):
        """The box and the (corrected) lam."""
        if self.cutmix_minmax is not None:
            yl, yu, xl, xu = self.rand_bbox_minmax(img_shape, count=count)
        else:
            yl, yu, xl, xu = self.rand_bbox(img_shape, lam, count=count)
        if self.correct_lam or self.cutmix_minmax is not None:
            lam = 1. - (yu - yl) * (xu - xl) / float(img_shape[-2] * img_shape[-1])
        return (yl, yu, xl, xu), lam

    def _draw_lam(self):
        return np.random.beta(self.alpha, self.alpha)

    def _paste(self, img, index, box):
        y1, y2, x1, x2 = box
        img[:, :, y1:y2, x1:x2] = img[index, :, y1:y2, x1:x2]

    def cutmix(self, img, gt_label):
        """The batch with the boxes pasted (in place) and its soft targets."""
        one_hot = one_hot_encoding(gt_label, self.num_classes)
        lam = self._draw_lam()
        index = torch.randperm(img.size(0))
        box, lam = self.cutmix_bbox_and_lam(img.shape, lam)
        self._paste(img, index.to(img.device), box)
        return img, _mix_labels(one_hot, index.to(one_hot.device), lam)

    def __call__(self, img, gt_label):
        return self.cutmix(img, gt_label)


@AUGMENTS.register_module(name='BatchResizeMix')
class BatchResizeMixLayer(BatchCutMixLayer):
    """ResizeMix (Qin et al. 2020): each partner image resized into the box, not cropped.

    lam ~ Beta(alpha, alpha) mapped to ``[lam_min, lam_max]``; ``interpolation`` is
    ``F.interpolate``'s mode. Other arguments are :class:`BatchCutMixLayer`'s.
    """

    def __init__(self, alpha, num_classes, lam_min=0.1, lam_max=0.8, interpolation='bilinear',
                 prob=1.0, cutmix_minmax=None, correct_lam=True, **kwargs):
        super().__init__(alpha=alpha, num_classes=num_classes, prob=prob,
                         cutmix_minmax=cutmix_minmax, correct_lam=correct_lam, **kwargs)
        if not 0 <= lam_min <= lam_max <= 1:
            raise ValueError(f'BatchResizeMix: need 0 <= lam_min <= lam_max <= 1, got '
                             f'{lam_min!r}, {lam_max!r}')
        self.lam_min = lam_min
        self.lam_max = lam_max
        self.interpolation = interpolation

    def _draw_lam(self):
        return np.random.beta(self.alpha, self.alpha) * (self.lam_max - self.lam_min) \
            + self.lam_min

    def _paste(self, img, index, box):
        y1, y2, x1, x2 = box
        if y2 > y1 and x2 > x1:  # an empty box (lam 1 after correction) pastes nothing
            img[:, :, y1:y2, x1:x2] = F.interpolate(img[index], size=(int(y2 - y1), int(x2 - x1)),
                                                    mode=self.interpolation)


class Augments:
    """One of several batch augments per batch, drawn by their ``prob`` (mmcls ``Augments``).

    ``augments_cfg`` is one config or a list. Without an ``Identity`` entry the probabilities
    may sum to less than 1, the remainder being an implicit ``Identity``; with one they must
    sum to 1. Targets come out one-hot / soft whichever is drawn.
    """

    def __init__(self, augments_cfg):
        if isinstance(augments_cfg, dict):
            augments_cfg = [augments_cfg]
        if not isinstance(augments_cfg, (list, tuple)) or not augments_cfg:
            raise ValueError(f'train_cfg.augments must be a config dict or a non-empty list of '
                             f'them, got {augments_cfg!r}')
        self.augments = [build_from_cfg(cfg, AUGMENTS) for cfg in augments_cfg]
        self.augment_probs = [aug.prob for aug in self.augments]
        total = sum(self.augment_probs)
        has_identity = any(cfg.get('type') == 'Identity' for cfg in augments_cfg)
        if has_identity and abs(total - 1.0) > 1e-8:
            raise ValueError(f'train_cfg.augments: with an Identity entry the probabilities '
                             f'must sum to 1, got {total:.2f}')
        if total > 1.0 + 1e-8:
            raise ValueError(f'train_cfg.augments: the probabilities sum to {total:.2f}, more '
                             f'than 1')
        nums = {aug.num_classes for aug in self.augments}
        if len(nums) > 1:
            raise ValueError(f'train_cfg.augments: the entries disagree on num_classes: '
                             f'{sorted(nums)}')
        if not has_identity:
            rest = 1 - total  # the same float as mmcls, so the seeded draws agree
            if rest > 0:
                self.augments.append(Identity(num_classes=self.augments[0].num_classes,
                                              prob=rest))
                self.augment_probs.append(rest)

    @property
    def num_classes(self):
        """The classes the soft targets have."""
        return self.augments[0].num_classes

    def __call__(self, img, gt_label):
        """``(img, soft targets)`` of one augment chosen for this batch."""
        state = np.random.RandomState(random.randint(0, 2 ** 32 - 1))
        aug = self.augments[state.choice(len(self.augments), p=self.augment_probs)]
        return aug(img, gt_label)

    def __repr__(self):
        names = ', '.join(f'{type(a).__name__}(p={p:g})'
                          for a, p in zip(self.augments, self.augment_probs))
        return f'Augments({names})'
