"""Models: the train_step contract (no host sync), init_cfg / Pretrained loading, heads, training."""
import logging
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from fastrun.datasets import SyntheticClassification
from fastrun.models import (MLP, BaseModule, CrossEntropyLoss, GlobalAveragePooling,
                            ImageClassifier, LinearClsHead, SmallCNN, initialize, load_state_dict)
from fastrun.registry import MODELS, build_from_cfg


def cnn_classifier(channels=(8, 16), num_classes=10, **head_kwargs):
    """A SmallCNN classifier built from its config, as a runner would."""
    cfg = dict(type='ImageClassifier',
               backbone=dict(type='SmallCNN', in_channels=3, channels=channels),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=num_classes,
                         in_channels=channels[-1], **head_kwargs))
    model = build_from_cfg(cfg, MODELS)
    model.init_weights()
    return model


def batch(n=8, shape=(3, 8, 8), num_classes=10):
    ds = SyntheticClassification(num_samples=n, shape=shape, num_classes=num_classes)
    return next(iter(DataLoader(ds, batch_size=n)))


# ------------------------------------------------------------------ forward / train_step contract
def test_forward_train_and_test_outputs():
    torch.manual_seed(0)
    model = cnn_classifier(cal_acc=True, topk=(1, 5))
    data = batch()
    losses = model(**data)
    assert set(losses) == {'loss', 'accuracy'} and set(losses['accuracy']) == {'top-1', 'top-5'}
    model.eval()
    scores = model(data['img'], return_loss=False)
    assert isinstance(scores, list) and len(scores) == 8
    assert all(isinstance(s, np.ndarray) and s.shape == (10,) for s in scores)
    np.testing.assert_allclose([s.sum() for s in scores], 1.0, rtol=1e-5)
    logits = model.simple_test(data['img'], softmax=False, post_process=False)
    assert torch.is_tensor(logits) and logits.shape == (8, 10)
    with pytest.raises(NotImplementedError):
        model.forward_test([data['img'], data['img']])


def test_train_step_returns_tensor_log_vars_and_loss_with_grad():
    torch.manual_seed(0)
    model = cnn_classifier(cal_acc=True)
    data = batch()
    out = model.train_step(data, None)
    assert set(out) == {'loss', 'log_vars', 'num_samples'} and out['num_samples'] == 8
    assert out['loss'].requires_grad and out['loss'].dim() == 0
    assert isinstance(out['log_vars'], OrderedDict)
    assert list(out['log_vars']) == ['top-1', 'loss']
    for name, value in out['log_vars'].items():
        assert torch.is_tensor(value), name
        assert value.dim() == 0 and not value.requires_grad and value.grad_fn is None, name
        assert value.device == out['loss'].device
    assert torch.equal(out['log_vars']['loss'], out['loss'].detach())
    # the optimizer is not stepped inside train_step (the runner's OptimizerHook does it)
    before = [p.detach().clone() for p in model.parameters()]
    model.train_step(data, torch.optim.SGD(model.parameters(), lr=1.0))
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    with torch.no_grad():
        val = model.val_step(data, None)
    assert not val['loss'].requires_grad and set(val['log_vars']) == {'top-1', 'loss'}


SYNC_METHODS = ('item', '__float__', '__int__', '__bool__', 'tolist', 'cpu', 'numpy')


def test_train_step_makes_no_host_sync(monkeypatch):
    torch.manual_seed(0)
    model = cnn_classifier(cal_acc=True, topk=(1, 5), loss=dict(
        type='CrossEntropyLoss', label_smooth_val=0.1))
    data = batch()
    calls = []

    def counting(name, original):
        def wrapper(self, *args, **kwargs):
            calls.append(name)
            return original(self, *args, **kwargs)
        return wrapper

    for name in SYNC_METHODS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    # the counter does see real calls ...
    float(torch.ones(()))
    assert calls == ['__float__']
    calls.clear()
    # ... and train_step / val_step / the backward make none
    out = model.train_step(data, None)
    out['loss'].backward()
    with torch.no_grad():
        model.val_step(data, None)
    assert calls == [], f'host-device syncs in train_step/val_step: {calls}'
    monkeypatch.undo()
    assert float(out['log_vars']['loss']) > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_train_step_makes_no_cuda_sync():
    # On a GPU, CUDA's own sync detector: any synchronising call in the step raises.
    torch.manual_seed(0)
    model = cnn_classifier(cal_acc=True, topk=(1, 5)).cuda()
    data = {k: v.cuda() for k, v in batch().items()}
    model.train_step(data, None)['loss'].backward()      # warm-up: library handles, allocator
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        out = model.train_step(data, None)
        out['loss'].backward()
        with torch.no_grad():
            val = model.val_step(data, None)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert all(v.is_cuda for v in list(out['log_vars'].values()) + list(val['log_vars'].values()))


