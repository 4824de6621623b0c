"""The layer building blocks models are made of: names, keys and behaviour of mmcv.cnn's API."""
import pytest
import torch
import torch.nn as nn

from fastrun.models import initialize
from fastrun.models.layers import (ConvModule, DropPath, HSigmoid, build_activation_layer,
                                   build_conv_layer, build_dropout, build_norm_layer,
                                   build_padding_layer)


@pytest.mark.parametrize('cfg, postfix, name, cls', [
    (dict(type='BN'), 1, 'bn1', nn.BatchNorm2d), (dict(type='BN1d'), '', 'bn', nn.BatchNorm1d),
    (dict(type='SyncBN'), 2, 'bn2', nn.SyncBatchNorm), (dict(type='GN', num_groups=2), '', 'gn', nn.GroupNorm),
    (dict(type='LN'), 0, 'ln0', nn.LayerNorm), (dict(type='IN'), '', 'in', nn.InstanceNorm2d)])
def test_norm_layer_names_follow_the_abbreviation(cfg, postfix, name, cls):
    got, layer = build_norm_layer(cfg, 4, postfix)
    assert got == name and type(layer) is cls


def test_norm_layer_frozen_and_errors():
    _, bn = build_norm_layer(dict(type='BN', requires_grad=False, momentum=0.3), 4)
    assert not any(p.requires_grad for p in bn.parameters()) and bn.momentum == 0.3
    with pytest.raises(KeyError, match='num_groups'):
        build_norm_layer(dict(type='GN'), 4)
    with pytest.raises(KeyError, match="did you mean 'BN'"):
        build_norm_layer(dict(type='BNN'), 4)


def test_activations():
    x = torch.linspace(-5, 5, 11)
    assert torch.allclose(build_activation_layer(dict(type='HSigmoid'))(x), nn.functional.hardsigmoid(x))
    assert torch.allclose(build_activation_layer(dict(type='HSwish'))(x), nn.functional.hardswish(x))
    assert torch.allclose(build_activation_layer(dict(type='Swish'))(x), x * torch.sigmoid(x))
    assert build_activation_layer(dict(type='Clip', min=0, max=2))(x).max() == 2
    assert HSigmoid(bias=1.0, divisor=2.0)(torch.tensor([0.0])).item() == 0.5


def test_conv_module_keys_order_and_padding():
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN'), act_cfg=dict(type='LeakyReLU'))
    assert list(m.state_dict())[:2] == ['conv.weight', 'bn.weight']  # bias='auto': none before a norm
    assert m.activate.inplace and m.norm is m.bn
    assert m(torch.randn(2, 3, 5, 5)).min() < 0  # leaky
    pre = ConvModule(4, 8, 1, norm_cfg=dict(type='GN', num_groups=2), order=('norm', 'act', 'conv'))
    assert pre.gn.num_channels == 4 and pre.conv.bias is None  # 'auto': no bias with any norm
    refl = ConvModule(1, 1, 3, padding=1, padding_mode='reflect', act_cfg=None)
    assert isinstance(refl.padding_layer, nn.ReflectionPad2d) and refl.conv.padding == (0, 0)
    assert refl(torch.randn(1, 1, 4, 4)).shape == (1, 1, 4, 4)
    assert isinstance(build_conv_layer(None, 1, 2, 3), nn.Conv2d)
    assert isinstance(build_padding_layer(dict(type='zero'), 2), nn.ZeroPad2d)


def test_drop_path_drops_whole_samples():
    torch.manual_seed(0)
    dp = build_dropout(dict(type='DropPath', drop_prob=0.5))
    assert isinstance(dp, DropPath)
    y = dp(torch.ones(64, 3, 2))
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert torch.equal(dp.eval()(torch.ones(4, 3)), torch.ones(4, 3))


def test_trunc_normal_init_cfg():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(100, 100))
    initialize(m, dict(type='TruncNormal', layer='Linear', std=1.0, a=-0.5, b=0.5, bias=0.1))
    w = m[0].weight
    assert w.abs().max() <= 0.5 and w.std() > 0.2 and torch.all(m[0].bias == 0.1)
