"""Patch embedding and merging, and resizing position tables of checkpoints (mmcv/mmcls's)."""
import collections.abc
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import BaseModule
from ..layers import build_conv_layer, build_norm_layer

__all__ = ['AdaptivePadding', 'PatchEmbed', 'PatchMerging', 'resize_pos_embed',
           'resize_relative_position_bias_table', 'to_2tuple']


def to_2tuple(x):
    """``x`` itself when it is iterable, else ``(x, x)`` (mmcls's ``to_2tuple``)."""
    if isinstance(x, collections.abc.Iterable):
        return x
    return (x, x)


def _conv_out(size, padding, dilation, kernel_size, stride):
    return tuple((size[i] + 2 * padding[i] - dilation[i] * (kernel_size[i] - 1) - 1)
                 // stride[i] + 1 for i in range(2))


class AdaptivePadding(nn.Module):
    """Zero-pad (N, C, H, W) so that a ``kernel_size``/``stride`` window covers all of it.

    ``padding='corner'`` pads bottom and right; ``'same'`` splits the padding evenly (TF SAME).
    """

    def __init__(self, kernel_size=1, stride=1, dilation=1, padding='corner'):
        super().__init__()
        if padding not in ('same', 'corner'):
            raise ValueError(f"padding must be 'same' or 'corner', got {padding!r}")
        self.padding = padding
        self.kernel_size = to_2tuple(kernel_size)
        self.stride = to_2tuple(stride)
        self.dilation = to_2tuple(dilation)

    def get_pad_shape(self, input_shape):
        """``(pad_h, pad_w)`` for an input of spatial size ``(H, W)``."""
        pads = []
        for size, k, s, d in zip(input_shape, self.kernel_size, self.stride, self.dilation):
            out = math.ceil(size / s)
            pads.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0))
        return tuple(pads)

    def forward(self, x):
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if pad_h > 0 or pad_w > 0:
            if self.padding == 'corner':
                x = F.pad(x, [0, pad_w, 0, pad_h])
            else:
                x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return x


