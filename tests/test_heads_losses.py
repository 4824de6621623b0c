"""Heads, losses and batch augments: values worked out by hand, and the classifier using them."""
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastrun.models import (Accuracy, Augments, ClsHead, ImageClassifier, MultiLabelClsHead,
                            MultiLabelLinearClsHead, StackedLinearClsHead, accuracy)
from fastrun.models.augments import BatchCutMixLayer, BatchMixupLayer, BatchResizeMixLayer
from fastrun.registry import MODELS


def build(**cfg):
    return MODELS.build(cfg)


def seed(s):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
LABELS = torch.tensor([0, 2])


def per_sample_ce(logits, labels):
    return -F.log_softmax(logits, 1)[torch.arange(len(labels)), labels]


# ------------------------------------------------------------------ losses
def test_cross_entropy_class_weight_scales_samples_but_not_the_mean_divisor():
    loss = build(type='CrossEntropyLoss', class_weight=[1.0, 1.0, 3.0], loss_weight=0.5)
    per = per_sample_ce(LOGITS, LABELS)
    expected = 0.5 * (per[0] * 1 + per[1] * 3) / 2  # divided by N, not by 1 + 3
    assert float(loss(LOGITS, LABELS)) == pytest.approx(float(expected), rel=1e-6)
    assert loss(LOGITS, LABELS, reduction_override='none').shape == (2,)
    assert 'class_weight' not in loss.state_dict()


def test_soft_cross_entropy_of_one_hot_targets_is_the_hard_loss():
    soft = build(type='CrossEntropyLoss', use_soft=True)
    hard = build(type='CrossEntropyLoss')
    assert float(soft(LOGITS, F.one_hot(LABELS, 3).float())) == pytest.approx(
        float(hard(LOGITS, LABELS)), rel=1e-6)
    with pytest.raises(ValueError, match='soft targets'):
        soft(LOGITS, LABELS)
    with pytest.raises(ValueError, match='simultaneously'):
        build(type='CrossEntropyLoss', use_soft=True, use_sigmoid=True)


def test_sigmoid_cross_entropy_sums_classes_under_avg_factor_and_weights_positives():
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    loss = build(type='CrossEntropyLoss', use_sigmoid=True, pos_weight=[2.0, 1.0, 1.0])
    p = torch.sigmoid(LOGITS)
    elem = -(target * torch.log(p) * torch.tensor([2.0, 1.0, 1.0]) + (1 - target) * torch.log(1 - p))
    assert float(loss(LOGITS, target, avg_factor=2)) == pytest.approx(float(elem.sum() / 2),
                                                                      rel=1e-5)
    assert float(loss(LOGITS, target)) == pytest.approx(float(elem.mean()), rel=1e-5)


@pytest.mark.parametrize('mode,target', [
    ('original', [[0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3], [0.1 / 3, 0.1 / 3, 0.9 + 0.1 / 3]]),
    ('classy_vision', [[(1 + 0.1 / 3) / 1.1, 0.1 / 3 / 1.1, 0.1 / 3 / 1.1],
                       [0.1 / 3 / 1.1, 0.1 / 3 / 1.1, (1 + 0.1 / 3) / 1.1]]),
])
def test_label_smooth_loss_targets(mode, target):
    loss = build(type='LabelSmoothLoss', label_smooth_val=0.1, mode=mode)
    expected = -(torch.tensor(target) * F.log_softmax(LOGITS, 1)).sum(1).mean()
    assert float(loss(LOGITS, LABELS)) == pytest.approx(float(expected), rel=1e-6)
    assert float(loss(LOGITS, LABELS.reshape(-1, 1))) == pytest.approx(float(expected), rel=1e-6)


def test_label_smooth_multi_label_and_its_weight_and_reduction():
    loss = build(type='LabelSmoothLoss', label_smooth_val=0.1, mode='multi_label',
                 loss_weight=2.0, reduction='sum')
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    smooth = target * 0.9 + (1 - target) * 0.1
    expected = F.binary_cross_entropy_with_logits(LOGITS, smooth, reduction='sum') * 2
    assert float(loss(LOGITS, LABELS)) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match='num_classes=5'):
        build(type='LabelSmoothLoss', label_smooth_val=0.1, num_classes=5)(LOGITS, LABELS)
    with pytest.raises(ValueError, match='mode'):
        build(type='LabelSmoothLoss', label_smooth_val=0.1, mode='smooth')


