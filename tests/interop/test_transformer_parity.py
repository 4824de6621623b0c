"""Transformer backbones and heads weight for weight against mmcls 0.25.

Each mmcls model is built from a config, its weights perturbed away from their (often zero)
initial values; its state_dict then loads into fastrun's model of the same config strictly,
and both give the same features and scores in eval mode, and the same gradients in training
mode. Checkpoints made for another image or window size load as mmcls loads them.
"""
import copy

import numpy as np
import pytest
import torch
from mmcls.models import build_backbone, build_classifier

import fastrun.models as fm
from fastrun.models.transformer import resize_relative_position_bias_table
from fastrun.registry import MODELS

ATOL = 1e-4
TINY_VIT = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)
TINY_SWIN = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4])
TINY_SWIN_V2 = dict(TINY_SWIN, extra_norm_every_n_blocks=1)
TINY_CONVNEXT = dict(depths=[1, 1, 2, 1], channels=[16, 32, 48, 64])


def _perturb(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


def _pair(cfg, builder=build_backbone):
    torch.manual_seed(0)
    theirs = builder(copy.deepcopy(cfg))
    theirs.init_weights()
    _perturb(theirs)
    ours = MODELS.build(copy.deepcopy(cfg))
    own_buffers = {k: v.clone() for k, v in ours.state_dict().items()
                   if k in dict(ours.named_buffers())}
    report = fm.load_state_dict(ours, theirs.state_dict(), strict=True)
    assert report == dict(missing=[], unexpected=[], mismatched=[])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # The buffers fastrun computes itself (relative position index, coordinate tables) are
    # mmcls's, so loading changed nothing in them.
    for k, v in own_buffers.items():
        assert torch.equal(v, theirs.state_dict()[k]), k
    theirs.eval(), ours.eval()  # mmcls's backbones' train() returns None
    return theirs, ours


def _flat(out):
    if torch.is_tensor(out):
        return [out]
    return [t for o in out for t in _flat(o)]


def _assert_same(a, b, atol=ATOL):
    a, b = _flat(a), _flat(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        torch.testing.assert_close(y, x, atol=atol, rtol=1e-4)


BACKBONES = {
    'vit-custom': (dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8,
                        out_indices=[0, -1]), 32),
    'vit-no-cls-out': (dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8,
                            output_cls_token=False, with_cls_token=False, final_norm=False), 32),
    'deit-tiny': (dict(type='VisionTransformer', arch='deit-tiny', img_size=32, patch_size=16), 32),
    'deit-distilled': (dict(type='DistilledVisionTransformer', arch=TINY_VIT, img_size=32,
                            patch_size=8), 32),
    'vit-other-input-size': (dict(type='VisionTransformer', arch=TINY_VIT, img_size=32,
                                  patch_size=8), 48),
    'swin-tiny-w7-padded': (dict(type='SwinTransformer', arch='tiny', img_size=56,
                                 pad_small_map=True, out_indices=(0, 1, 2, 3)), 56),
    'swin-custom-w3-odd-input': (dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64,
                                      window_size=3, pad_small_map=True,
                                      use_abs_pos_embed=True), 60),
    'swin-w2-after-downsample': (dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64,
                                      window_size=2, out_after_downsample=True,
                                      out_indices=(0, 2)), 64),
    'swinv2-custom': (dict(type='SwinTransformerV2', arch=TINY_SWIN_V2, img_size=64,
                           window_size=[4, 4, 4, 2], pretrained_window_sizes=[3, 3, 3, 2],
                           out_indices=(1, 3)), 64),
    'swinv2-tiny': (dict(type='SwinTransformerV2', arch='tiny', img_size=64, window_size=2), 64),
    'convnext-tiny': (dict(type='ConvNeXt', arch='tiny'), 32),
    'convnext-maps': (dict(type='ConvNeXt', arch=TINY_CONVNEXT, out_indices=[0, 1, 2, 3],
                           gap_before_final_norm=False, linear_pw_conv=False), 32),
}


@pytest.mark.parametrize('name', list(BACKBONES))
def test_backbone_features_match_mmcls(name):
    cfg, size = BACKBONES[name]
    theirs, ours = _pair(cfg)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _assert_same(theirs(x), ours(x))


