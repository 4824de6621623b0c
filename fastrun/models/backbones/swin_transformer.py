"""``SwinTransformer`` with mmcls 0.x's arguments, defaults and state_dict keys."""
import logging
from collections.abc import Sequence
from copy import deepcopy

import numpy as np
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from ..base import BaseModule, ModuleList
from ..layers import build_norm_layer, trunc_normal_
from ..transformer import (FFN, PatchEmbed, PatchMerging, ShiftWindowMSA, WindowMSA,
                           resize_pos_embed, resize_relative_position_bias_table)
from .vision_transformer import _arch_settings, _checkpointed

__all__ = ['SwinBlock', 'SwinBlockSequence', 'SwinTransformer']

_log = logging.getLogger('fastrun')


class SwinBlock(BaseModule):
    """``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``, with (shifted) window attention.

    Every second block of a stage has ``shift=True`` (shift by ``window_size // 2``).
    ``attn_cfgs`` / ``ffn_cfgs`` update the ShiftWindowMSA / FFN arguments.
    """

    def __init__(self, embed_dims, num_heads, window_size=7, shift=False, ffn_ratio=4.,
                 drop_path=0., pad_small_map=False, attn_cfgs=dict(), ffn_cfgs=dict(),
                 norm_cfg=dict(type='LN'), with_cp=False, init_cfg=None):
        super().__init__(init_cfg)
        self.with_cp = with_cp
        _attn_cfgs = dict(embed_dims=embed_dims, num_heads=num_heads,
                          shift_size=window_size // 2 if shift else 0, window_size=window_size,
                          dropout_layer=dict(type='DropPath', drop_prob=drop_path),
                          pad_small_map=pad_small_map, **attn_cfgs)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(**_attn_cfgs)
        _ffn_cfgs = dict(embed_dims=embed_dims, feedforward_channels=int(embed_dims * ffn_ratio),
                         num_fcs=2, ffn_drop=0,
                         dropout_layer=dict(type='DropPath', drop_prob=drop_path),
                         act_cfg=dict(type='GELU'), **ffn_cfgs)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(**_ffn_cfgs)

    def forward(self, x, hw_shape):
        def inner(x):
            x = x + self.attn(self.norm1(x), hw_shape)
            return self.ffn(self.norm2(x), identity=x)
        return _checkpointed(inner, x, self.with_cp)


def _per_block(value, depth, copy=False):
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != depth:
            raise ValueError(f'expected {depth} per-block values, got {len(value)}')
        return list(value)
    return [deepcopy(value) if copy else value for _ in range(depth)]


class SwinBlockSequence(BaseModule):
    """One stage: ``depth`` SwinBlocks (keys ``blocks.N``), then an optional ``downsample``
    PatchMerging to ``2 * embed_dims`` channels."""

    def __init__(self, embed_dims, depth, num_heads, window_size=7, downsample=False,
                 downsample_cfg=dict(), drop_paths=0., block_cfgs=dict(), with_cp=False,
                 pad_small_map=False, init_cfg=None):
        super().__init__(init_cfg)
        drop_paths = _per_block(drop_paths, depth)
        block_cfgs = _per_block(block_cfgs, depth, copy=True)
        self.embed_dims = embed_dims
        self.blocks = ModuleList()
        for i in range(depth):
            cfg = dict(embed_dims=embed_dims, num_heads=num_heads, window_size=window_size,
                       shift=i % 2 == 1, drop_path=drop_paths[i], with_cp=with_cp,
                       pad_small_map=pad_small_map)
            cfg.update(block_cfgs[i])
            self.blocks.append(SwinBlock(**cfg))
        if downsample:
            cfg = dict(in_channels=embed_dims, out_channels=2 * embed_dims,
                       norm_cfg=dict(type='LN'))
            cfg.update(downsample_cfg)
            self.downsample = PatchMerging(**cfg)
        else:
            self.downsample = None

    def forward(self, x, in_shape, do_downsample=True):
        for block in self.blocks:
            x = block(x, in_shape)
        if self.downsample is not None and do_downsample:
            return self.downsample(x, in_shape)
        return x, in_shape

    @property
    def out_channels(self):
        return self.downsample.out_channels if self.downsample else self.embed_dims


