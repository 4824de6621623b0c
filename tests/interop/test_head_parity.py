"""Heads, losses, batch augments and the classifier's training forward against mmcls 0.25.

The same config built by mmcls and by fastrun, fed the same inputs, gives the same losses
(accuracies included), the same test scores and the same gradients; head state_dicts have the
same keys and load strictly. Seeded alike (``random``, ``numpy``, ``torch``), the batch
augments mix the same images with the same soft targets. A whole classifier's ``train_step``
gives the same loss with augments on: its backbone is built by fastrun when fastrun has that
backbone type, and otherwise is mmcls's own module, so that the rest still is compared.
"""
import copy
import random

import numpy as np
import pytest
import torch
from mmcls.models import build_classifier, build_head, build_loss
from mmcls.models.losses import accuracy as mm_accuracy
from mmcls.models.utils.augment import Augments as MMAugments

import fastrun.models as fm
from fastrun.models.augments import Augments
from fastrun.registry import MODELS

ATOL = 1e-5
C = 6


def _seed(s):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def _scores(n=5, c=C, seed=0):
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed)) * 2


def _close(a, b, atol=ATOL):
    torch.testing.assert_close(torch.as_tensor(a).float(), torch.as_tensor(b).float(),
                               atol=atol, rtol=1e-5)


# ------------------------------------------------------------------ losses
LABELS = {
    'index': lambda: torch.tensor([0, 3, 5, 1, 3]),
    'soft': lambda: torch.softmax(_scores(seed=7), dim=1),
    'multi_hot': lambda: (_scores(seed=8) > 0.5).float(),
}
LOSSES = [
    (dict(type='CrossEntropyLoss'), 'index'),
    (dict(type='CrossEntropyLoss', loss_weight=0.5, class_weight=[1, 2, 3, 1, 1, 0.5]), 'index'),
    (dict(type='CrossEntropyLoss', reduction='sum'), 'index'),
    (dict(type='CrossEntropyLoss', use_soft=True, class_weight=[1, 2, 3, 1, 1, 0.5]), 'soft'),
    (dict(type='CrossEntropyLoss', use_sigmoid=True), 'multi_hot'),
    (dict(type='CrossEntropyLoss', use_sigmoid=True, class_weight=[1, 2, 3, 1, 1, 0.5],
          pos_weight=[2, 1, 1, 3, 1, 1]), 'multi_hot'),
    (dict(type='LabelSmoothLoss', label_smooth_val=0.1), 'index'),
    (dict(type='LabelSmoothLoss', label_smooth_val=0.1, num_classes=C), 'soft'),
    (dict(type='LabelSmoothLoss', label_smooth_val=0.2, mode='classy_vision'), 'index'),
    (dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='classy_vision'), 'soft'),
    (dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='multi_label'), 'multi_hot'),
    (dict(type='FocalLoss'), 'multi_hot'),
    (dict(type='FocalLoss', gamma=1.0, alpha=0.5, loss_weight=2.0), 'index'),
    (dict(type='AsymmetricLoss'), 'multi_hot'),
    (dict(type='AsymmetricLoss', gamma_pos=1.0, clip=0, use_sigmoid=False), 'index'),
    (dict(type='SeesawLoss', num_classes=C), 'index'),
    (dict(type='SeesawLoss', num_classes=C, p=0.0, q=1.0), 'index'),
]


def _call_kwargs(cfg):
    weight = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.5])
    yield dict()
    yield dict(weight=weight)
    yield dict(reduction_override='none')
    yield dict(reduction_override='sum', weight=weight)
    if cfg.get('reduction', 'mean') == 'mean':  # avg_factor with 'sum' is an error in both
        yield dict(avg_factor=5)
        yield dict(weight=weight, avg_factor=4)


@pytest.mark.parametrize('cfg,label', LOSSES, ids=[f"{c['type']}-{i}" for i, (c, _) in
                                                   enumerate(LOSSES)])
def test_loss_values_and_gradients_match(cfg, label):
    theirs, ours = build_loss(copy.deepcopy(cfg)), MODELS.build(copy.deepcopy(cfg))
    for kwargs in _call_kwargs(cfg):
        results = []
        for loss in (theirs, ours):
            score = _scores().requires_grad_()
            out = loss(score, LABELS[label](), **kwargs)
            out.sum().backward()
            results.append((out.detach(), score.grad))
        _close(results[1][0], results[0][0])
        _close(results[1][1], results[0][1])
    assert dict(ours.state_dict()).keys() == dict(theirs.state_dict()).keys()
    for k, v in theirs.state_dict().items():  # SeesawLoss's class counts
        _close(ours.state_dict()[k], v)


