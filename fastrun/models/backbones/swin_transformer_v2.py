"""``SwinTransformerV2`` with mmcls 0.x's arguments, defaults and state_dict keys."""
from collections.abc import Sequence
from copy import deepcopy

import torch
import torch.nn as nn

from ...registry import MODELS
from ..base import BaseModule, ModuleList
from ..layers import build_norm_layer
from ..transformer import FFN, PatchEmbed, PatchMerging, ShiftWindowMSA, WindowMSAV2, to_2tuple
from .swin_transformer import _per_block, _SwinBase
from .vision_transformer import _arch_settings, _checkpointed

__all__ = ['SwinBlockV2', 'SwinBlockV2Sequence', 'SwinTransformerV2']


class SwinBlockV2(BaseModule):
    """Post-norm Swin block: ``x + norm1(attn(x))`` then ``x + norm2(ffn(x))`` (and ``norm3``
    after both when ``extra_norm``), with Swin V2's cosine window attention."""

    def __init__(self, embed_dims, num_heads, window_size=8, shift=False, extra_norm=False,
                 ffn_ratio=4., drop_path=0., pad_small_map=False, attn_cfgs=dict(),
                 ffn_cfgs=dict(), norm_cfg=dict(type='LN'), with_cp=False,
                 pretrained_window_size=0, init_cfg=None):
        super().__init__(init_cfg)
        self.with_cp = with_cp
        self.extra_norm = extra_norm
        _attn_cfgs = dict(embed_dims=embed_dims, num_heads=num_heads,
                          shift_size=window_size // 2 if shift else 0, window_size=window_size,
                          dropout_layer=dict(type='DropPath', drop_prob=drop_path),
                          pad_small_map=pad_small_map, **attn_cfgs)
        _attn_cfgs.update(window_msa=WindowMSAV2,
                          msa_cfg=dict(pretrained_window_size=to_2tuple(pretrained_window_size)))
        self.attn = ShiftWindowMSA(**_attn_cfgs)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        _ffn_cfgs = dict(embed_dims=embed_dims, feedforward_channels=int(embed_dims * ffn_ratio),
                         num_fcs=2, ffn_drop=0,
                         dropout_layer=dict(type='DropPath', drop_prob=drop_path),
                         act_cfg=dict(type='GELU'), add_identity=False, **ffn_cfgs)
        self.ffn = FFN(**_ffn_cfgs)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        if self.extra_norm:
            self.norm3 = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x, hw_shape):
        def inner(x):
            x = x + self.norm1(self.attn(x, hw_shape))
            x = x + self.norm2(self.ffn(x))
            return self.norm3(x) if self.extra_norm else x
        return _checkpointed(inner, x, self.with_cp)


class SwinBlockV2Sequence(BaseModule):
    """One stage: an optional ``downsample`` first (V2 merges before the blocks), then ``depth``
    SwinBlockV2 at the merged width; ``norm3`` every ``extra_norm_every_n_blocks`` blocks."""

    def __init__(self, embed_dims, depth, num_heads, window_size=8, downsample=False,
                 downsample_cfg=dict(), drop_paths=0., block_cfgs=dict(), with_cp=False,
                 pad_small_map=False, extra_norm_every_n_blocks=0, pretrained_window_size=0,
                 init_cfg=None):
        super().__init__(init_cfg)
        drop_paths = _per_block(drop_paths, depth)
        block_cfgs = _per_block(block_cfgs, depth, copy=True)
        if downsample:
            self.out_channels = 2 * embed_dims
            cfg = dict(in_channels=embed_dims, out_channels=self.out_channels,
                       norm_cfg=dict(type='LN'))
            cfg.update(downsample_cfg)
            self.downsample = PatchMerging(**cfg)
        else:
            self.out_channels = embed_dims
            self.downsample = None
        self.blocks = ModuleList()
        for i in range(depth):
            cfg = dict(embed_dims=self.out_channels, num_heads=num_heads, window_size=window_size,
                       shift=i % 2 == 1,
                       extra_norm=bool(extra_norm_every_n_blocks
                                       and (i + 1) % extra_norm_every_n_blocks == 0),
                       drop_path=drop_paths[i], with_cp=with_cp, pad_small_map=pad_small_map,
                       pretrained_window_size=pretrained_window_size)
            cfg.update(block_cfgs[i])
            self.blocks.append(SwinBlockV2(**cfg))

    def forward(self, x, in_shape):
        if self.downsample:
            x, in_shape = self.downsample(x, in_shape)
        for block in self.blocks:
            x = block(x, in_shape)
        return x, in_shape


