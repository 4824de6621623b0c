"""Convolutional backbones weight for weight against mmcls 0.25.

For each config, mmcls's backbone is built, initialised and its weights and batch-norm
statistics perturbed; its state_dict loads into fastrun's model of the same config strictly
(the same keys, in the same order), and in eval mode both give the same feature maps for
every output index. An mmcls ResNet-18 classifier saved as a checkpoint loads into fastrun's
backbone through ``init_cfg=dict(type='Pretrained', prefix='backbone')``.
"""
import copy

import pytest
import torch
from mmcls.models import build_backbone, build_classifier

import fastrun.models as fm
from fastrun.registry import MODELS

ALL4 = dict(out_indices=(0, 1, 2, 3))

CASES = {
    'resnet18-all-outs': (dict(type='ResNet', depth=18, **ALL4), 32),
    'resnet34-frozen-norm-eval': (dict(type='ResNet', depth=34, frozen_stages=2,
                                       norm_eval=True), 32),
    'resnet50-caffe-dilated': (dict(type='ResNet', depth=50, style='caffe', num_stages=3,
                                    strides=(1, 2, 1), dilations=(1, 1, 2), out_indices=(1, 2),
                                    base_channels=16, stem_channels=16), 32),
    'resnet18-gn-expansion': (dict(type='ResNet', depth=18, norm_cfg=dict(type='GN',
                                                                          num_groups=4),
                                   base_channels=16, stem_channels=16, **ALL4), 32),
    'resnet101-narrow': (dict(type='ResNet', depth=101, base_channels=8, stem_channels=8), 32),
    'resnetv1c-18': (dict(type='ResNetV1c', depth=18, **ALL4), 32),
    'resnetv1d-50': (dict(type='ResNetV1d', depth=50, base_channels=16, stem_channels=32,
                          **ALL4), 32),
    'resnet-cifar-18': (dict(type='ResNet_CIFAR', depth=18, **ALL4), 16),
    'resnet-cifar-50': (dict(type='ResNet_CIFAR', depth=50, base_channels=16,
                             stem_channels=16), 16),
    'resnext50-32x4d': (dict(type='ResNeXt', depth=50, groups=32, width_per_group=4,
                             out_indices=(2, 3)), 32),
    'resnext50-groups8': (dict(type='ResNeXt', depth=50, groups=8, width_per_group=2,
                               base_channels=16, stem_channels=16, avg_down=True), 32),
    'seresnet50': (dict(type='SEResNet', depth=50, base_channels=16, stem_channels=16,
                        **ALL4), 32),
    'seresnext50': (dict(type='SEResNeXt', depth=50, groups=8, width_per_group=4,
                         base_channels=16, stem_channels=16), 32),
    'vgg11': (dict(type='VGG', depth=11, out_indices=(0, 1, 2, 3, 4)), 32),
    'vgg13-bn-no-last-pool': (dict(type='VGG', depth=13, norm_cfg=dict(type='BN'),
                                   with_last_pool=False, out_indices=(2, 4)), 32),
    'vgg16-bn-3-stages': (dict(type='VGG', depth=16, num_stages=3, dilations=(1, 1, 2),
                               norm_cfg=dict(type='BN'), out_indices=(0, 1, 2),
                               ceil_mode=True), 20),
    'vgg19-classifier': (dict(type='VGG', depth=19, num_classes=10), 224),
    'lenet5': (dict(type='LeNet5', num_classes=10), 32),
    'lenet5-features': (dict(type='LeNet5'), 32),
    'mobilenetv2': (dict(type='MobileNetV2', out_indices=tuple(range(8))), 32),
    'mobilenetv2-widen-frozen': (dict(type='MobileNetV2', widen_factor=1.5, frozen_stages=3,
                                      out_indices=(7,)), 32),
    'mobilenetv2-narrow-relu': (dict(type='MobileNetV2', widen_factor=0.5,
                                     act_cfg=dict(type='ReLU'), out_indices=(2, 5)), 32),
}


def _perturb(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.mul_(1 + torch.rand(t.shape, generator=gen))  # stays positive
            else:
                t.add_(torch.randn(t.shape, generator=gen) * 0.05)
    return model


def _pair(cfg):
    torch.manual_seed(0)
    theirs = build_backbone(copy.deepcopy(cfg))
    theirs.init_weights()
    _perturb(theirs)
    ours = MODELS.build(copy.deepcopy(cfg))
    report = fm.load_state_dict(ours, theirs.state_dict(), strict=True)
    assert report == dict(missing=[], unexpected=[], mismatched=[])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.eval(), ours.eval()
    return theirs, ours


def _assert_same(a, b):
    assert isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        torch.testing.assert_close(y, x, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('name', list(CASES))
def test_backbone_weight_for_weight(name):
    cfg, size = CASES[name]
    theirs, ours = _pair(cfg)
    channels = 1 if cfg['type'] == 'LeNet5' else 3
    batch = 1 if cfg.get('num_classes', -1) > 0 and cfg['type'] == 'VGG' else 2
    x = torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x.clone()), ours(x.clone())
    _assert_same(expected, got)
    assert len(got) >= 1


@pytest.mark.parametrize('name', ['resnet34-frozen-norm-eval', 'mobilenetv2-widen-frozen',
                                  'vgg13-bn-no-last-pool'])
def test_trainable_parameters_match_in_train_mode(name):
    """frozen_stages and norm_eval leave the same parameters trainable as mmcls."""
    cfg, _ = CASES[name]
    theirs, ours = _pair(dict(cfg, frozen_stages=cfg.get('frozen_stages', 2)))
    theirs.train(), ours.train()
    trainable = {k for k, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {k for k, p in theirs.named_parameters() if p.requires_grad}
    assert trainable and len(trainable) < len(dict(ours.named_parameters()))


def test_resnet_channels_last_same_outputs():
    theirs, _ = _pair(CASES['resnet18-all-outs'][0])
    ours = MODELS.build(dict(CASES['resnet18-all-outs'][0], channels_last=True))
    fm.load_state_dict(ours, theirs.state_dict(), strict=True)
    ours.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _assert_same(theirs(x), ours(x))


def test_mmcls_classifier_checkpoint_loads_through_pretrained(tmp_path):
    torch.manual_seed(0)
    clf = build_classifier(dict(
        type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    clf.init_weights()
    _perturb(clf)
    clf.eval()
    path = tmp_path / 'resnet18_mmcls.pth'
    torch.save(dict(meta=dict(), state_dict=clf.state_dict()), path)

    ours = MODELS.build(dict(type='ResNet', depth=18, init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone')))
    ours.init_weights()
    ours.eval()
    expected = {k[len('backbone.'):]: v for k, v in clf.state_dict().items()
                if k.startswith('backbone.')}
    got = ours.state_dict()
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert torch.equal(got[k], v), k  # zero_init_residual did not overwrite bn2
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        _assert_same(clf.backbone(x), ours(x))