def test_label_smooth_loss_applies_loss_weight_and_reduction_unlike_mmcls():
    # mmcls 0.25 stores both and never applies them; fastrun does (documented difference).
    cfg = dict(type='LabelSmoothLoss', label_smooth_val=0.1, loss_weight=2.0, reduction='sum')
    theirs, ours = build_loss(copy.deepcopy(cfg)), MODELS.build(copy.deepcopy(cfg))
    score, label = _scores(), LABELS['index']()
    _close(ours(score, label), 2.0 * theirs(score, label, reduction_override='sum'))


@pytest.mark.parametrize('topk', [1, (1,), (1, 3), (2, 5)])
@pytest.mark.parametrize('thrs', [0., (0., 0.5, 1.0), 0.3])
def test_accuracy_matches(topk, thrs):
    pred, target = _scores(n=12, seed=3), torch.randint(0, C, (12,))
    for p, t in ((pred, target), (pred.numpy(), target.numpy())):
        theirs, ours = mm_accuracy(p, t, topk, thrs), fm.accuracy(p, t, topk, thrs)
        _close(torch.tensor(np.array(ours, dtype=np.float32)),
               torch.tensor(np.array(theirs, dtype=np.float32)))


# ------------------------------------------------------------------ heads
HEADS = [
    (dict(type='ClsHead', cal_acc=True, topk=(1, 3)), 'logits'),
    (dict(type='LinearClsHead', num_classes=C, in_channels=8), 'feat'),
    (dict(type='LinearClsHead', num_classes=C, in_channels=8, cal_acc=True, topk=(1, 5),
          loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='classy_vision')),
     'feat'),
    (dict(type='LinearClsHead', num_classes=C, in_channels=8,
          loss=dict(type='CrossEntropyLoss', use_soft=True)), 'feat-soft'),
    (dict(type='StackedLinearClsHead', num_classes=C, in_channels=8, mid_channels=[12, 10],
          cal_acc=True), 'feat'),
    (dict(type='StackedLinearClsHead', num_classes=C, in_channels=8, mid_channels=[12],
          dropout_rate=0.3, norm_cfg=dict(type='BN1d'), act_cfg=dict(type='HSwish')), 'feat'),
    (dict(type='MultiLabelClsHead'), 'logits-multi'),
    (dict(type='MultiLabelLinearClsHead', num_classes=C, in_channels=8), 'feat-multi'),
    (dict(type='MultiLabelLinearClsHead', num_classes=C, in_channels=8,
          loss=dict(type='AsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0)), 'feat-multi'),
    (dict(type='MultiLabelLinearClsHead', num_classes=C, in_channels=8,
          loss=dict(type='FocalLoss')), 'feat-multi'),
    (dict(type='VisionTransformerClsHead', num_classes=C, in_channels=8, hidden_dim=16,
          cal_acc=True), 'tokens'),
    (dict(type='DeiTClsHead', num_classes=C, in_channels=8), 'tokens3'),
]


def _head_input(kind, seed=1):
    g = torch.Generator().manual_seed(seed)
    n = 5
    feat = torch.randn(n, 8, generator=g)
    x = {'logits': _scores(seed=seed), 'logits-multi': _scores(seed=seed),
         'feat': feat, 'feat-soft': feat, 'feat-multi': feat,
         'tokens': ((torch.randn(n, 8, 2, 2, generator=g), feat),),
         'tokens3': ((torch.randn(n, 8, 2, 2, generator=g), feat, feat.flip(1)),)}[kind]
    if kind in ('logits', 'feat', 'tokens', 'tokens3'):
        label = torch.tensor([0, 3, 5, 1, 3])
    elif kind == 'feat-soft':
        label = LABELS['soft']()
    else:
        label = LABELS['multi_hot']()
    # A tuple of stages (the last is used), as a backbone with out_indices gives.
    return ((torch.zeros(n, 8), x) if kind in ('feat', 'feat-multi') else x), label


def _perturbed(head, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in head.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return head


@pytest.mark.parametrize('cfg,kind', HEADS, ids=[f"{c['type']}-{i}" for i, (c, _) in
                                                 enumerate(HEADS)])
def test_head_losses_scores_and_keys_match(cfg, kind):
    torch.manual_seed(0)
    theirs = build_head(copy.deepcopy(cfg))
    theirs.init_weights()
    ours = MODELS.build(copy.deepcopy(cfg))
    ours.init_weights()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _perturbed(theirs)
    report = fm.load_state_dict(ours, theirs.state_dict(), strict=True)
    assert report == dict(missing=[], unexpected=[], mismatched=[])
    x, label = _head_input(kind)
    losses = []
    for head in (theirs, ours):
        head.train()
        torch.manual_seed(5)  # dropout draws alike
        out = head.forward_train(x, label)
        if out['loss'].requires_grad:  # ClsHead and MultiLabelClsHead have no parameters
            out['loss'].backward()
        grads = {k: p.grad.clone() for k, p in head.named_parameters()}
        losses.append((out, grads))
    (theirs_out, theirs_grad), (ours_out, ours_grad) = losses
    assert list(ours_out) == list(theirs_out)
    _close(ours_out['loss'], theirs_out['loss'])
    for k, v in theirs_out.get('accuracy', {}).items():
        _close(ours_out['accuracy'][k], v)
    for k, v in theirs_grad.items():
        _close(ours_grad[k], v)
    theirs.eval(), ours.eval()
    multi = 'multi' in kind
    act = 'sigmoid' if multi else 'softmax'
    with torch.no_grad():
        a, b = theirs.simple_test(x), ours.simple_test(x)
        assert isinstance(b, list) and len(b) == len(a) and all(isinstance(s, np.ndarray) for s in b)
        np.testing.assert_allclose(np.stack(b), np.stack(a), atol=ATOL)
        a = theirs.simple_test(x, **{act: False, 'post_process': False})
        b = ours.simple_test(x, **{act: False, 'post_process': False})
        _close(b, a)


# ------------------------------------------------------------------ batch augments
AUGMENTS = [
    dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=1.0),
    dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=1.0),
    dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=1.0, correct_lam=False),
    dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=1.0, cutmix_minmax=[0.2, 0.8]),
    dict(type='BatchResizeMix', alpha=1.0, num_classes=C, prob=1.0),
    dict(type='BatchResizeMix', alpha=2.0, num_classes=C, lam_min=0.3, lam_max=0.6,
         interpolation='nearest'),
    [dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.5),
     dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=0.5)],
    [dict(type='BatchMixup', alpha=0.2, num_classes=C, prob=0.3),
     dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=0.3)],  # 0.4 plain one-hot
    [dict(type='BatchMixup', alpha=0.2, num_classes=C, prob=0.5),
     dict(type='Identity', num_classes=C, prob=0.5)],
    dict(type='Identity', num_classes=C, prob=1.0),
]


