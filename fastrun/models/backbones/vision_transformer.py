"""``VisionTransformer`` (ViT and DeiT archs) with mmcls 0.x's arguments and state_dict keys."""
import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...registry import MODELS
from ..base import BaseModule, ModuleList
from ..layers import build_norm_layer, trunc_normal_
from ..transformer import FFN, MultiheadAttention, PatchEmbed, resize_pos_embed, to_2tuple

__all__ = ['TransformerEncoderLayer', 'VisionTransformer']

_log = logging.getLogger('fastrun')


def _arch_settings(arch, zoo, essential, cls_name, exact=False):
    """The settings of a named arch (case-insensitive) or a checked custom dict."""
    if isinstance(arch, str):
        key = arch.lower()
        if key not in zoo:
            raise ValueError(f'{cls_name}: arch {arch!r} is not one of {sorted(set(zoo))}')
        return dict(zoo[key])
    if not isinstance(arch, dict) or not (set(arch) == essential if exact else essential <= set(arch)):
        raise ValueError(f'{cls_name}: a custom arch must be a dict with the keys '
                         f'{sorted(essential)}, got {arch!r}')
    return dict(arch)


def _checkpointed(fn, x, with_cp):
    """``fn(x)``, recomputed in backward instead of stored when ``with_cp`` and grads flow."""
    if with_cp and x.requires_grad:
        return cp.checkpoint(fn, x, use_reentrant=False)
    return fn(x)


class TransformerEncoderLayer(BaseModule):
    """Pre-norm encoder layer: ``x + attn(ln1(x))``, then ``x + ffn(ln2(x))`` (keys ln1, attn, ln2, ffn).

    ``drop_path_rate`` drops both residual branches per sample; ``drop_rate`` is the dropout
    after the attention projection and inside the FFN. ``with_cp`` (a fastrun addition; mmcls
    0.25's ViT has none) recomputes the layer in backward to save activation memory.
    """

    def __init__(self, embed_dims, num_heads, feedforward_channels, drop_rate=0.,
                 attn_drop_rate=0., drop_path_rate=0., num_fcs=2, qkv_bias=True,
                 act_cfg=dict(type='GELU'), norm_cfg=dict(type='LN'), with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.with_cp = with_cp
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.attn = MultiheadAttention(embed_dims=embed_dims, num_heads=num_heads,
                                       attn_drop=attn_drop_rate, proj_drop=drop_rate,
                                       dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
                                       qkv_bias=qkv_bias)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels,
                       num_fcs=num_fcs, ffn_drop=drop_rate,
                       dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
                       act_cfg=act_cfg)

    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    @property
    def norm2(self):
        return getattr(self, self.norm2_name)

    def init_weights(self):
        """As mmcls: the FFN's Linear layers Xavier-uniform with N(0, 1e-6) biases."""
        super().init_weights()
        for m in self.ffn.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def _inner_forward(self, x):
        x = x + self.attn(self.norm1(x))
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x):
        return _checkpointed(self._inner_forward, x, self.with_cp)


def _out_indices(out_indices, num_layers, cls_name):
    if isinstance(out_indices, int):
        out_indices = [out_indices]
    if not isinstance(out_indices, Sequence):
        raise TypeError(f'{cls_name}: out_indices must be an int or a sequence, '
                        f'got {type(out_indices).__name__}')
    result = []
    for index in out_indices:
        i = num_layers + index if index < 0 else index
        if not 0 <= i < num_layers:
            raise ValueError(f'{cls_name}: invalid out_indices entry {index} for {num_layers} layers')
        result.append(i)
    return result