def test_parse_losses_sums_loss_terms_and_lists():
    loss_a = torch.tensor([1.0, 3.0], requires_grad=True)       # mean 2
    aux = [torch.tensor(0.5, requires_grad=True), torch.tensor([1.0, 2.0])]  # 0.5 + 1.5
    loss, log_vars = ImageClassifier._parse_losses(OrderedDict(
        loss_cls=loss_a, loss_aux=aux, acc=torch.tensor(90.0), accuracy={'top-1': torch.tensor(80.)}))
    assert loss.requires_grad and float(loss.detach()) == pytest.approx(4.0)
    assert list(log_vars) == ['loss_cls', 'loss_aux', 'acc', 'top-1', 'loss']
    assert {k: float(v) for k, v in log_vars.items()} == pytest.approx(
        {'loss_cls': 2.0, 'loss_aux': 2.0, 'acc': 90.0, 'top-1': 80.0, 'loss': 4.0})
    assert not any(v.requires_grad for v in log_vars.values())
    with pytest.raises(TypeError, match='loss_x'):
        ImageClassifier._parse_losses({'loss_x': 1.0})
    with pytest.raises(KeyError, match='no loss term'):
        ImageClassifier._parse_losses({'acc': torch.tensor(1.0)})


# ------------------------------------------------------------------ heads and losses
def test_cross_entropy_label_smoothing_matches_hand_formula():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    labels = torch.tensor([0, 2])
    eps, c = 0.3, 3
    target = torch.nn.functional.one_hot(labels, c) * (1 - eps) + eps / c
    expected = -(target * logits.log_softmax(1)).sum(1).mean()
    loss = build_from_cfg(dict(type='CrossEntropyLoss', label_smooth_val=eps, loss_weight=2.0),
                          MODELS)
    assert float(loss(logits, labels)) == pytest.approx(2.0 * float(expected), rel=1e-6)
    plain = CrossEntropyLoss()
    assert float(plain(logits, labels)) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-6)
    # soft targets (mixup style) and per-sample weights with avg_factor, mmcls API
    soft = torch.nn.functional.one_hot(labels, c).float()
    assert float(plain(logits, soft)) == pytest.approx(float(plain(logits, labels)), rel=1e-6)
    per = plain(logits, labels, reduction_override='none')
    w = torch.tensor([1.0, 0.0])
    assert float(plain(logits, labels, weight=w, avg_factor=4)) == pytest.approx(
        float(per[0]) / 4, rel=1e-6)


def test_linear_head_accuracy_values():
    head = LinearClsHead(num_classes=3, in_channels=3, cal_acc=True, topk=(1, 2))
    with torch.no_grad():
        head.fc.weight.copy_(torch.eye(3))
        head.fc.bias.zero_()
    x = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    out = head.forward_train(x, torch.tensor([0, 1, 0, 1]))
    # top-1 right: sample 0 only; top-2 adds sample 1 -> 25%, 50%
    assert float(out['accuracy']['top-1']) == pytest.approx(25.0)
    assert float(out['accuracy']['top-2']) == pytest.approx(50.0)
    with pytest.raises(ValueError, match='topk'):
        LinearClsHead(num_classes=3, in_channels=3, cal_acc=True, topk=(1, 5))


