"""ViT/DeiT, Swin (V1, V2) and ConvNeXt: what they compute, load and refuse, without mmcls.

Weight-for-weight parity with mmcls itself is in tests/interop/test_transformer_parity.py.
"""
import re
import copy
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastrun.models as fm
from fastrun.models import transformer
from fastrun.models.transformer import (MultiheadAttention, ShiftWindowMSA, resize_pos_embed,
                                        resize_relative_position_bias_table)
from fastrun.registry import MODELS, NORM_LAYERS

TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TINY_SWIN = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
TINY_SWIN_V2 = dict(TINY_SWIN, extra_norm_every_n_blocks=0)
TINY_CONVNEXT = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])


def build(**cfg):
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def vit_classifier(img_size=32, **head):
    return build(type='ImageClassifier',
                 backbone=dict(type='VisionTransformer', arch=TINY_VIT, img_size=img_size,
                               patch_size=8),
                 head=dict(type='VisionTransformerClsHead', num_classes=3, in_channels=32, **head))


def test_vit_outputs_patch_and_cls_tokens_for_any_input_size():
    vit = build(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8,
                out_indices=[0, -1]).eval()
    for size in (32, 48):
        outs = vit(torch.randn(2, 3, size, size))
        assert len(outs) == 2
        patch, cls = outs[-1]
        assert patch.shape == (2, 32, size // 8, size // 8) and cls.shape == (2, 32)
    assert vit.pos_embed.shape == (1, 1 + 16, 32)
    assert 'ln1.weight' in vit.state_dict() and 'layers.1.ffn.layers.0.0.weight' in vit.state_dict()


def test_vit_archs_and_their_errors():
    deit = MODELS.build(dict(type='VisionTransformer', arch='deit-tiny', img_size=32))
    assert (deit.embed_dims, len(deit.layers), deit.layers[0].attn.num_heads) == (192, 12, 3)
    with pytest.raises(ValueError, match="arch 'tiny' is not one of"):
        MODELS.build(dict(type='VisionTransformer', arch='tiny'))
    with pytest.raises(ValueError, match='custom arch must be a dict with the keys'):
        MODELS.build(dict(type='VisionTransformer', arch=dict(embed_dims=8)))
    with pytest.raises(ValueError, match='needs with_cls_token=True'):
        MODELS.build(dict(type='VisionTransformer', arch=TINY_VIT, with_cls_token=False))
    with pytest.raises(ValueError, match='invalid out_indices entry 2'):
        MODELS.build(dict(type='VisionTransformer', arch=TINY_VIT, out_indices=2))


def test_distilled_vit_has_a_dist_token_and_deit_head_averages_two_heads():
    model = build(type='ImageClassifier',
                  backbone=dict(type='DistilledVisionTransformer', arch=TINY_VIT, img_size=32,
                                patch_size=8),
                  head=dict(type='DeiTClsHead', num_classes=3, in_channels=32)).eval()
    assert model.backbone.pos_embed.shape == (1, 2 + 16, 32)
    img = torch.randn(2, 3, 32, 32)
    _, cls, dist = model.extract_feat(img)[-1]
    layers = model.head.layers
    with torch.no_grad():
        layers.head.weight.normal_(), layers.head_dist.weight.normal_()
        expected = F.softmax((layers.head(cls) + layers.head_dist(dist)) / 2, dim=1)
        np.testing.assert_allclose(np.stack(model(img, return_loss=False)), expected.numpy(),
                                   atol=1e-6)


def test_vit_head_starts_at_zero_and_trains():
    model = vit_classifier(hidden_dim=16)
    assert sorted(k for k in model.head.state_dict()) == [
        'layers.head.bias', 'layers.head.weight', 'layers.pre_logits.bias',
        'layers.pre_logits.weight']
    assert not model.head.layers.head.weight.any()  # init_cfg Constant(0) on Linear layers
    assert model.head.layers.pre_logits.weight.std() > 0  # then LeCun normal for pre_logits
    scores = model.eval()(torch.randn(2, 3, 32, 32), return_loss=False)
    np.testing.assert_allclose(np.stack(scores), 1 / 3, atol=1e-6)
    model.train()
    out = model.train_step(dict(img=torch.randn(4, 3, 32, 32), gt_label=torch.tensor([0, 1, 2, 0])))
    out['loss'].backward()
    assert model.backbone.pos_embed.grad is not None
    torch.testing.assert_close(out['log_vars']['loss'], torch.tensor(np.log(3.0)).float())


def test_vit_head_needs_token_outputs():
    head = MODELS.build(dict(type='VisionTransformerClsHead', num_classes=3, in_channels=4))
    with pytest.raises(TypeError, match='output_cls_token=True'):
        head((torch.randn(2, 4, 2, 2),))


def test_attention_is_the_fused_kernel_and_equals_the_softmax_formula(monkeypatch):
    torch.manual_seed(0)
    attn = MultiheadAttention(embed_dims=16, num_heads=4).eval()
    x = torch.randn(2, 5, 16)
    calls = []
    fused = F.scaled_dot_product_attention
    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        lambda *a, **k: calls.append(1) or fused(*a, **k))
    out = attn(x)
    assert calls
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
    w = (q @ k.transpose(-2, -1) * 4 ** -0.5).softmax(-1)
    expected = attn.proj((w @ v).transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_shifted_windows_attend_only_within_regions():
    mask = ShiftWindowMSA.get_attn_mask((4, 4), window_size=2, shift_size=1)
    assert mask.shape == (4, 4, 4)
    assert not mask[0].any()  # the top-left window lies in one region
    assert set(mask.unique().tolist()) == {-100.0, 0.0}
    msa = ShiftWindowMSA(8, 2, window_size=2, shift_size=1)
    msa(torch.randn(1, 16, 8), (4, 4))
    assert list(msa._masks) == [(4, 4, 1, torch.device('cpu'))]  # computed once per grid
    assert not any('mask' in k for k in msa.state_dict())


@pytest.mark.parametrize('cls', ['SwinTransformer', 'SwinTransformerV2'])
def test_swin_stages_and_padding(cls):
    arch = TINY_SWIN if cls == 'SwinTransformer' else TINY_SWIN_V2
    swin = build(type=cls, arch=arch, img_size=64, window_size=2, out_indices=(0, 1, 2, 3)).eval()
    outs = swin(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 16, 16), (1, 32, 8, 8), (1, 64, 4, 4),
                                             (1, 128, 2, 2)]
    with pytest.raises(ValueError, match=r'smaller than the window size 7: set pad_small_map'):
        build(type=cls, arch=arch, img_size=64, window_size=7)(torch.randn(1, 3, 64, 64))
    padded = build(type=cls, arch=arch, img_size=60, window_size=7, pad_small_map=True).eval()
    assert padded(torch.randn(1, 3, 60, 60))[0].shape == (1, 128, 2, 2)


