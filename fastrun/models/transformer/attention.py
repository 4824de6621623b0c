"""Multi-head self-attention blocks (mmcls 0.x's), computed by ``scaled_dot_product_attention``.

Parameter and buffer names are mmcls's, so its checkpoints load as they are: ``qkv`` and
``proj`` Linear layers; Swin's ``relative_position_bias_table`` with its
``relative_position_index`` buffer; Swin V2's ``cpb_mlp``, ``logit_scale``, ``q_bias``,
``v_bias`` and ``relative_coords_table``. Position biases and shifted-window masks are passed
to the fused kernel as one additive mask instead of being added to a materialised score matrix.
"""
import math
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import BaseModule
from ..layers import build_dropout, trunc_normal_
from .embed import to_2tuple

__all__ = ['MultiheadAttention', 'ShiftWindowMSA', 'WindowMSA', 'WindowMSAV2']


def _split_heads(qkv, num_heads):
    """(B, N, 3*C) -> q, k, v of shape (B, heads, N, C/heads) each (views, no copy)."""
    B, N, _ = qkv.shape
    return qkv.reshape(B, N, 3, num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)


def _merge_heads(x):
    """(B, heads, N, d) -> (B, N, heads*d)."""
    B, _, N, _ = x.shape
    return x.transpose(1, 2).reshape(B, N, -1)


class MultiheadAttention(BaseModule):
    """Global multi-head self-attention with one ``qkv`` projection (mmcls's, not torch's layout).

    ``attn_drop`` drops attention weights (inside the fused kernel, in training only);
    ``proj_drop`` the projected output; ``dropout_layer`` (Dropout or DropPath config) the
    result before the caller's residual. ``qk_scale`` overrides ``head_dims ** -0.5``.
    ``v_shortcut`` adds ``v`` to the output (single-head T2T-style blocks).
    """

    def __init__(self, embed_dims, num_heads, input_dims=None, attn_drop=0., proj_drop=0.,
                 dropout_layer=dict(type='Dropout', drop_prob=0.), qkv_bias=True, qk_scale=None,
                 proj_bias=True, v_shortcut=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads {num_heads}')
        self.input_dims = input_dims or embed_dims
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.v_shortcut = v_shortcut
        self.head_dims = embed_dims // num_heads
        self.scale = qk_scale or self.head_dims ** -0.5
        self.attn_drop_rate = float(attn_drop)
        self.qkv = nn.Linear(self.input_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)
        self.out_drop = build_dropout(dropout_layer)

    def forward(self, x):
        q, k, v = _split_heads(self.qkv(x), self.num_heads)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop_rate if self.training else 0.0, scale=self.scale)
        out = self.out_drop(self.proj_drop(self.proj(_merge_heads(out))))
        if self.v_shortcut:
            out = v.squeeze(1) + out
        return out


def _relative_position_index(window_size):
    """(Wh*Ww, Wh*Ww) index into a (2Wh-1)*(2Ww-1) table: row-major (dh, dw) offset of j from i."""
    wh, ww = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij')).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


