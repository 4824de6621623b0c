"""``ImageClassifier``: backbone -> (neck) -> head, with the mmcv ``train_step`` contract."""
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn

from ..registry import MODELS, build_from_cfg
from .augments import Augments
from .base import BaseModule
from .heads import MultiLabelClsHead

__all__ = ['ImageClassifier']


def _build(cfg):
    return cfg if isinstance(cfg, nn.Module) else build_from_cfg(cfg, MODELS)


@MODELS.register_module()
class ImageClassifier(BaseModule):
    """mmclassification 0.x ``ImageClassifier``; ``backbone``/``neck``/``head`` are MODELS configs.

    ``forward(img, return_loss=True, **kw)`` runs ``forward_train(img, gt_label)`` (a losses
    dict) or ``forward_test(img)`` (a list of per-sample softmax score arrays). ``train_step`` and
    ``val_step`` return ``dict(loss, log_vars, num_samples)`` with every log var a detached 0-dim
    tensor on the model's device: nothing in them synchronises host and device. They do not step
    the optimizer (the runner's OptimizerHook does), nor average across processes.
    ``pretrained=PATH`` is the deprecated spelling of ``init_cfg=dict(type='Pretrained', ...)``.
    ``train_cfg=dict(augments=...)`` mixes each training batch (BatchMixup, BatchCutMix,
    BatchResizeMix, Identity: :mod:`fastrun.models.augments`) before the head sees it.
    """

    def __init__(self, backbone, head, neck=None, pretrained=None, init_cfg=None, train_cfg=None):
        super().__init__(init_cfg)
        if pretrained is not None:
            warnings.warn('ImageClassifier: pretrained is deprecated, use '
                          "init_cfg=dict(type='Pretrained', checkpoint=...)", DeprecationWarning)
            self.init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if head is None:
            raise ValueError('ImageClassifier needs a head config')
        self.augments = None
        if train_cfg:
            unknown = sorted(set(train_cfg) - {'augments'})
            if unknown:
                raise ValueError(f'unknown train_cfg keys {unknown} (mmcls reads only '
                                 f'"augments")')
            if train_cfg.get('augments') is not None:
                self.augments = Augments(train_cfg['augments'])
        self.train_cfg = train_cfg
        self.backbone = _build(backbone)
        self.neck = _build(neck) if neck is not None else None
        self.head = _build(head)
        head_classes = getattr(self.head, 'num_classes', None)
        if self.augments is not None and head_classes is not None \
                and self.augments.num_classes != head_classes:
            # mmcls would fail at the first step, deep in the loss; say it before training.
            raise ValueError(f'train_cfg.augments make {self.augments.num_classes}-class '
                             f'targets but the head has num_classes={head_classes}')

    @property
    def with_neck(self):
        """Whether a neck sits between backbone and head."""
        return self.neck is not None

    @property
    def with_head(self):
        """Whether the classifier has a head (always, here; kept for mmcls callers)."""
        return self.head is not None

    def extract_feat(self, img, stage='neck'):
        """Features of ``img`` after ``stage``: 'backbone', 'neck' (the default; the backbone's
        when there is no neck) or 'pre_logits' (the head's input to its last layer)."""
        if stage not in ('backbone', 'neck', 'pre_logits'):
            raise ValueError(f'Invalid output stage "{stage}", please choose from "backbone", '
                             '"neck" and "pre_logits"')
        x = self.backbone(img)
        if stage == 'backbone':
            return x
        if self.neck is not None:
            x = self.neck(x)
        if stage == 'neck':
            return x
        return self.head.pre_logits(x) if hasattr(self.head, 'pre_logits') else x

    def forward_dummy(self, img):
        """The pre-logits feature (what mmcls's FLOPs counter runs)."""
        return self.extract_feat(img, stage='pre_logits')

    def forward_train(self, img, gt_label, **kwargs):
        """Losses dict of the head for a batch (extra data keys such as img_metas are ignored).

        With ``train_cfg.augments`` the batch is mixed first and the head gets soft targets.
        """
        if self.augments is not None:
            img, gt_label = self.augments(img, gt_label)
        return dict(self.head.forward_train(self.extract_feat(img), gt_label))

    def simple_test(self, img, img_metas=None, **kwargs):
        """Per-sample class scores (softmax, or sigmoid for a multi-label head) as a list of
        numpy arrays; ``softmax=False`` / ``sigmoid=False`` and ``post_process`` go to the head."""
        if isinstance(self.head, MultiLabelClsHead) and 'softmax' in kwargs:
            raise TypeError('Please use `sigmoid` instead of `softmax` in multi-label tasks.')
        return self.head.simple_test(self.extract_feat(img), **kwargs)

    def forward_test(self, imgs, **kwargs):
        """``simple_test`` of a tensor (or a one-element list); test-time augmentation is absent."""
        if isinstance(imgs, torch.Tensor):
            imgs = [imgs]
        if not isinstance(imgs, list):
            raise TypeError(f'imgs must be a Tensor or a list of Tensors, got {type(imgs).__name__}')
        if len(imgs) != 1:
            raise NotImplementedError('aug_test (several augmented views) is not implemented')
        return self.simple_test(imgs[0], **kwargs)

    def forward(self, img, return_loss=True, **kwargs):
        """mmcls dispatch: losses when ``return_loss`` (needs ``gt_label``), else scores."""
        if return_loss:
            return self.forward_train(img, **kwargs)
        return self.forward_test(img, **kwargs)

    @staticmethod
    def _parse_losses(losses):
        """``(loss, log_vars)`` from a losses dict, without any host-device sync.

        Tensor values are averaged, lists of tensors summed after averaging, dict values (such
        as ``accuracy``) flattened into log_vars. ``loss`` sums the entries whose key contains
        ``'loss'`` and keeps its graph; ``log_vars`` (its ``'loss'`` entry being that total) are
        detached 0-dim tensors, left on the device for the runner to average and sync when it logs.
        """
        log_vars = OrderedDict()
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                log_vars[name] = value.mean()
            elif isinstance(value, (list, tuple)) and value and all(
                    isinstance(v, torch.Tensor) for v in value):
                log_vars[name] = sum(v.mean() for v in value)
            elif isinstance(value, dict):
                for sub, v in value.items():
                    if not isinstance(v, torch.Tensor):
                        raise TypeError(f'{name}.{sub} is a {type(v).__name__}, not a tensor')
                    log_vars[sub] = v.mean()
            else:
                raise TypeError(f'{name} is not a tensor or list of tensors '
                                f'(got {type(value).__name__})')
        terms = [v for k, v in log_vars.items() if 'loss' in k]
        if not terms:
            raise KeyError(f'no loss term: no key of {list(losses)} contains "loss"')
        loss = sum(terms[1:], terms[0])
        log_vars['loss'] = loss
        for k in log_vars:
            log_vars[k] = log_vars[k].detach()
        return loss, log_vars

    def train_step(self, data, optimizer=None, **kwargs):
        """One forward + loss on ``data`` (a dict with img, gt_label); no backward, no step."""
        losses = self(**data)
        loss, log_vars = self._parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data['img']))

    def val_step(self, data, optimizer=None, **kwargs):
        """Same as :meth:`train_step` (mmcls); the runner runs it under no_grad."""
        losses = self(**data)
        loss, log_vars = self._parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data['img']))