@MODELS.register_module()
class SwinTransformerV2(_SwinBase):
    """Swin Transformer V2 (archs tiny, small, base, large, huge, giant, or a dict with exactly
    embed_dims, depths, num_heads, extra_norm_every_n_blocks), mmcls 0.x's.

    ``window_size`` is one int or one per stage; ``pretrained_window_sizes`` the windows the
    weights were trained with (the continuous position bias is scaled to them). Loading a
    checkpoint takes this model's own ``relative_position_index`` and ``relative_coords_table``
    (mmcls drops the checkpoint's, which only a non-strict load survives; here strict works).
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(embed_dims=96, depths=[2, 2, 6, 2],
                                            num_heads=[3, 6, 12, 24], extra_norm_every_n_blocks=0)),
        **dict.fromkeys(['s', 'small'], dict(embed_dims=96, depths=[2, 2, 18, 2],
                                             num_heads=[3, 6, 12, 24],
                                             extra_norm_every_n_blocks=0)),
        **dict.fromkeys(['b', 'base'], dict(embed_dims=128, depths=[2, 2, 18, 2],
                                            num_heads=[4, 8, 16, 32], extra_norm_every_n_blocks=0)),
        **dict.fromkeys(['l', 'large'], dict(embed_dims=192, depths=[2, 2, 18, 2],
                                             num_heads=[6, 12, 24, 48],
                                             extra_norm_every_n_blocks=0)),
        **dict.fromkeys(['h', 'huge'], dict(embed_dims=352, depths=[2, 2, 18, 2],
                                            num_heads=[8, 16, 32, 64], extra_norm_every_n_blocks=6)),
        **dict.fromkeys(['g', 'giant'], dict(embed_dims=512, depths=[2, 2, 42, 4],
                                             num_heads=[16, 32, 64, 128],
                                             extra_norm_every_n_blocks=6)),
    }
    _version = 1

    def __init__(self, arch='tiny', img_size=256, patch_size=4, in_channels=3, window_size=8,
                 drop_rate=0., drop_path_rate=0.1, out_indices=(3,), use_abs_pos_embed=False,
                 interpolate_mode='bicubic', with_cp=False, frozen_stages=-1, norm_eval=False,
                 pad_small_map=False, norm_cfg=dict(type='LN'),
                 stage_cfgs=dict(downsample_cfg=dict(is_post_norm=True)), patch_cfg=dict(),
                 pretrained_window_sizes=[0, 0, 0, 0], init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        self.arch_settings = _arch_settings(
            arch, self.arch_zoo, {'embed_dims', 'depths', 'num_heads', 'extra_norm_every_n_blocks'},
            name, exact=True)
        self.embed_dims = self.arch_settings['embed_dims']
        self.depths = self.arch_settings['depths']
        self.num_heads = self.arch_settings['num_heads']
        self.extra_norm_every_n_blocks = self.arch_settings['extra_norm_every_n_blocks']
        self.num_layers = len(self.depths)
        self.out_indices = out_indices
        self.use_abs_pos_embed = use_abs_pos_embed
        self.interpolate_mode = interpolate_mode
        self.frozen_stages = frozen_stages
        if isinstance(window_size, int):
            self.window_sizes = [window_size] * self.num_layers
        elif isinstance(window_size, Sequence):
            if len(window_size) != self.num_layers:
                raise ValueError(f'{name}: {len(window_size)} window sizes for '
                                 f'{self.num_layers} stages')
            self.window_sizes = list(window_size)
        else:
            raise TypeError(f'{name}: window_size must be an int or a sequence, '
                            f'got {type(window_size).__name__}')

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
        self._register_load_state_dict_pre_hook(self._keep_own_tables)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        self.norm_eval = norm_eval

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(self.depths))]
        self.stages = ModuleList()
        embed_dims = [self.embed_dims]
        for i, (depth, num_heads) in enumerate(zip(self.depths, self.num_heads)):
            stage_cfg = stage_cfgs[i] if isinstance(stage_cfgs, Sequence) else deepcopy(stage_cfgs)
            cfg = dict(embed_dims=embed_dims[-1], depth=depth, num_heads=num_heads,
                       window_size=self.window_sizes[i], downsample=i > 0,
                       drop_paths=dpr[:depth], with_cp=with_cp, pad_small_map=pad_small_map,
                       extra_norm_every_n_blocks=self.extra_norm_every_n_blocks,
                       pretrained_window_size=pretrained_window_sizes[i])
            cfg.update(stage_cfg)
            stage = SwinBlockV2Sequence(**cfg)
            self.stages.append(stage)
            dpr = dpr[depth:]
            embed_dims.append(stage.out_channels)
        for i in out_indices:
            norm = build_norm_layer(norm_cfg, embed_dims[i + 1])[1] if norm_cfg is not None \
                else nn.Identity()
            self.add_module(f'norm{i}', norm)

    def forward(self, x):
        x, hw_shape = self._embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out.view(-1, *hw_shape, stage.out_channels)
                            .permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _keep_own_tables(self, state_dict, prefix, *args, **kwargs):
        """Load hook: the index and coordinate buffers are the model's own, whatever the file holds."""
        for name, m in self.named_modules():
            if isinstance(m, WindowMSAV2):
                for buf in ('relative_position_index', 'relative_coords_table'):
                    state_dict[f'{prefix}{name}.{buf}'] = getattr(m, buf)