CLASSIFIERS = {
    'vit-head-hidden': (dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8),
        neck=None,
        head=dict(type='VisionTransformerClsHead', num_classes=5, in_channels=64,
                  hidden_dim=32)), 32),
    'deit-distilled-head': (dict(
        type='ImageClassifier',
        backbone=dict(type='DistilledVisionTransformer', arch=TINY_VIT, img_size=32,
                      patch_size=8),
        neck=None,
        head=dict(type='DeiTClsHead', num_classes=5, in_channels=64)), 32),
    'swin-gap-linear': (dict(
        type='ImageClassifier',
        backbone=dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=2,
                      drop_path_rate=0.),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=256)), 64),
    'convnext-linear': (dict(
        type='ImageClassifier', backbone=dict(type='ConvNeXt', arch=TINY_CONVNEXT),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=64)), 32),
}


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_classifier_scores_and_gradients_match_mmcls(name):
    cfg, size = CLASSIFIERS[name]
    theirs, ours = _pair(cfg, builder=build_classifier)
    gen = torch.Generator().manual_seed(2)
    img = torch.randn(4, 3, size, size, generator=gen)
    label = torch.randint(0, 5, (4,), generator=gen)
    with torch.no_grad():
        np.testing.assert_allclose(np.stack(ours(img, return_loss=False)),
                                   np.stack(theirs(img, return_loss=False)), atol=1e-5)
    # Training mode (no dropout in these configs): same loss, same gradient for every weight,
    # the relative position biases (an attention mask inside the fused kernel) included.
    theirs.train(), ours.train()
    theirs.zero_grad(), ours.zero_grad()
    loss_theirs = theirs(img, gt_label=label)['loss']
    loss_ours = ours(img, gt_label=label)['loss']
    torch.testing.assert_close(loss_ours, loss_theirs, atol=1e-5, rtol=1e-5)
    loss_theirs.backward()
    loss_ours.backward()
    grads = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        if grads[k].grad is None:
            assert p.grad is None or not p.grad.any(), k
            continue
        torch.testing.assert_close(p.grad, grads[k].grad, atol=1e-5, rtol=1e-3, msg=k)


@pytest.mark.parametrize('cfg', [
    dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8),
    dict(type='DistilledVisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8),
    dict(type='SwinTransformer', arch=TINY_SWIN, img_size=32, window_size=2,
         use_abs_pos_embed=True),
    dict(type='SwinTransformerV2', arch=TINY_SWIN_V2, img_size=32, window_size=2,
         use_abs_pos_embed=True),
], ids=lambda c: c['type'])
def test_position_embedding_of_another_image_size_is_resized_on_load_as_mmcls(cfg):
    torch.manual_seed(0)
    source = _perturb(build_backbone(copy.deepcopy(cfg)))
    state = source.state_dict()
    bigger = dict(copy.deepcopy(cfg), img_size=48)
    theirs = build_backbone(copy.deepcopy(bigger))
    theirs.load_state_dict(copy.deepcopy(state), strict=False)  # mmcls resizes in its load hook
    ours = MODELS.build(copy.deepcopy(bigger))
    report = fm.load_state_dict(ours, copy.deepcopy(state), strict=True)
    assert report['mismatched'] == []
    key = 'pos_embed' if 'Vision' in cfg['type'] else 'absolute_pos_embed'
    assert tuple(state[key].shape) != tuple(ours.state_dict()[key].shape)
    torch.testing.assert_close(ours.state_dict()[key], theirs.state_dict()[key], atol=1e-6,
                               rtol=0)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        theirs.eval(), ours.eval()
        _assert_same(theirs(x), ours(x))


def _bspline_basis(knots, x, degree=3):
    """Values (len(x), len(knots) - degree - 1) of the B-spline basis (Cox-de Boor)."""
    t = np.asarray(knots, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)[:, None]
    last = np.searchsorted(t, t[-1]) - 1  # the last non-empty interval is closed on the right
    B = ((t[:-1] <= x) & (x < t[1:])).astype(np.float64)
    B[x[:, 0] == t[-1], last] = 1.0
    for k in range(1, degree + 1):
        left = np.zeros((len(x), len(t) - k - 1))
        right = np.zeros_like(left)
        for i in range(len(t) - k - 1):
            if t[i + k] > t[i]:
                left[:, i] = (x[:, 0] - t[i]) / (t[i + k] - t[i]) * B[:, i]
            if t[i + k + 1] > t[i + 1]:
                right[:, i] = (t[i + k + 1] - x[:, 0]) / (t[i + k + 1] - t[i + 1]) * B[:, i + 1]
        B = left + right
    return B