@pytest.mark.parametrize('cfg', AUGMENTS, ids=lambda c: '+'.join(
    d['type'] for d in ([c] if isinstance(c, dict) else c)))
def test_augments_mix_alike_under_the_same_seed(cfg):
    theirs, ours = MMAugments(copy.deepcopy(cfg)), Augments(copy.deepcopy(cfg))
    img = torch.rand(6, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    label = torch.tensor([0, 1, 2, 3, 4, 5])
    for step in range(6):  # several batches: the choice among augments too
        outs = []
        for aug in (theirs, ours):
            _seed(100 + step)
            outs.append(aug(img.clone(), label.clone()))
            outs[-1] += (random.random(), np.random.rand(), torch.rand(1))  # streams left alike
        (ti, tl, *t_rest), (oi, ol, *o_rest) = outs
        assert torch.equal(oi, ti)
        _close(ol, tl, atol=1e-6)
        assert ol.dtype == torch.float32 and ol.shape == (6, C)
        assert t_rest[:2] == o_rest[:2] and torch.equal(t_rest[2], o_rest[2])


def test_augments_probabilities_are_checked_as_mmcls():
    with pytest.raises(ValueError, match='sum'):
        Augments([dict(type='BatchMixup', alpha=1.0, num_classes=C, prob=0.7),
                  dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=0.7)])
    with pytest.raises(ValueError, match='sum to 1'):
        Augments([dict(type='BatchMixup', alpha=1.0, num_classes=C, prob=0.3),
                  dict(type='Identity', num_classes=C, prob=0.3)])
    with pytest.raises(AssertionError):
        MMAugments([dict(type='BatchMixup', alpha=1.0, num_classes=C, prob=0.3),
                    dict(type='Identity', num_classes=C, prob=0.3)])