def test_swin_frozen_stages_and_convnext_frozen_stages():
    swin = build(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=2,
                 frozen_stages=1).train()
    assert not any(p.requires_grad for p in swin.patch_embed.parameters())
    assert not any(p.requires_grad for p in swin.stages[1].parameters())
    assert all(p.requires_grad for p in swin.stages[2].parameters())
    assert not swin.stages[0].training and swin.stages[2].training
    convnext = build(type='ConvNeXt', arch=TINY_CONVNEXT, frozen_stages=2).train()
    assert not any(p.requires_grad for p in convnext.stages[1].parameters())
    assert not any(p.requires_grad for p in convnext.downsample_layers[1].parameters())
    assert all(p.requires_grad for p in convnext.stages[2].parameters())


def test_convnext_outputs_and_ln2d():
    assert NORM_LAYERS.get('LN2d') is fm.backbones.convnext.LayerNorm2d
    x = torch.randn(2, 3, 32, 32)
    pooled = build(type='ConvNeXt', arch=TINY_CONVNEXT).eval()
    assert pooled(x)[0].shape == (2, 32)
    maps = build(type='ConvNeXt', arch=TINY_CONVNEXT, out_indices=(0, 3), linear_pw_conv=False,
                 gap_before_final_norm=False).eval()
    assert [o.shape for o in maps(x)] == [(2, 8, 8, 8), (2, 32, 1, 1)]
    ln = fm.backbones.convnext.LayerNorm2d(8)
    y = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(ln(y), F.layer_norm(y.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2))


def test_position_embedding_is_resized_on_load_from_another_image_size(tmp_path, caplog):
    small = vit_classifier(img_size=32)
    with torch.no_grad():
        small.backbone.pos_embed.normal_()
    path = tmp_path / 'small.pth'
    torch.save(dict(state_dict=small.state_dict()), path)
    # fine-tuning at 48 from the 32 checkpoint, as a config would: init_cfg Pretrained + prefix
    big = MODELS.build(dict(type='VisionTransformer', arch=TINY_VIT, img_size=48, patch_size=8,
                            init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                          prefix='backbone')))
    with caplog.at_level(logging.INFO, logger='fastrun'):
        big.init_weights()
    assert 'Resize the pos_embed shape from (1, 17, 32) to (1, 37, 32)' in caplog.text
    # every tensor loaded: the resized pos_embed is no size mismatch
    assert re.search(r'size mismatch 0\)', caplog.text) and 'size mismatch 1' not in caplog.text
    expected = resize_pos_embed(small.backbone.pos_embed.detach(), (4, 4), (6, 6), 'bicubic', 1)
    torch.testing.assert_close(big.pos_embed.detach(), expected)
    torch.testing.assert_close(big.pos_embed[:, 0], small.backbone.pos_embed[:, 0].detach())
    # strict loading of the whole model works as well, through fastrun's load_state_dict
    report = fm.load_state_dict(vit_classifier(img_size=48), small.state_dict(), strict=True)
    assert report == dict(missing=[], unexpected=[], mismatched=[])