def _explicit_window_attention(q, k, v, bias, mask, dropout_p, scale):
    """The same as :func:`_window_attention` by explicit products (see there for when)."""
    attn = (q * scale) @ k.transpose(-2, -1) + bias.unsqueeze(0)
    if mask is not None:
        b_, heads, n, _ = attn.shape
        attn = attn.view(b_ // mask.shape[0], mask.shape[0], heads, n, n) + mask[None, :, None]
        attn = attn.view(b_, heads, n, n)
    attn = attn.softmax(dim=-1)
    if dropout_p:
        attn = F.dropout(attn, dropout_p)
    return attn @ v


def _window_attention(q, k, v, bias, mask, dropout_p, scale):
    """Attention of windows q, k, v (B*nW, heads, N, d) with a (heads, N, N) bias and an
    optional (nW, N, N) shift mask, as one fused call.

    Except when the bias needs a gradient on a CPU: torch's fused CPU kernel has no gradient
    for an additive mask, and the generic path it falls back to is slower than the explicit
    products (about 5% of a Swin-T training step), so those take the explicit route. GPU
    kernels (memory-efficient attention) do give the mask its gradient.
    """
    if bias.requires_grad and q.device.type == 'cpu':
        return _explicit_window_attention(q, k, v, bias, mask, dropout_p, scale)
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0),
                                              dropout_p=dropout_p, scale=scale)
    n_windows = mask.shape[0]
    b_, heads, n, d = q.shape
    # (B, nW*heads, N, d): the mask then broadcasts over the batch alone and the call stays 4-d,
    # which the fused CPU and GPU kernels need.
    q, k, v = (t.reshape(b_ // n_windows, n_windows * heads, n, d) for t in (q, k, v))
    attn_mask = (mask.unsqueeze(1) + bias.unsqueeze(0)).reshape(1, n_windows * heads, n, n)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                         scale=scale)
    return out.reshape(b_, heads, n, d)


class WindowMSA(BaseModule):
    """Multi-head self-attention inside windows with a learned relative position bias (Swin).

    ``forward(x, mask=None)``: ``x`` (num_windows*B, Wh*Ww, C); ``mask`` (num_windows, N, N)
    holds 0 or a large negative value, added to the scores.
    """

    def __init__(self, embed_dims, window_size, num_heads, qkv_bias=True, qk_scale=None,
                 attn_drop=0., proj_drop=0., init_cfg=None):
        super().__init__(init_cfg)
        self.embed_dims = embed_dims
        self.window_size = tuple(to_2tuple(window_size))
        self.num_heads = num_heads
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer('relative_position_index', _relative_position_index(self.window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop_rate = float(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def init_weights(self):
        super().init_weights()
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self):
        """(heads, N, N) bias from the table."""
        n = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def forward(self, x, mask=None):
        q, k, v = _split_heads(self.qkv(x), self.num_heads)
        out = _window_attention(q, k, v, self.relative_position_bias(), mask,
                                self.attn_drop_rate if self.training else 0.0, self.scale)
        return self.proj_drop(self.proj(_merge_heads(out)))


class WindowMSAV2(BaseModule):
    """Swin V2's window attention: cosine scores with a learned per-head temperature
    (``logit_scale``) and a continuous position bias from a small MLP (``cpb_mlp``) over
    log-spaced relative coordinates. ``pretrained_window_size`` scales the coordinates as the
    window the weights were trained with. Extra keyword arguments (``qk_scale``) are ignored.
    """

    def __init__(self, embed_dims, window_size, num_heads, qkv_bias=True, attn_drop=0.,
                 proj_drop=0., cpb_mlp_hidden_dims=512, pretrained_window_size=(0, 0),
                 init_cfg=None, **kwargs):
        super().__init__(init_cfg)
        self.embed_dims = embed_dims
        self.window_size = tuple(to_2tuple(window_size))
        self.num_heads = num_heads
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, cpb_mlp_hidden_dims, bias=True), nn.ReLU(inplace=True),
            nn.Linear(cpb_mlp_hidden_dims, num_heads, bias=False))
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((num_heads, 1, 1))))

        wh, ww = self.window_size
        pretrained = to_2tuple(pretrained_window_size)
        span = (pretrained[0] - 1, pretrained[1] - 1) if pretrained[0] > 0 else (wh - 1, ww - 1)
        dh = torch.arange(-(wh - 1), wh, dtype=torch.float32) / span[0]
        dw = torch.arange(-(ww - 1), ww, dtype=torch.float32) / span[1]
        table = torch.stack(torch.meshgrid(dh, dw, indexing='ij'), dim=-1).unsqueeze(0) * 8
        # sign(x) * log2(|x| + 1) / log2(8): offsets in [-8, 8] mapped to about [-1, 1].
        table = torch.sign(table) * torch.log2(table.abs() + 1.0) / np.log2(8)
        self.register_buffer('relative_coords_table', table)
        self.register_buffer('relative_position_index', _relative_position_index(self.window_size))

        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = None
            self.v_bias = None
        self.attn_drop_rate = float(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def relative_position_bias(self):
        """(heads, N, N) bias: ``16 * sigmoid(cpb_mlp(coords))`` gathered by the index."""
        n = self.window_size[0] * self.window_size[1]
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        return 16 * torch.sigmoid(bias)

    def forward(self, x, mask=None):
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        q, k, v = _split_heads(F.linear(x, self.qkv.weight, bias), self.num_heads)
        # cosine similarity times the clamped temperature: folded into q, the kernel's scale is 1.
        logit_scale = torch.clamp(self.logit_scale, max=math.log(1. / 0.01)).exp()
        q = F.normalize(q, dim=-1) * logit_scale
        k = F.normalize(k, dim=-1)
        out = _window_attention(q, k, v, self.relative_position_bias(), mask,
                                self.attn_drop_rate if self.training else 0.0, 1.0)
        return self.proj_drop(self.proj(_merge_heads(out)))


class ShiftWindowMSA(BaseModule):
    """Window attention over a token grid, its windows shifted by ``shift_size`` (Swin's SW-MSA).

    ``forward(x, (H, W))`` pads the grid to whole windows, rolls it by ``-shift_size``, attends
    within windows (masking pairs that were not neighbours before the roll), and undoes all
    that. As mmcls: without ``pad_small_map`` a grid exactly one window wide is not shifted and
    a smaller one is an error. The shift masks are cached per grid size and device.
    ``window_msa`` picks the attention (``WindowMSA`` or ``WindowMSAV2``, extra arguments in
    ``msa_cfg``); it is the child ``w_msa``.
    """

    def __init__(self, embed_dims, num_heads, window_size, shift_size=0, qkv_bias=True,
                 qk_scale=None, attn_drop=0, proj_drop=0,
                 dropout_layer=dict(type='DropPath', drop_prob=0.), pad_small_map=False,
                 input_resolution=None, auto_pad=None, window_msa=WindowMSA, msa_cfg=dict(),
                 init_cfg=None):
        super().__init__(init_cfg)
        if input_resolution is not None or auto_pad is not None:
            warnings.warn('ShiftWindowMSA: input_resolution and auto_pad are deprecated; any '
                          'input size is padded as needed', DeprecationWarning)
        if not 0 <= shift_size < window_size:
            raise ValueError(f'shift_size must be in [0, window_size={window_size}), '
                             f'got {shift_size}')
        self.shift_size = shift_size
        self.window_size = window_size
        self.w_msa = window_msa(embed_dims=embed_dims, window_size=to_2tuple(window_size),
                                num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                                attn_drop=attn_drop, proj_drop=proj_drop, **msa_cfg)
        self.drop = build_dropout(dropout_layer)
        self.pad_small_map = pad_small_map
        self._masks = {}  # (H_pad, W_pad, shift, device) -> mask; not state

    def forward(self, query, hw_shape):
        B, L, C = query.shape
        H, W = hw_shape
        if L != H * W:
            raise ValueError(f'ShiftWindowMSA: {L} tokens do not form the grid {H}x{W}')
        ws = self.window_size
        shift = self.shift_size
        if min(H, W) == ws:
            shift = shift if self.pad_small_map else 0
        elif min(H, W) < ws and not self.pad_small_map:
            raise ValueError(f'the feature map ({H}, {W}) is smaller than the window size {ws}: '
                             'set pad_small_map=True or a smaller window_size')
        x = query.view(B, H, W, C)
        pad_r, pad_b = (ws - W % ws) % ws, (ws - H % ws) % ws
        if pad_r or pad_b:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        H_pad, W_pad = x.shape[1], x.shape[2]
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        mask = self._mask(H_pad, W_pad, shift, x.device)
        windows = self.window_partition(x, ws).view(-1, ws * ws, C)
        windows = self.w_msa(windows, mask=mask).view(-1, ws, ws, C)
        x = self.window_reverse(windows, H_pad, W_pad, ws)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        if pad_r or pad_b:
            x = x[:, :H, :W, :]
        return self.drop(x.reshape(B, H * W, C))

    def _mask(self, H_pad, W_pad, shift, device):
        if shift == 0:
            return None
        key = (H_pad, W_pad, shift, device)
        mask = self._masks.get(key)
        if mask is None:
            mask = self.get_attn_mask((H_pad, W_pad), self.window_size, shift, device)
            self._masks[key] = mask
        return mask

    @staticmethod
    def window_partition(x, window_size):
        """(B, H, W, C) -> (B*nW, ws, ws, C), windows of a sample consecutive, row-major."""
        B, H, W, C = x.shape
        x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, C)

    @staticmethod
    def window_reverse(windows, H, W, window_size):
        """Inverse of :meth:`window_partition`."""
        B = windows.shape[0] // ((H // window_size) * (W // window_size))
        x = windows.view(B, H // window_size, W // window_size, window_size, window_size, -1)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)

    @staticmethod
    def get_attn_mask(hw_shape, window_size, shift_size, device=None):
        """(nW, N, N) mask: -100 between tokens of different regions after the roll, else 0."""
        if shift_size <= 0:
            return None
        H, W = hw_shape
        region = torch.zeros(1, H, W, 1, device=device)
        bounds = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
        for i, h in enumerate(bounds):
            for j, w in enumerate(bounds):
                region[:, h, w, :] = i * 3 + j
        ids = ShiftWindowMSA.window_partition(region, window_size).view(-1, window_size ** 2)
        diff = ids.unsqueeze(1) - ids.unsqueeze(2)
        return torch.where(diff != 0, torch.tensor(-100.0, device=device),
                           torch.tensor(0.0, device=device))