def test_focal_loss_by_hand():
    loss = build(type='FocalLoss', gamma=2.0, alpha=0.25)
    x, t = torch.tensor([[1.0, -2.0]]), torch.tensor([[1.0, 0.0]])
    p = torch.sigmoid(x)
    pos = -0.25 * (1 - p[0, 0]) ** 2 * torch.log(p[0, 0])
    neg = -0.75 * p[0, 1] ** 2 * torch.log(1 - p[0, 1])
    assert float(loss(x, t)) == pytest.approx(float((pos + neg) / 2), rel=1e-5)
    assert float(loss(x, torch.tensor([0]))) == pytest.approx(float((pos + neg) / 2), rel=1e-5)


def test_asymmetric_loss_clips_easy_negatives_to_zero():
    loss = build(type='AsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
    # sigmoid(-5) < 0.05: the negative's loss is shifted to exactly 0; the positive is plain CE
    x, t = torch.tensor([[3.0, -5.0]]), torch.tensor([[1.0, 0.0]])
    assert float(loss(x, t, reduction_override='none')[0, 1]) == 0.0
    assert float(loss(x, t, reduction_override='sum')) == pytest.approx(
        float(-torch.log(torch.sigmoid(torch.tensor(3.0)))), rel=1e-5)


def test_seesaw_loss_counts_labels_in_a_saved_buffer():
    loss = build(type='SeesawLoss', num_classes=3)
    loss(LOGITS, LABELS)
    loss(LOGITS, torch.tensor([2, 2]))
    assert loss.state_dict()['cum_samples'].tolist() == [1.0, 0.0, 3.0]
    # p=0: no mitigation; q=0: no compensation; plain cross entropy is left
    plain = build(type='SeesawLoss', num_classes=3, p=0.0, q=0.0)
    assert float(plain(LOGITS, torch.tensor([0, 0]))) == pytest.approx(
        float(per_sample_ce(LOGITS, torch.tensor([0, 0])).mean()), rel=1e-6)


def test_accuracy_needs_the_score_above_the_threshold():
    scores = torch.tensor([[-1.0, -2.0, -3.0], [3.0, 2.0, 1.0], [0.2, 0.6, 0.1]])
    target = torch.tensor([0, 0, 1])
    assert float(accuracy(scores, target)) == pytest.approx(200 / 3)  # sample 0 is below 0
    top1, top2 = accuracy(scores, target, topk=(1, 2), thrs=(0.0, 0.5))
    assert [float(a) for a in top1] == pytest.approx([200 / 3, 200 / 3])
    assert accuracy(scores.numpy(), target.numpy(), topk=(1,))[0].shape == (1,)
    assert [float(a) for a in Accuracy(topk=(1, 3))(scores, target)] == pytest.approx(
        [200 / 3, 200 / 3])


# ------------------------------------------------------------------ heads
def test_cls_head_on_logits_and_its_accuracy():
    head = ClsHead(cal_acc=True, topk=(1, 2))
    out = head.forward_train((torch.zeros(2, 3), LOGITS), LABELS)
    assert list(out) == ['accuracy', 'loss']
    assert float(out['accuracy']['top-1']) == 50.0 and float(out['accuracy']['top-2']) == 50.0
    assert float(out['loss']) == pytest.approx(float(per_sample_ce(LOGITS, LABELS).mean()))
    scores = head.simple_test(LOGITS)
    np.testing.assert_allclose(np.stack(scores), F.softmax(LOGITS, 1).numpy(), rtol=1e-6)
    # soft targets (mixup): no accuracy, no failure
    assert list(head.forward_train(LOGITS, F.one_hot(LABELS, 3).float())) == ['loss']


def test_stacked_linear_head_layers_and_keys():
    head = StackedLinearClsHead(num_classes=4, in_channels=6, mid_channels=[5, 3],
                                norm_cfg=dict(type='BN1d'), dropout_rate=0.5)
    head.init_weights()
    assert list(head.state_dict())[:3] == ['layers.0.fc.weight', 'layers.0.fc.bias',
                                           'layers.0.norm.weight']
    assert head.fc is head.layers[2] and head.layers[2].norm is None
    assert head.pre_logits(torch.randn(4, 6)).shape == (4, 3)
    head.eval()
    assert head(torch.randn(4, 6)).shape == (4, 4)
    with pytest.raises(TypeError, match='mid_channels'):
        StackedLinearClsHead(num_classes=4, in_channels=6, mid_channels=5)


def test_multi_label_heads_give_sigmoid_scores_and_count_difficult_as_positive():
    head = MultiLabelClsHead()
    gt = torch.tensor([[1, -1, 0], [0, 0, 1]])
    expected = F.binary_cross_entropy_with_logits(LOGITS, gt.abs().float(), reduction='sum') / 2
    assert float(head.forward_train(LOGITS, gt)['loss']) == pytest.approx(float(expected),
                                                                          rel=1e-6)
    np.testing.assert_allclose(np.stack(head.simple_test(LOGITS)), torch.sigmoid(LOGITS).numpy(),
                               rtol=1e-6)
    linear = MultiLabelLinearClsHead(num_classes=3, in_channels=4)
    assert list(linear.state_dict()) == ['fc.weight', 'fc.bias']
    assert linear.simple_test(torch.randn(2, 4), sigmoid=False, post_process=False).shape == (2, 3)


# ------------------------------------------------------------------ augments
def test_mixup_mixes_images_and_targets_with_one_ratio():
    img = torch.rand(4, 3, 5, 5)
    label = torch.tensor([0, 1, 2, 3])
    seed(0)
    mixed, target = BatchMixupLayer(alpha=1.0, num_classes=4)(img, label)
    seed(0)  # the draws, in mmcls's order: the ratio from numpy, the partners from torch
    lam, perm = np.random.beta(1.0, 1.0), torch.randperm(4)
    assert torch.allclose(mixed, lam * img + (1 - lam) * img[perm])
    assert torch.allclose(target, lam * torch.eye(4) + (1 - lam) * torch.eye(4)[perm])
    assert target.dtype == torch.float32 and torch.allclose(target.sum(1), torch.ones(4))


@pytest.mark.parametrize('cls,kwargs', [
    (BatchCutMixLayer, dict()), (BatchCutMixLayer, dict(cutmix_minmax=[0.3, 0.7])),
    (BatchResizeMixLayer, dict())])
def test_cutmix_label_mass_is_the_pasted_area(cls, kwargs):
    # Images constant per sample and labels = sample index: the partner's label mass in each
    # target row must equal the fraction of pixels that changed (correct_lam).
    n, h, w = 4, 10, 8
    img = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).repeat(1, 2, h, w) * 10
    for s in range(5):
        seed(s)
        out, target = cls(alpha=1.0, num_classes=n, **kwargs)(img.clone(), torch.arange(n))
        for i in range(n):
            changed = float(((out[i, 0] - img[i, 0]).abs() > 1e-3).float().mean())
            if changed:
                assert 1 - float(target[i, i]) == pytest.approx(changed, abs=1e-6)