def test_load_state_dict_still_skips_and_reports_shapes_no_hook_fixes():
    small, big = vit_classifier(img_size=32), vit_classifier(img_size=32, hidden_dim=8)
    report = fm.load_state_dict(big, small.state_dict())
    assert ('head.layers.head.weight', (3, 32), (3, 8)) in report['mismatched']
    assert 'head.layers.pre_logits.weight' in report['missing']
    with pytest.raises(RuntimeError, match='size mismatch, not loaded'):
        fm.load_state_dict(big, small.state_dict(), strict=True)


def test_relative_position_bias_table_of_another_window_is_resampled_on_load():
    small = build(type='SwinTransformer', arch=TINY_SWIN, img_size=96, window_size=3)
    big = MODELS.build(dict(type='SwinTransformer', arch=TINY_SWIN, img_size=96, window_size=5))
    fm.load_state_dict(big, small.state_dict(), strict=True)
    key = 'stages.0.blocks.0.attn.w_msa.'
    src, dst = small.state_dict()[key + 'relative_position_bias_table'], big.state_dict()
    assert dst[key + 'relative_position_bias_table'].shape == (81, 1)
    # the offset-0 entry sits in the middle of both tables and interpolation keeps it
    torch.testing.assert_close(dst[key + 'relative_position_bias_table'][40], src[12])
    assert torch.equal(dst[key + 'relative_position_index'],
                       transformer.attention._relative_position_index((5, 5)))


def test_relative_position_bias_resize_is_the_bicubic_interpolating_spline():
    interpolate = pytest.importorskip('scipy.interpolate')
    table = torch.randn(13 * 13, 2)
    out = resize_relative_position_bias_table(13, 23, table, 2)
    # the knots mmcls spreads for 13 -> 23, recomputed from the progression it solves for
    q = 1.13
    lo, hi = 1.01, 1.5
    while hi - lo > 1e-6:
        q = (lo + hi) / 2
        lo, hi = (lo, q) if (1 - q ** 6) / (1 - q) > 11 else (q, hi)
    dis = np.cumsum([1] + [q ** (i + 1) for i in range(5)])
    knots = np.r_[-dis[::-1], 0, dis]
    points = np.clip(np.arange(-11, 12), knots[0], knots[-1])
    for h in range(2):
        spline = interpolate.RectBivariateSpline(knots, knots, table[:, h].view(13, 13).numpy(),
                                                 kx=3, ky=3, s=0)
        np.testing.assert_allclose(out[:, h].view(23, 23).numpy(), spline(points, points),
                                   atol=1e-5)


@pytest.mark.parametrize('cfg', [
    dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8),
    dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=2, drop_path_rate=0.),
    dict(type='SwinTransformerV2', arch=TINY_SWIN_V2, img_size=64, window_size=2,
         drop_path_rate=0.),
    dict(type='ConvNeXt', arch=TINY_CONVNEXT),
], ids=lambda c: c['type'])
def test_with_cp_keeps_less_for_backward_and_gives_the_same_gradients(cfg):
    torch.manual_seed(0)
    plain = build(**copy.deepcopy(cfg)).train()
    checkpointed = MODELS.build(dict(copy.deepcopy(cfg), with_cp=True)).train()
    checkpointed.load_state_dict(plain.state_dict())
    size = cfg.get('img_size', 32)
    x = torch.randn(2, 3, size, size)

    def loss_and_saved(model):
        saved = {}

        def pack(t):
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            outs = model(x)
            flat = [t for o in outs for t in (o if isinstance(o, list) else [o])]
            loss = sum(t.square().mean() for t in flat)
        loss.backward()
        return sum(saved.values())

    assert loss_and_saved(checkpointed) < 0.5 * loss_and_saved(plain)
    grads = dict(plain.named_parameters())
    for k, p in checkpointed.named_parameters():
        torch.testing.assert_close(p.grad, grads[k].grad, atol=1e-6, rtol=1e-5, msg=k)


def test_window_attention_fused_and_explicit_routes_agree():
    from fastrun.models.transformer.attention import (_explicit_window_attention,
                                                      _window_attention)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2 * 4, 3, 9, 8, generator=gen, requires_grad=True) for _ in range(3))
    bias = torch.randn(3, 9, 9, generator=gen)
    mask = ShiftWindowMSA.get_attn_mask((6, 6), window_size=3, shift_size=1)
    for m in (None, mask):
        fused = _window_attention(q, k, v, bias, m, 0.0, 0.3)  # bias without grad: the kernel
        explicit = _explicit_window_attention(q, k, v, bias, m, 0.0, 0.3)
        torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
        g_fused = torch.autograd.grad(fused.square().sum(), (q, k, v))
        g_explicit = torch.autograd.grad(explicit.square().sum(), (q, k, v))
        for a, b in zip(g_fused, g_explicit):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