def test_backbones_and_neck_shapes():
    assert MLP(64, hidden_channels=(32, 16))(torch.zeros(2, 1, 8, 8)).shape == (2, 16)
    assert MLP(64, hidden_channels=()).out_channels == 64
    with pytest.raises(ValueError, match=r'\(N, 64\)'):
        MLP(64)(torch.zeros(2, 3, 8, 8))
    cnn = SmallCNN(in_channels=1, channels=(4, 8, 8))
    assert cnn.out_channels == 8 and cnn(torch.zeros(2, 1, 8, 8)).shape == (2, 8)
    assert cnn(torch.zeros(2, 1, 1, 1)).shape == (2, 8)        # tiny input survives pooling
    gap = GlobalAveragePooling()
    x = torch.arange(16.).reshape(1, 1, 4, 4)
    assert gap(x).shape == (1, 1) and float(gap(x)) == pytest.approx(7.5)
    assert gap((x, x))[1].shape == (1, 1) and torch.equal(gap(torch.ones(2, 5)), torch.ones(2, 5))


# ------------------------------------------------------------------ init_cfg
def test_initializers_follow_layer_names():
    class Net(BaseModule):
        def __init__(self, init_cfg):
            super().__init__(init_cfg)
            self.conv = nn.Conv2d(1, 2, 3)
            self.bn = nn.BatchNorm2d(2)
            self.fc = nn.Linear(2, 2)

    net = Net([dict(type='Constant', val=0.5, bias=0.25, layer='Linear'),
               dict(type='Constant', val=2.0, layer='_BatchNorm'),   # a base-class name
               dict(type='Normal', std=1e-3, layer='Conv2d',
                    override=dict(name='fc', type='Constant', val=3.0))])
    net.init_weights()
    assert torch.all(net.fc.weight == 3.0) and torch.all(net.fc.bias == 0)  # override last
    assert torch.all(net.bn.weight == 2.0) and torch.all(net.bn.bias == 0)
    assert float(net.conv.weight.detach().abs().max()) < 0.01 and torch.all(net.conv.bias == 0)
    with pytest.warns(UserWarning, match='more than once'):
        net.init_weights()
    lin = nn.Linear(50, 50)
    initialize(lin, dict(type='Xavier', layer='Linear', distribution='uniform', gain=1.0))
    assert float(lin.weight.detach().abs().max()) <= (6 / 100) ** 0.5
    initialize(lin, dict(type='Kaiming', layer='Linear', mode='fan_in'))
    assert 0.1 < float(lin.weight.detach().std()) < 0.3   # sqrt(2 / 50) = 0.2
    with pytest.raises(KeyError, match='Orthogonal'):
        initialize(lin, dict(type='Orthogonal', layer='Linear'))