def test_augments_pick_by_probability_with_identity_for_the_rest():
    aug = Augments([dict(type='BatchMixup', alpha=1.0, num_classes=3, prob=0.25),
                    dict(type='BatchCutMix', alpha=1.0, num_classes=3, prob=0.25)])
    assert [type(a).__name__ for a in aug.augments] == ['BatchMixupLayer', 'BatchCutMixLayer',
                                                        'Identity']
    assert aug.augment_probs[-1] == pytest.approx(0.5)
    seed(0)
    plain = 0
    label = torch.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(200):
        _, target = aug(torch.rand(6, 1, 4, 4), label)
        plain += bool(torch.equal(target, F.one_hot(label, 3).float()))
    assert 70 < plain < 130  # ~ half the batches (a mixed batch can equal one-hot, rarely)
    with pytest.raises(ValueError, match='more than 1'):
        Augments([dict(type='BatchMixup', alpha=1.0, num_classes=3, prob=0.8),
                  dict(type='BatchCutMix', alpha=1.0, num_classes=3, prob=0.8)])
    with pytest.raises(ValueError, match='alpha'):
        Augments(dict(type='BatchMixup', alpha=0.0, num_classes=3))
    with pytest.raises(KeyError, match='BatchMixUp'):
        Augments(dict(type='BatchMixUp', alpha=1.0, num_classes=3))