@MODELS.register_module()
class VisionTransformer(BaseModule):
    """Vision Transformer (ViT; DeiT with the ``deit-*`` archs), mmcls 0.x's.

    ``arch``: 's'/'small', 'b'/'base', 'l'/'large', 'deit-t'/'deit-tiny', 'deit-s'/'deit-small',
    'deit-b'/'deit-base', or a dict with embed_dims, num_layers, num_heads, feedforward_channels.
    ``forward`` gives a tuple with one entry per ``out_indices`` layer: ``[patch_token
    (B, C, h, w), cls_token (B, C)]`` when ``output_cls_token``, else the patch tokens. Any input
    size works: the position embedding (made for ``img_size``) is interpolated with
    ``interpolate_mode``, and a checkpoint's embedding for another size is resized on load.
    Keys: ``patch_embed.projection``, ``cls_token``, ``pos_embed``, ``layers.N.{ln1,attn,ln2,ffn}``,
    ``ln1`` (the final norm). ``with_cp`` is a fastrun addition (gradient checkpointing).
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], dict(embed_dims=768, num_layers=8, num_heads=8,
                                             feedforward_channels=768 * 3)),
        **dict.fromkeys(['b', 'base'], dict(embed_dims=768, num_layers=12, num_heads=12,
                                            feedforward_channels=3072)),
        **dict.fromkeys(['l', 'large'], dict(embed_dims=1024, num_layers=24, num_heads=16,
                                             feedforward_channels=4096)),
        **dict.fromkeys(['deit-t', 'deit-tiny'], dict(embed_dims=192, num_layers=12, num_heads=3,
                                                      feedforward_channels=192 * 4)),
        **dict.fromkeys(['deit-s', 'deit-small'], dict(embed_dims=384, num_layers=12, num_heads=6,
                                                       feedforward_channels=384 * 4)),
        **dict.fromkeys(['deit-b', 'deit-base'], dict(embed_dims=768, num_layers=12, num_heads=12,
                                                      feedforward_channels=768 * 4)),
    }
    num_extra_tokens = 1  # cls_token

    def __init__(self, arch='base', img_size=224, patch_size=16, in_channels=3, out_indices=-1,
                 drop_rate=0., drop_path_rate=0., qkv_bias=True,
                 norm_cfg=dict(type='LN', eps=1e-6), final_norm=True, with_cls_token=True,
                 output_cls_token=True, interpolate_mode='bicubic', patch_cfg=dict(),
                 layer_cfgs=dict(), with_cp=False, init_cfg=None):
        super().__init__(init_cfg)
        name = type(self).__name__
        self.arch_settings = _arch_settings(
            arch, self.arch_zoo, {'embed_dims', 'num_layers', 'num_heads', 'feedforward_channels'},
            name)
        self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        self.img_size = to_2tuple(img_size)

        _patch_cfg = dict(in_channels=in_channels, input_size=img_size,
                          embed_dims=self.embed_dims, conv_type='Conv2d',
                          kernel_size=patch_size, stride=patch_size)
        _patch_cfg.update(patch_cfg)
        self.patch_embed = PatchEmbed(**_patch_cfg)
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]

        if output_cls_token and not with_cls_token:
            raise ValueError(f'{name}: output_cls_token=True needs with_cls_token=True')
        self.with_cls_token = with_cls_token
        self.output_cls_token = output_cls_token
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.interpolate_mode = interpolate_mode
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims))
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        self.out_indices = _out_indices(out_indices, self.num_layers, name)

        dpr = np.linspace(0, drop_path_rate, self.num_layers)  # stochastic depth decay rule
        if isinstance(layer_cfgs, dict):
            layer_cfgs = [layer_cfgs] * self.num_layers
        if len(layer_cfgs) != self.num_layers:
            raise ValueError(f'{name}: layer_cfgs has {len(layer_cfgs)} entries for '
                             f'{self.num_layers} layers')
        self.layers = ModuleList()
        for i in range(self.num_layers):
            cfg = dict(embed_dims=self.embed_dims, num_heads=self.arch_settings['num_heads'],
                       feedforward_channels=self.arch_settings['feedforward_channels'],
                       drop_rate=drop_rate, drop_path_rate=float(dpr[i]), qkv_bias=qkv_bias,
                       norm_cfg=norm_cfg, with_cp=with_cp)
            cfg.update(layer_cfgs[i])
            self.layers.append(TransformerEncoderLayer(**cfg))

        self.final_norm = final_norm
        if final_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.embed_dims, postfix=1)
            self.add_module(self.norm1_name, norm1)

    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    def _pretrained(self):
        return isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'

    def init_weights(self):
        super().init_weights()
        if not self._pretrained():
            trunc_normal_(self.pos_embed, std=0.02)

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Load hook: a checkpoint's square pos_embed grid is interpolated to this model's."""
        name = prefix + 'pos_embed'
        if name not in state_dict:
            return
        ckpt_shape = state_dict[name].shape
        if self.pos_embed.shape == ckpt_shape:
            return
        _log.info('Resize the pos_embed shape from %s to %s.', tuple(ckpt_shape),
                  tuple(self.pos_embed.shape))
        side = int(np.sqrt(ckpt_shape[1] - self.num_extra_tokens))
        state_dict[name] = resize_pos_embed(state_dict[name], (side, side),
                                            self.patch_embed.init_out_size,
                                            self.interpolate_mode, self.num_extra_tokens)

    @staticmethod
    def resize_pos_embed(*args, **kwargs):
        """:func:`fastrun.models.transformer.resize_pos_embed` (kept as mmcls's static method)."""
        return resize_pos_embed(*args, **kwargs)

    def _extra_tokens(self, batch):
        return [self.cls_token.expand(batch, -1, -1)]

    def _outputs(self, x, patch_resolution):
        B, _, C = x.shape
        n = self.num_extra_tokens
        tokens = x[:, n:] if self.with_cls_token else x
        patch_token = tokens.reshape(B, *patch_resolution, C).permute(0, 3, 1, 2)
        if not self.output_cls_token:
            return patch_token
        return [patch_token] + [x[:, i] for i in range(n)]

    def forward(self, x):
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        x = torch.cat(self._extra_tokens(B) + [x], dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode,
                                 num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        if not self.with_cls_token:
            x = x[:, self.num_extra_tokens:]
        outs = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == last and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(self._outputs(x, patch_resolution))
        return tuple(outs)
