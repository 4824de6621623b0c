"""The convolutional backbones (ResNet family, VGG, LeNet5, MobileNetV2) without mmcls.

Shapes per out_indices, mmcls's key names, frozen stages, norm_eval, gradient checkpointing,
zero_init_residual, channels_last and the argument errors. Weight-for-weight parity with mmcls
itself is in tests/interop/test_conv_parity.py.
"""
import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import fastrun.models as fm
from fastrun.registry import MODELS


def _build(**cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _shapes(outs):
    return [tuple(o.shape) for o in outs]


@pytest.mark.parametrize('cfg,size,expected', [
    (dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3)), 32,
     [(1, 64, 8, 8), (1, 128, 4, 4), (1, 256, 2, 2), (1, 512, 1, 1)]),
    (dict(type='ResNet', depth=50, out_indices=(-1, 1), base_channels=8, stem_channels=8), 32,
     [(1, 64, 4, 4), (1, 256, 1, 1)]),
    (dict(type='ResNetV1d', depth=18, num_stages=2, strides=(1, 2), dilations=(1, 1),
          out_indices=(1,)), 32, [(1, 128, 4, 4)]),
    (dict(type='ResNet_CIFAR', depth=18, out_indices=(0, 3)), 16,
     [(1, 64, 16, 16), (1, 512, 2, 2)]),
    (dict(type='ResNeXt', depth=50, groups=4, width_per_group=4, base_channels=16,
          stem_channels=16), 32, [(1, 512, 1, 1)]),
    (dict(type='SEResNet', depth=50, base_channels=16, stem_channels=16,
          out_indices=(0,)), 32, [(1, 64, 8, 8)]),
    (dict(type='VGG', depth=11, out_indices=(0, 4)), 32, [(1, 64, 16, 16), (1, 512, 1, 1)]),
    (dict(type='VGG', depth=11, norm_cfg=dict(type='BN'), with_last_pool=False), 32,
     [(1, 512, 2, 2)]),
    (dict(type='MobileNetV2', out_indices=(0, 2, 7)), 32,
     [(1, 16, 16, 16), (1, 32, 4, 4), (1, 1280, 1, 1)]),
    (dict(type='MobileNetV2', widen_factor=2.0), 32, [(1, 2560, 1, 1)]),
])
def test_output_shapes_follow_out_indices(cfg, size, expected):
    model = _build(**cfg).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, size, size))
    assert isinstance(outs, tuple)
    assert _shapes(outs) == expected


def test_lenet5_features_and_scores_also_for_a_batch_of_one():
    feats = _build(type='LeNet5').eval()
    scores = _build(type='LeNet5', num_classes=10).eval()
    x = torch.randn(1, 1, 32, 32)
    assert _shapes(feats(x)) == [(1, 120, 1, 1)]
    assert _shapes(scores(x)) == [(1, 10)]


def test_vgg_classifier_scores_come_last():
    model = MODELS.build(dict(type='VGG', depth=11, num_classes=7)).eval()  # no 100M-weight init
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert _shapes(outs) == [(1, 7)]  # out_indices default (5,) means the scores alone


def test_state_dict_keys_are_mmcls_names():
    keys = set(_build(type='ResNet', depth=18).state_dict())
    assert {'conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight', 'layer1.0.bn2.weight',
            'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.running_var',
            'layer4.1.bn2.num_batches_tracked'} <= keys
    v1d = set(_build(type='ResNetV1d', depth=50, base_channels=8, stem_channels=16).state_dict())
    assert {'stem.0.conv.weight', 'stem.2.bn.bias', 'layer2.0.downsample.1.weight',
            'layer2.0.downsample.2.running_mean', 'layer1.0.conv3.weight'} <= v1d
    se = set(_build(type='SEResNet', depth=50, base_channels=16, stem_channels=16).state_dict())
    assert 'layer1.0.se_layer.conv1.conv.bias' in se
    mb = set(_build(type='MobileNetV2').state_dict())
    assert {'conv1.conv.weight', 'layer1.0.conv.0.conv.weight', 'layer2.0.conv.2.bn.weight',
            'conv2.bn.running_var'} <= mb
    vgg = set(_build(type='VGG', depth=11, norm_cfg=dict(type='BN')).state_dict())
    assert {'features.0.conv.weight', 'features.0.bn.weight', 'features.2.conv.bias'} <= vgg


def _bn_stats(module):
    return {k: v.clone() for k, v in module.state_dict().items() if 'running' in k}