def test_pretrained_prefix_loads_classifier_backbone(tmp_path, caplog):
    torch.manual_seed(0)
    trained = cnn_classifier()
    path = tmp_path / 'epoch_1.pth'
    # the mmcv checkpoint layout: weights under 'state_dict', next to meta
    torch.save({'meta': {'epoch': 1}, 'state_dict': trained.state_dict()}, path)

    torch.manual_seed(1)
    fresh = SmallCNN(in_channels=3, channels=(8, 16), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    assert not torch.equal(fresh.layers[0].weight, trained.backbone.layers[0].weight)
    with caplog.at_level(logging.WARNING, logger='fastrun'):
        fresh.init_weights()
    for key, value in trained.backbone.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert not caplog.records   # an exact match reports nothing

    # a deeper backbone: its third block is missing from the checkpoint, reported not raised
    deeper = SmallCNN(in_channels=3, channels=(8, 16, 16), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone'))
    with caplog.at_level(logging.WARNING, logger='fastrun'):
        deeper.init_weights()
    text = caplog.text
    assert 'missing keys in source state_dict (5)' in text and 'layers.8.weight' in text
    assert 'num_batches_tracked' not in text
    assert torch.equal(deeper.layers[0].weight, trained.backbone.layers[0].weight)

    # a shallower one: the checkpoint's second block is unexpected
    caplog.clear()
    shallow = SmallCNN(in_channels=3, channels=(8,), init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    with caplog.at_level(logging.WARNING, logger='fastrun'):
        shallow.init_weights()
    assert 'unexpected keys in source state_dict (6)' in caplog.text
    assert 'layers.4.weight' in caplog.text


def test_shape_mismatch_is_skipped_and_reported(tmp_path, caplog):
    torch.manual_seed(0)
    src = cnn_classifier(channels=(8, 16))
    dst = cnn_classifier(channels=(8, 32), num_classes=10)
    before = dst.backbone.layers[4].weight.detach().clone()
    with caplog.at_level(logging.WARNING, logger='fastrun'):
        report = load_state_dict(dst, src.state_dict())
    mismatched = {k: (a, b) for k, a, b in report['mismatched']}
    assert mismatched['backbone.layers.4.weight'] == ((16, 8, 3, 3), (32, 8, 3, 3))
    assert mismatched['head.fc.weight'] == ((10, 16), (10, 32))
    assert report['missing'] == [] and report['unexpected'] == []
    assert torch.equal(dst.backbone.layers[4].weight, before)           # skipped, not loaded
    assert torch.equal(dst.backbone.layers[0].weight, src.backbone.layers[0].weight)
    assert 'size mismatch, not loaded (6)' in caplog.text
    with pytest.raises(RuntimeError, match='head.fc.weight'):
        load_state_dict(dst, src.state_dict(), strict=True)


def test_pretrained_on_backbone_wins_over_parent_init(tmp_path):
    torch.manual_seed(0)
    backbone = SmallCNN(in_channels=3, channels=(8, 16))
    backbone.init_weights()
    path = tmp_path / 'backbone.pth'
    # a raw state dict saved from a DataParallel-style wrapper: keys start with 'module.'
    torch.save({'module.' + k: v for k, v in backbone.state_dict().items()}, path)
    model = build_from_cfg(dict(
        type='ImageClassifier',
        init_cfg=dict(type='Constant', val=0.0, layer=['Conv2d', 'Linear']),
        backbone=dict(type='SmallCNN', in_channels=3, channels=(8, 16),
                      init_cfg=dict(type='Pretrained', checkpoint=str(path))),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=16,
                  init_cfg=dict(type='Constant', val=1.0, layer='Linear'))), MODELS)
    model.init_weights()
    assert torch.equal(model.backbone.layers[0].weight, backbone.layers[0].weight)
    assert torch.all(model.head.fc.weight == 1.0)     # the child's own init_cfg ran after the parent's


def test_missing_checkpoint_names_path_and_key(tmp_path):
    path = tmp_path / 'nope.pth'
    model = SmallCNN(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(FileNotFoundError, match=r"nope\.pth.*init_cfg key 'checkpoint'"):
        model.init_weights()
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(1)}}, path)
    model = SmallCNN(init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    with pytest.raises(ValueError, match="prefix 'backbone.'"):
        model.init_weights()


def test_deprecated_pretrained_argument(tmp_path):
    path = tmp_path / 'whole.pth'
    torch.manual_seed(0)
    src = cnn_classifier()
    torch.save(src.state_dict(), path)
    with pytest.warns(DeprecationWarning, match='pretrained is deprecated'):
        model = ImageClassifier(backbone=dict(type='SmallCNN', in_channels=3, channels=(8, 16)),
                                head=dict(type='LinearClsHead', num_classes=10, in_channels=16),
                                neck=dict(type='GlobalAveragePooling'), pretrained=str(path))
    model.init_weights()
    for key, value in src.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


# ------------------------------------------------------------------ it learns
def test_thirty_sgd_steps_lower_the_loss():
    torch.manual_seed(0)
    ds = SyntheticClassification(num_samples=256, shape=(3, 8, 8), num_classes=4, seed=0)
    model = build_from_cfg(dict(
        type='ImageClassifier', backbone=dict(type='MLP', in_channels=192, hidden_channels=(64,)),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=64)), MODELS)
    model.init_weights()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(ds, batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    full = {'img': ds.imgs, 'gt_label': ds.gt_labels}
    with torch.no_grad():
        start = float(model.val_step(full)['loss'])
    steps = 0
    while steps < 30:
        for data in loader:
            out = model.train_step(data, opt)
            opt.zero_grad()
            out['loss'].backward()
            opt.step()
            steps += 1
            if steps == 30:
                break
    with torch.no_grad():
        end = float(model.val_step(full)['loss'])
    assert end < 0.7 * start, (start, end)
    model.eval()
    acc = ds.evaluate(model(ds.imgs, return_loss=False), metric_options={'topk': (1,)})
    assert acc['accuracy_top-1'] > 60