class PatchEmbed(BaseModule):
    """Image to patch tokens with one convolution (mmcv's ``PatchEmbed``; keys ``projection``, ``norm``).

    ``forward(x)`` gives ``(tokens (B, h*w, embed_dims), (h, w))``; any input size works.
    ``input_size`` only fixes ``init_out_size``, the token grid the position embedding is made
    for. A string ``padding`` ('corner' or 'same') pads adaptively so every pixel is covered.
    """

    def __init__(self, in_channels=3, embed_dims=768, conv_type='Conv2d', kernel_size=16,
                 stride=16, padding='corner', dilation=1, bias=True, norm_cfg=None,
                 input_size=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        if stride is None:
            stride = kernel_size
        kernel_size, stride, dilation = to_2tuple(kernel_size), to_2tuple(stride), to_2tuple(dilation)
        if isinstance(padding, str):
            self.adaptive_padding = AdaptivePadding(kernel_size, stride, dilation, padding)
            padding = 0
        else:
            self.adaptive_padding = None
        padding = to_2tuple(padding)
        self.projection = build_conv_layer(dict(type=conv_type), in_channels=in_channels,
                                           out_channels=embed_dims, kernel_size=kernel_size,
                                           stride=stride, padding=padding, dilation=dilation,
                                           bias=bias)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None
        if input_size:
            input_size = to_2tuple(input_size)
            self.init_input_size = input_size
            if self.adaptive_padding:
                pad_h, pad_w = self.adaptive_padding.get_pad_shape(input_size)
                input_size = (input_size[0] + pad_h, input_size[1] + pad_w)
            self.init_out_size = _conv_out(input_size, padding, dilation, kernel_size, stride)
        else:
            self.init_input_size = None
            self.init_out_size = None

    def forward(self, x):
        if self.adaptive_padding:
            x = self.adaptive_padding(x)
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size


class PatchMerging(BaseModule):
    """Merge each ``kernel_size`` neighbourhood of tokens into one (Swin's downsampling).

    Keys ``reduction`` (a bias-free Linear by default) and ``norm``: mmcv's layer, which
    normalises before the reduction, or with ``is_post_norm`` (Swin V2) after it. Patches are
    gathered with ``nn.Unfold``, so the channel order is mmcv's (not the original Swin repo's).
    ``forward(x, (H, W))`` gives ``(tokens, (H', W'))``.
    """

    def __init__(self, in_channels, out_channels, kernel_size=2, stride=None, padding='corner',
                 dilation=1, bias=False, norm_cfg=dict(type='LN'), is_post_norm=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.is_post_norm = is_post_norm
        stride = stride or kernel_size
        kernel_size, stride, dilation = to_2tuple(kernel_size), to_2tuple(stride), to_2tuple(dilation)
        if isinstance(padding, str):
            self.adaptive_padding = AdaptivePadding(kernel_size, stride, dilation, padding)
            padding = 0
        else:
            self.adaptive_padding = None
        padding = to_2tuple(padding)
        self.sampler = nn.Unfold(kernel_size=kernel_size, dilation=dilation, padding=padding,
                                 stride=stride)
        sample_dim = kernel_size[0] * kernel_size[1] * in_channels
        norm = None
        if norm_cfg is not None:
            norm = build_norm_layer(norm_cfg, out_channels if is_post_norm else sample_dim)[1]
        # Registered in the order of mmcv's (pre-norm) and mmcls's (post-norm) layers, so
        # state_dict keys come in the order of their checkpoints.
        if not is_post_norm:
            self.norm = norm
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)
        if is_post_norm:
            self.norm = norm

    def forward(self, x, input_size):
        B, L, C = x.shape
        H, W = input_size
        if L != H * W:
            raise ValueError(f'PatchMerging: {L} tokens do not form the grid {H}x{W}')
        x = x.view(B, H, W, C).permute(0, 3, 1, 2)
        if self.adaptive_padding:
            x = self.adaptive_padding(x)
            H, W = x.shape[-2:]
        x = self.sampler(x)
        s = self.sampler
        out_size = _conv_out((H, W), to_2tuple(s.padding), to_2tuple(s.dilation),
                             to_2tuple(s.kernel_size), to_2tuple(s.stride))
        x = x.transpose(1, 2)
        if self.is_post_norm:
            x = self.reduction(x)
            x = self.norm(x) if self.norm is not None else x
        else:
            x = self.norm(x) if self.norm is not None else x
            x = self.reduction(x)
        return x, out_size


def resize_pos_embed(pos_embed, src_shape, dst_shape, mode='bicubic', num_extra_tokens=1):
    """A position embedding (1, extra + h*w, C) made for the ``src_shape`` grid, for ``dst_shape``.

    The extra tokens' rows (cls, dist) are kept; the grid is interpolated with ``mode``
    (``align_corners=False``), as mmcls does when fine-tuning at another image size.
    """
    if src_shape[0] == dst_shape[0] and src_shape[1] == dst_shape[1]:
        return pos_embed
    if pos_embed.ndim != 3:
        raise ValueError(f'pos_embed must have the shape [1, L, C], got {tuple(pos_embed.shape)}')
    _, length, channels = pos_embed.shape
    src_h, src_w = src_shape
    if length != src_h * src_w + num_extra_tokens:
        raise ValueError(f'pos_embed has {length} rows, not {src_h}*{src_w}+{num_extra_tokens} '
                         f'(check img_size)')
    extra = pos_embed[:, :num_extra_tokens]
    grid = pos_embed[:, num_extra_tokens:].reshape(1, src_h, src_w, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(dst_shape), align_corners=False, mode=mode)
    return torch.cat((extra, grid.flatten(2).transpose(1, 2)), dim=1)


def _spline_matrix(knots, points):
    """Matrix A with ``A @ y`` = the not-a-knot cubic spline through (knots, y) at ``points``.

    That spline is what FITPACK's interpolating bicubic (``s=0``, the one scipy's retired
    ``interp2d(kind='cubic')`` fitted) is along each axis; points outside the knots take the
    end value, as FITPACK clamps them.
    """
    x = np.asarray(knots, dtype=np.float64)
    n = len(x)
    if n < 4:
        raise ValueError(f'a cubic spline needs 4 or more knots, got {n}')
    h = np.diff(x)
    # Second derivatives M = S^-1 R y: interior rows are the usual spline equations, the first
    # and last rows make the third derivative continuous at x[1] and x[n-2] (not-a-knot).
    S = np.zeros((n, n))
    R = np.zeros((n, n))
    S[0, :3] = h[1], -(h[0] + h[1]), h[0]
    S[-1, -3:] = h[-1], -(h[-2] + h[-1]), h[-2]
    for i in range(1, n - 1):
        S[i, i - 1:i + 2] = h[i - 1], 2 * (h[i - 1] + h[i]), h[i]
        R[i, i - 1:i + 2] = 6 / h[i - 1], -6 / h[i - 1] - 6 / h[i], 6 / h[i]
    G = np.linalg.solve(S, R)
    t = np.clip(np.asarray(points, dtype=np.float64), x[0], x[-1])
    k = np.clip(np.searchsorted(x, t, side='right') - 1, 0, n - 2)
    hk = h[k]
    a = (x[k + 1] - t) / hk
    b = (t - x[k]) / hk
    rows = np.arange(len(t))
    A = np.zeros((len(t), n))
    A[rows, k] += a
    A[rows, k + 1] += b
    A += ((a ** 3 - a) * hk ** 2 / 6)[:, None] * G[k] + ((b ** 3 - b) * hk ** 2 / 6)[:, None] * G[k + 1]
    return A


def resize_relative_position_bias_table(src_shape, dst_shape, table, num_head):
    """A Swin relative position bias table ``(src_shape**2, num_head)`` resized to ``dst_shape``.

    mmcls's method: the source offsets are spread on a geometric progression that reaches
    ``dst_shape // 2``, and each head's table is resampled at integer offsets with a bicubic
    interpolating spline. Returns float32 on ``table``'s device. Needs no scipy.
    """
    def geometric_sum(r, n):
        return (1.0 - r ** n) / (1.0 - r)

    # Bisection for the ratio q whose progression 1, q, q^2, ... spans dst_shape // 2.
    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if geometric_sum(q, src_shape // 2) > dst_shape // 2:
            right = q
        else:
            left = q
    dis, cur = [], 1
    for i in range(src_shape // 2):
        dis.append(cur)
        cur += q ** (i + 1)
    knots = [-d for d in reversed(dis)] + [0] + dis
    t = dst_shape // 2.0
    points = np.arange(-t, t + 0.1, 1.0)
    A = torch.from_numpy(_spline_matrix(knots, points))
    grids = table.detach().to('cpu', torch.float64).t().reshape(num_head, src_shape, src_shape)
    out = A @ grids @ A.t()  # (num_head, dst, dst): rows along y, columns along x
    return out.reshape(num_head, -1).t().contiguous().to(device=table.device, dtype=torch.float32)