def test_frozen_stages_freeze_params_and_keep_their_bn_in_eval():
    model = _build(type='ResNet', depth=18, frozen_stages=1).train()
    frozen = [model.conv1, model.bn1, model.layer1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training
    before = _bn_stats(model.layer1)
    model(torch.randn(2, 3, 32, 32)).__len__()
    assert all(torch.equal(v, _bn_stats(model.layer1)[k]) for k, v in before.items())
    loss = model(torch.randn(2, 3, 32, 32))[0].sum()
    loss.backward()
    assert model.layer1[0].conv1.weight.grad is None
    assert model.layer2[0].conv1.weight.grad is not None
    # the deep stem is frozen as a whole
    v1c = _build(type='ResNetV1c', depth=18, frozen_stages=0).train()
    assert not any(p.requires_grad for p in v1c.stem.parameters())
    assert not v1c.stem[0].bn.training


def test_frozen_stages_mobilenet_and_vgg():
    mb = _build(type='MobileNetV2', frozen_stages=2).train()
    assert not any(p.requires_grad for m in (mb.conv1, mb.layer1, mb.layer2)
                   for p in m.parameters())
    assert all(p.requires_grad for p in mb.layer3.parameters())
    assert not mb.layer2[0].conv[0].bn.training and mb.layer3[0].conv[0].bn.training
    vgg = _build(type='VGG', depth=11, norm_cfg=dict(type='BN'), frozen_stages=2).train()
    assert not any(p.requires_grad for p in vgg.features[:4].parameters())
    assert all(p.requires_grad for p in vgg.features[4:].parameters())
    assert not vgg.features[0].bn.training and vgg.features[4].bn.training


def test_norm_eval_keeps_every_batch_norm_in_eval():
    model = _build(type='ResNet', depth=18, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    assert model.training and all(p.requires_grad for p in model.parameters())
    before = _bn_stats(model)
    model(torch.randn(2, 3, 32, 32))
    assert all(torch.equal(v, _bn_stats(model)[k]) for k, v in before.items())
    model.train(False).train(True)  # still eval after switching back
    assert not any(m.training for m in bns)


@pytest.mark.parametrize('cfg', [dict(type='ResNet', depth=18),
                                 dict(type='ResNet', depth=50, base_channels=8,
                                      stem_channels=8),
                                 dict(type='MobileNetV2', widen_factor=0.5)])
def test_with_cp_gives_the_same_outputs_and_grads(cfg):
    x = torch.randn(2, 3, 32, 32)
    results = []
    for with_cp in (False, True):
        model = _build(**cfg, with_cp=with_cp, norm_eval=True).train()
        out = model(x.clone().requires_grad_())[-1]
        out.square().sum().backward()
        results.append((out.detach(), {k: p.grad for k, p in model.named_parameters()}))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_b, out_a)
    assert grads_a.keys() == grads_b.keys()
    for k in grads_a:
        torch.testing.assert_close(grads_b[k], grads_a[k], atol=1e-5, rtol=1e-4)


def test_zero_init_residual_zeroes_the_last_norm_of_each_block():
    basic = _build(type='ResNet', depth=18)
    assert all(torch.count_nonzero(b.bn2.weight) == 0 for b in basic.layer1)
    assert torch.count_nonzero(basic.layer1[0].bn1.weight) > 0
    bottleneck = _build(type='ResNet', depth=50, base_channels=8, stem_channels=8)
    assert all(torch.count_nonzero(b.bn3.weight) == 0 for b in bottleneck.layer2)
    off = _build(type='ResNet', depth=18, zero_init_residual=False)
    assert torch.all(off.layer1[0].bn2.weight == 1)


def test_channels_last_same_outputs_and_layout():
    x = torch.randn(2, 3, 32, 32)
    plain = _build(type='ResNet', depth=18, out_indices=(0, 3)).eval()
    fast = _build(type='ResNet', depth=18, out_indices=(0, 3), channels_last=True).eval()
    fm.load_state_dict(fast, plain.state_dict(), strict=True)
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for a, b in zip(plain(x), fast(x)):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
            assert b.is_contiguous(memory_format=torch.channels_last)


def test_drop_path_rate_drops_residuals_in_training_only():
    model = _build(type='ResNet', depth=18, drop_path_rate=0.5)
    assert all(isinstance(b.drop_path, fm.layers.DropPath) for b in model.layer3)
    assert isinstance(_build(type='ResNet', depth=18).layer3[0].drop_path, nn.Identity)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x)[0])


@pytest.mark.parametrize('cfg,exc,words', [
    (dict(type='ResNet', depth=20), KeyError, ['depth', '20', '18, 34, 50, 101, 152']),
    (dict(type='ResNeXt', depth=18), KeyError, ['ResNeXt', 'depth', '18']),
    (dict(type='SEResNet', depth=34), KeyError, ['SEResNet', 'depth']),
    (dict(type='VGG', depth=12), KeyError, ['VGG', 'depth', '12']),
    (dict(type='ResNet', depth=18, out_indices=(4,)), ValueError, ['out_indices', '4']),
    (dict(type='ResNet', depth=18, num_stages=5), ValueError, ['num_stages']),
    (dict(type='ResNet', depth=18, strides=(1, 2)), ValueError, ['strides']),
    (dict(type='ResNet', depth=18, style='tf'), ValueError, ['style']),
    (dict(type='ResNet_CIFAR', depth=18, deep_stem=True), ValueError, ['deep_stem']),
    (dict(type='MobileNetV2', out_indices=(8,)), ValueError, ['out_indices', '8']),
    (dict(type='MobileNetV2', frozen_stages=9), ValueError, ['frozen_stages']),
])
def test_bad_arguments_name_the_argument(cfg, exc, words):
    with pytest.raises(exc) as info:
        MODELS.build(copy.deepcopy(cfg))
    for word in words:
        assert word in str(info.value)


def test_resnet_classifier_trains_a_step():
    torch.manual_seed(0)
    clf = MODELS.build(dict(
        type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    clf.init_weights()
    opt = torch.optim.SGD(clf.parameters(), lr=0.1)
    img, label = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    losses = []
    for _ in range(3):
        out = clf.train_step(dict(img=img, gt_label=label), opt)
        opt.zero_grad()
        out['loss'].backward()
        opt.step()
        losses.append(float(out['loss'].detach()))
    assert losses[-1] < losses[0]