@pytest.fixture
def interp2d(monkeypatch):
    """scipy's ``interp2d(kind='cubic')``, which mmcls 0.25's resizer calls (scipy >= 1.14 has
    no interp2d, and the oracle has no scipy), re-created from its definition so mmcls's own
    resizer runs: FITPACK's interpolating bicubic B-spline (s=0: knots at the ends, four-fold,
    and at the data points but the second and the second-to-last), arguments outside the knots
    clamped as FITPACK clamps them."""
    import sys
    import types

    class Interp2d:
        def __init__(self, x, y, z, kind):
            assert kind == 'cubic'
            self.x, self.y = np.asarray(x, float), np.asarray(y, float)
            self.tx, self.ty = (np.r_[[v[0]] * 4, v[2:-2], [v[-1]] * 4] for v in (self.x, self.y))
            cx = _bspline_basis(self.tx, self.x)
            cy = _bspline_basis(self.ty, self.y)
            # z[i, j] is the value at (x[j], y[i])
            self.coef = np.linalg.solve(cy, np.linalg.solve(cx, np.asarray(z, float).T).T)

        def __call__(self, dx, dy):
            ex = _bspline_basis(self.tx, np.clip(dx, self.x[0], self.x[-1]))
            ey = _bspline_basis(self.ty, np.clip(dy, self.y[0], self.y[-1]))
            return ey @ self.coef @ ex.T

    scipy = types.ModuleType('scipy')
    scipy.interpolate = types.SimpleNamespace(interp2d=Interp2d)
    monkeypatch.setitem(sys.modules, 'scipy', scipy)
    monkeypatch.setitem(sys.modules, 'scipy.interpolate', scipy.interpolate)


@pytest.mark.parametrize('src, dst', [(13, 23), (5, 7), (7, 5), (13, 13)])
def test_relative_position_bias_table_resize_matches_mmcls(interp2d, src, dst):
    from mmcls.models.utils import resize_relative_position_bias_table as theirs
    table = torch.randn(src * src, 3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(resize_relative_position_bias_table(src, dst, table, 3),
                               theirs(src, dst, table, 3), atol=1e-5, rtol=1e-5)


def test_swin_checkpoint_for_another_window_loads_like_mmcls(interp2d):
    cfg = dict(type='SwinTransformer', arch=TINY_SWIN, img_size=80, window_size=3,
               pad_small_map=True)
    torch.manual_seed(0)
    state = _perturb(build_backbone(copy.deepcopy(cfg))).state_dict()
    wider = dict(cfg, window_size=5)
    theirs = build_backbone(copy.deepcopy(wider))
    # mmcls drops the checkpoint's index buffers after resizing: only a non-strict load passes.
    missing = theirs.load_state_dict(copy.deepcopy(state), strict=False).missing_keys
    assert missing and all(k.endswith('relative_position_index') for k in missing)
    ours = MODELS.build(copy.deepcopy(wider))
    fm.load_state_dict(ours, copy.deepcopy(state), strict=True)
    for k, v in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v, atol=1e-5, rtol=1e-5, msg=k)
    x = torch.randn(1, 3, 80, 80)
    with torch.no_grad():
        theirs.eval(), ours.eval()
        _assert_same(theirs(x), ours(x))


def test_pre_version_2_swin_checkpoint_keys_are_renamed_as_mmcls():
    cfg = dict(type='SwinTransformer', arch=TINY_SWIN, img_size=32, window_size=2)
    torch.manual_seed(0)
    source = _perturb(build_backbone(copy.deepcopy(cfg)))
    old = {('norm.' + k[len('norm3.'):] if k.startswith('norm3.') else k): v
           for k, v in source.state_dict().items()}
    old['stages.0.blocks.1.attn.attn_mask'] = torch.zeros(1)  # a buffer of the first versions
    ours = MODELS.build(copy.deepcopy(cfg))
    fm.load_state_dict(ours, old, strict=True)  # no metadata: the oldest layout
    torch.testing.assert_close(ours.norm3.weight, source.norm3.weight)


@pytest.mark.parametrize('cfg', [
    dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=2, drop_path_rate=0.),
    dict(type='SwinTransformerV2', arch=TINY_SWIN_V2, img_size=64, window_size=2,
         drop_path_rate=0.),
    dict(type='ConvNeXt', arch=TINY_CONVNEXT),
], ids=lambda c: c['type'])
def test_with_cp_gives_mmcls_gradients(cfg):
    theirs, ours = _pair(dict(cfg, with_cp=True))
    theirs.train(), ours.train()
    size = cfg.get('img_size', 32)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(4))
    sum(o.square().sum() for o in _flat(theirs(x))).backward()
    sum(o.square().sum() for o in _flat(ours(x))).backward()
    grads = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[k].grad, atol=1e-4, rtol=1e-3, msg=k)