class _SwinBase(BaseModule):
    """What Swin V1 and V2 share: stage freezing, norm_eval and the absolute position embedding."""

    num_extra_tokens = 0

    def _pretrained(self):
        return isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'

    def init_weights(self):
        super().init_weights()
        if not self._pretrained() and self.use_abs_pos_embed:
            trunc_normal_(self.absolute_pos_embed, std=0.02)

    def _prepare_abs_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Load hook: a checkpoint's absolute_pos_embed grid is interpolated to this model's."""
        name = prefix + 'absolute_pos_embed'
        if name not in state_dict:
            return
        ckpt_shape = state_dict[name].shape
        if self.absolute_pos_embed.shape == ckpt_shape:
            return
        _log.info('Resize the absolute_pos_embed shape from %s to %s.', tuple(ckpt_shape),
                  tuple(self.absolute_pos_embed.shape))
        side = int(np.sqrt(ckpt_shape[1] - self.num_extra_tokens))
        state_dict[name] = resize_pos_embed(state_dict[name], (side, side),
                                            self.patch_embed.init_out_size,
                                            self.interpolate_mode, self.num_extra_tokens)

    def _embed(self, x):
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(self.absolute_pos_embed, self.patch_resolution, hw_shape,
                                     self.interpolate_mode, self.num_extra_tokens)
        return self.drop_after_pos(x), hw_shape

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            self.patch_embed.eval()
            for param in self.patch_embed.parameters():
                param.requires_grad = False
        for i in range(0, self.frozen_stages + 1):
            self.stages[i].eval()
            for param in self.stages[i].parameters():
                param.requires_grad = False
        for i in self.out_indices:
            if i <= self.frozen_stages:
                for param in getattr(self, f'norm{i}').parameters():
                    param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):  # norm_eval concerns batch norms only
                    m.eval()
        return self


@MODELS.register_module()
class SwinTransformer(_SwinBase):
    """Swin Transformer (archs 't'/'tiny', 's'/'small', 'b'/'base', 'l'/'large' or a dict with
    exactly embed_dims, depths, num_heads), mmcls 0.x's.

    ``forward`` gives one (B, C, H, W) map per ``out_indices`` stage, normalised by ``norm{i}``;
    ``out_after_downsample`` takes it after the stage's patch merging. ``stage_cfgs`` (one
    dict, or one per stage) and ``patch_cfg`` update the stages' and the patch embedding's
    arguments. Loading a checkpoint resizes ``absolute_pos_embed`` (``use_abs_pos_embed``) and
    the relative position bias tables when image or window size differ, and renames the
    pre-version-2 final ``norm.`` to ``norm3.``, as mmcls does.
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(embed_dims=96, depths=[2, 2, 6, 2],
                                            num_heads=[3, 6, 12, 24])),
        **dict.fromkeys(['s', 'small'], dict(embed_dims=96, depths=[2, 2, 18, 2],
                                             num_heads=[3, 6, 12, 24])),
        **dict.fromkeys(['b', 'base'], dict(embed_dims=128, depths=[2, 2, 18, 2],
                                            num_heads=[4, 8, 16, 32])),
        **dict.fromkeys(['l', 'large'], dict(embed_dims=192, depths=[2, 2, 18, 2],
                                             num_heads=[6, 12, 24, 48])),
    }
    _version = 3

    def __init__(self, arch='tiny', img_size=224, patch_size=4, in_channels=3, window_size=7,
                 drop_rate=0., drop_path_rate=0.1, out_indices=(3,), out_after_downsample=False,
                 use_abs_pos_embed=False, interpolate_mode='bicubic', with_cp=False,
                 frozen_stages=-1, norm_eval=False, pad_small_map=False,
                 norm_cfg=dict(type='LN'), stage_cfgs=dict(), patch_cfg=dict(), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = _arch_settings(arch, self.arch_zoo,
                                            {'embed_dims', 'depths', 'num_heads'},
                                            type(self).__name__, exact=True)
        self.embed_dims = self.arch_settings['embed_dims']
        self.depths = self.arch_settings['depths']
        self.num_heads = self.arch_settings['num_heads']
        self.num_layers = len(self.depths)
        self.out_indices = out_indices
        self.out_after_downsample = out_after_downsample
        self.use_abs_pos_embed = use_abs_pos_embed
        self.interpolate_mode = interpolate_mode
        self.frozen_stages = frozen_stages

        _patch_cfg = dict(in_channels=in_channels, input_size=img_size,
                          embed_dims=self.embed_dims, conv_type='Conv2d', kernel_size=patch_size,
                          stride=patch_size, norm_cfg=dict(type='LN'))
        _patch_cfg.update(patch_cfg)
        self.patch_embed = PatchEmbed(**_patch_cfg)
        self.patch_resolution = self.patch_embed.init_out_size
        if self.use_abs_pos_embed:
            num_patches = self.patch_resolution[0] * self.patch_resolution[1]
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, num_patches, self.embed_dims))
            self._register_load_state_dict_pre_hook(self._prepare_abs_pos_embed)
        self._register_load_state_dict_pre_hook(self._prepare_relative_position_bias_table)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        self.norm_eval = norm_eval

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(self.depths))]
        self.stages = ModuleList()
        embed_dims = [self.embed_dims]
        for i, (depth, num_heads) in enumerate(zip(self.depths, self.num_heads)):
            stage_cfg = stage_cfgs[i] if isinstance(stage_cfgs, Sequence) else deepcopy(stage_cfgs)
            cfg = dict(embed_dims=embed_dims[-1], depth=depth, num_heads=num_heads,
                       window_size=window_size, downsample=i < self.num_layers - 1,
                       drop_paths=dpr[:depth], with_cp=with_cp, pad_small_map=pad_small_map)
            cfg.update(stage_cfg)
            stage = SwinBlockSequence(**cfg)
            self.stages.append(stage)
            dpr = dpr[depth:]
            embed_dims.append(stage.out_channels)
        self.num_features = embed_dims[1:] if self.out_after_downsample else embed_dims[:-1]
        for i in out_indices:
            norm = build_norm_layer(norm_cfg, self.num_features[i])[1] if norm_cfg is not None \
                else nn.Identity()
            self.add_module(f'norm{i}', norm)

    def forward(self, x):
        x, hw_shape = self._embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape = stage(x, hw_shape, do_downsample=self.out_after_downsample)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out.view(-1, *hw_shape, self.num_features[i])
                            .permute(0, 3, 1, 2).contiguous())
            if stage.downsample is not None and not self.out_after_downsample:
                x, hw_shape = stage.downsample(x, hw_shape)
        return tuple(outs)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        version = local_metadata.get('version', None)
        if (version is None or version < 2) and type(self) is SwinTransformer:
            # Before version 2 the last stage's norm was called "norm".
            final = len(self.stages) - 1
            for k in list(state_dict):
                if k.startswith('norm.') or k.startswith('backbone.norm.'):
                    state_dict[k.replace('norm.', f'norm{final}.')] = state_dict.pop(k)
        if (version is None or version < 3) and type(self) is SwinTransformer:
            for k in [k for k in state_dict if 'attn_mask' in k]:
                del state_dict[k]  # masks are computed, no longer buffers
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)

    def _prepare_relative_position_bias_table(self, state_dict, prefix, *args, **kwargs):
        """Load hook: bias tables for another window size are resampled to this one's.

        mmcls then drops the checkpoint's ``relative_position_index`` (the model keeps its
        own); here the model's own index takes its place, so a strict load still succeeds.
        """
        for name, m in self.named_modules():
            if not isinstance(m, WindowMSA):
                continue
            key = f'{prefix}{name}.relative_position_bias_table'
            if key not in state_dict:
                continue
            table = state_dict[key]
            (l1, heads), (l2, _) = table.shape, m.relative_position_bias_table.shape
            if l1 == l2:
                continue
            new = resize_relative_position_bias_table(int(l1 ** 0.5), int(l2 ** 0.5), table, heads)
            _log.info('Resize the relative_position_bias_table from %s to %s',
                      tuple(table.shape), tuple(new.shape))
            state_dict[key] = new
            state_dict[f'{prefix}{name}.relative_position_index'] = m.relative_position_index