# ------------------------------------------------------------------ a whole classifier
CLASSIFIERS = {
    'lenet-clshead': dict(
        type='ImageClassifier', backbone=dict(type='LeNet5', num_classes=C),
        neck=None, head=dict(type='ClsHead', loss=dict(type='CrossEntropyLoss'))),
    'resnet-cifar-mixup': dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=4, out_indices=(3,),
                      style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=C, in_channels=512,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True)),
        train_cfg=dict(augments=dict(type='BatchMixup', alpha=1., num_classes=C, prob=1.))),
    'resnet-cifar-smooth-mix-cut': dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=4, out_indices=(3,),
                      style='pytorch'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=C, in_channels=512,
                  loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
        train_cfg=dict(augments=[dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.4),
                                 dict(type='BatchCutMix', alpha=1.0, num_classes=C,
                                      prob=0.4)])),
}
INPUT = {'lenet-clshead': (1, 32), 'resnet-cifar-mixup': (3, 16),
         'resnet-cifar-smooth-mix-cut': (3, 16)}


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_classifier_train_step_and_test_match(name):
    cfg = CLASSIFIERS[name]
    torch.manual_seed(0)
    theirs = build_classifier(copy.deepcopy(cfg))
    theirs.init_weights()
    _perturbed(theirs, seed=1)
    ours_cfg = copy.deepcopy(cfg)
    native = MODELS.get(cfg['backbone']['type']) is not None
    if not native:  # fastrun has no such backbone yet: mmcls's module stands in for it
        ours_cfg['backbone'] = copy.deepcopy(theirs.backbone)
    ours = MODELS.build(ours_cfg)
    report = fm.load_state_dict(ours, theirs.state_dict(), strict=True)
    assert report == dict(missing=[], unexpected=[], mismatched=[])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    chans, size = INPUT[name]
    img = torch.rand(4, chans, size, size, generator=torch.Generator().manual_seed(2))
    label = torch.tensor([0, 5, 2, 2])
    for step in range(3):
        outs = []
        for model in (theirs, ours):
            model.train()
            _seed(10 + step)
            out = model.train_step(dict(img=img.clone(), gt_label=label.clone()), None)
            outs.append(out)
        _close(outs[1]['loss'], outs[0]['loss'], atol=1e-4)
        assert set(outs[1]['log_vars']) == set(outs[0]['log_vars'])
        assert outs[1]['num_samples'] == outs[0]['num_samples']
    theirs.eval(), ours.eval()
    with torch.no_grad():
        np.testing.assert_allclose(np.stack(ours(img, return_loss=False)),
                                   np.stack(theirs(img, return_loss=False)), atol=1e-5)
        for stage in ('backbone', 'neck', 'pre_logits'):
            a, b = theirs.extract_feat(img, stage=stage), ours.extract_feat(img, stage=stage)
            a = a if isinstance(a, tuple) else (a,)
            b = b if isinstance(b, tuple) else (b,)
            assert len(a) == len(b)
            for x, y in zip(a, b):
                _close(y, x, atol=1e-4)


def test_head_loads_from_an_mmcls_checkpoint_with_prefix(tmp_path):
    """A head's ``init_cfg=dict(type='Pretrained', prefix='head')`` takes its weights from an
    mmcls classifier checkpoint (``{'state_dict': ..., 'meta': ...}``, saved by mmcv)."""
    from mmcv.runner import save_checkpoint
    cfg = CLASSIFIERS['resnet-cifar-mixup']
    torch.manual_seed(0)
    theirs = build_classifier(copy.deepcopy(cfg))
    theirs.init_weights()
    _perturbed(theirs, seed=3)
    path = str(tmp_path / 'mmcls.pth')
    save_checkpoint(theirs, path, meta=dict(note='parity'))
    head_cfg = dict(cfg['head'], init_cfg=dict(type='Pretrained', checkpoint=path, prefix='head'))
    ours = MODELS.build(head_cfg)
    ours.init_weights()
    for k, v in theirs.head.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k