# ------------------------------------------------------------------ the classifier
def classifier(**kw):
    cfg = dict(type='ImageClassifier', backbone=dict(type='SmallCNN', in_channels=3,
                                                     channels=(4, 8)),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=5, in_channels=8,
                         loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1)))
    cfg.update(kw)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_classifier_trains_on_mixed_batches():
    model = classifier(train_cfg=dict(augments=[
        dict(type='BatchMixup', alpha=0.8, num_classes=5, prob=0.5),
        dict(type='BatchCutMix', alpha=1.0, num_classes=5, prob=0.5)]))
    seed(0)
    out = model.train_step(dict(img=torch.rand(4, 3, 8, 8), gt_label=torch.tensor([0, 1, 2, 3])))
    out['loss'].backward()
    assert math.isfinite(float(out['loss'].detach()))
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match='augment'):
        classifier(train_cfg=dict(augment=[]))
    with pytest.raises(ValueError, match='10-class targets but the head has num_classes=5'):
        classifier(train_cfg=dict(augments=dict(type='BatchMixup', alpha=1.0, num_classes=10)))


def test_extract_feat_stages_and_multi_label_test_argument():
    model = classifier()
    img = torch.rand(2, 3, 8, 8)
    assert torch.equal(model.extract_feat(img, stage='backbone'), model.backbone(img))
    assert model.extract_feat(img).shape == (2, 8) == model.forward_dummy(img).shape
    with pytest.raises(ValueError, match='stage'):
        model.extract_feat(img, stage='head')
    multi = ImageClassifier(backbone=dict(type='SmallCNN', in_channels=3, channels=(4, 8)),
                            neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='MultiLabelLinearClsHead', num_classes=3,
                                      in_channels=8))
    with pytest.raises(TypeError, match='sigmoid'):
        multi.simple_test(img, softmax=False)
    scores = multi(img, return_loss=False)
    assert all(((s > 0) & (s < 1)).all() for s in scores)


@pytest.mark.parametrize('loss', [dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                                       mode='classy_vision'),
                                  dict(type='CrossEntropyLoss', use_soft=True)])
def test_mixed_train_step_reads_nothing_back_from_the_tensors(monkeypatch, loss):
    # The draws are host-side (numpy, CPU randperm); nothing reads a tensor's value on the host
    # (which on a GPU would wait for the device).
    model = classifier(head=dict(type='LinearClsHead', num_classes=5, in_channels=8, loss=loss,
                                 cal_acc=True),
                       train_cfg=dict(augments=[
                           dict(type='BatchMixup', alpha=0.8, num_classes=5, prob=0.3),
                           dict(type='BatchCutMix', alpha=1.0, num_classes=5, prob=0.3),
                           dict(type='BatchResizeMix', alpha=1.0, num_classes=5, prob=0.3)]))
    seesaw = MODELS.build(dict(type='SeesawLoss', num_classes=5))
    data = dict(img=torch.rand(4, 3, 8, 8), gt_label=torch.tensor([0, 1, 2, 3]))
    calls = []
    for name in ('item', '__float__', '__int__', '__bool__', 'tolist', 'cpu', 'numpy'):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _n=name, _o=original, **k: (
            calls.append(_n), _o(self, *a, **k))[1])
    float(torch.ones(()))  # the counter does see a read
    assert calls == ['__float__']
    calls.clear()
    seed(0)
    for _ in range(6):
        out = model.train_step(dict(data, img=data['img'].clone()), None)
        out['loss'].backward()
    seesaw(torch.randn(4, 5), data['gt_label'])
    monkeypatch.undo()
    assert calls == []
