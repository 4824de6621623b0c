"""mmcv 1.x's fp16 helpers (``mmcv.runner.fp16_utils``), on top of ``torch.autocast``.

fastrun runs mixed precision with autocast (``optimizer_config=dict(amp=dict(dtype=...))`` or
``Fp16OptimizerHook``), which casts per operation; the model's weights stay float32, as with
mmcv on PyTorch >= 1.6. Models written for mmcv keep their decorators' meaning: a module
whose ``fp16_enabled`` is True (``wrap_fp16_model`` sets it; ``Fp16OptimizerHook`` calls it on
CUDA) gets

- ``@auto_fp16(apply_to=...)``: the named float32 tensor arguments cast to float16, the
  method run under CUDA float16 autocast when its inputs are on a GPU, the outputs cast back to
  float32 with ``out_fp32``;
- ``@force_fp32(apply_to=...)``: the named float16 arguments cast to float32, the method run
  with autocast off, the outputs cast to float16 with ``out_fp16``.

With ``fp16_enabled`` False or absent both call the method as it is. Both decorate methods of
an ``nn.Module`` only (a TypeError otherwise, when called), as in mmcv.
"""
import contextlib
import functools
import inspect
from collections import abc

import torch
from torch import nn

from .errors import ArgumentError

__all__ = ['cast_tensor_type', 'auto_fp16', 'force_fp32', 'wrap_fp16_model', 'patch_norm_fp32',
           'patch_forward_method', 'LossScaler']


def cast_tensor_type(inputs, src_type, dst_type):
    """``inputs`` with every tensor of dtype ``src_type`` in it cast to ``dst_type``.

    Tensors of other dtypes, modules, strings, arrays and other objects are kept; mappings,
    lists, tuples (named ones too) and sets are rebuilt with their items cast.
    """
    if isinstance(inputs, torch.Tensor):
        return inputs.to(dst_type) if inputs.dtype == src_type else inputs
    if isinstance(inputs, (nn.Module, str, bytes)):
        return inputs
    if isinstance(inputs, abc.Mapping):
        items = {k: cast_tensor_type(v, src_type, dst_type) for k, v in inputs.items()}
        try:
            return type(inputs)(items)
        except TypeError:  # a mapping type built otherwise (defaultdict): a plain dict
            return items
    if isinstance(inputs, tuple) and hasattr(inputs, '_fields'):
        return type(inputs)(*(cast_tensor_type(v, src_type, dst_type) for v in inputs))
    if isinstance(inputs, (list, tuple, set, frozenset)):
        return type(inputs)(cast_tensor_type(v, src_type, dst_type) for v in inputs)
    return inputs


def _positional_names(fn):
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _cast_arguments(names, apply_to, args, kwargs, src, dst):
    wanted = set(names if apply_to is None else apply_to)
    args = [cast_tensor_type(a, src, dst) if n in wanted else a for n, a in zip(names, args)] \
        + list(args[len(names):])
    kwargs = {k: cast_tensor_type(v, src, dst) if k in wanted else v for k, v in kwargs.items()}
    return args, kwargs


def _on_cuda(values):
    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, torch.Tensor):
            if v.is_cuda:
                return True
        elif isinstance(v, abc.Mapping):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return False


def _module_method(decorator, supported_types, args):
    if not args or not isinstance(args[0], supported_types):
        names = ', '.join(t.__name__ for t in supported_types)
        raise TypeError(f'@{decorator} can only be used to decorate the method of those '
                        f'classes ({names}), got {type(args[0]).__name__ if args else "no self"}')
    return getattr(args[0], 'fp16_enabled', False)


def auto_fp16(apply_to=None, out_fp32=False, supported_types=(nn.Module,)):
    """Decorate an ``nn.Module`` method: with ``self.fp16_enabled`` its float32 tensor
    arguments named in ``apply_to`` (all when None) become float16 (see the module's text)."""
    def decorator(fn):
        names = _positional_names(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not _module_method('auto_fp16', supported_types, args):
                return fn(*args, **kwargs)
            new_args, new_kwargs = _cast_arguments(names, apply_to, args, kwargs,
                                                   torch.float, torch.half)
            # CUDA float16 autocast as mmcv's torch.cuda.amp.autocast; on CPU tensors mmcv's is
            # a no-op, so is this (an autocast the runner set around the step stays).
            on_gpu = _on_cuda(new_args) or _on_cuda(new_kwargs.values())
            context = torch.autocast('cuda', dtype=torch.float16) if on_gpu else contextlib.nullcontext()
            with context:
                output = fn(*new_args, **new_kwargs)
            return cast_tensor_type(output, torch.half, torch.float) if out_fp32 else output
        return wrapper
    return decorator


def force_fp32(apply_to=None, out_fp16=False):
    """Decorate an ``nn.Module`` method: with ``self.fp16_enabled`` its float16 tensor
    arguments named in ``apply_to`` (all when None) become float32 and it runs with autocast
    off (see the module's text)."""
    def decorator(fn):
        names = _positional_names(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not _module_method('force_fp32', (nn.Module,), args):
                return fn(*args, **kwargs)
            new_args, new_kwargs = _cast_arguments(names, apply_to, args, kwargs,
                                                   torch.half, torch.float)
            with torch.autocast('cuda', enabled=False), torch.autocast('cpu', enabled=False):
                output = fn(*new_args, **new_kwargs)
            return cast_tensor_type(output, torch.float, torch.half) if out_fp16 else output
        return wrapper
    return decorator


def wrap_fp16_model(model):
    """Set ``fp16_enabled = True`` on ``model`` and its submodules that have the attribute.

    The weights stay float32: autocast does the casting per operation (mmcv does the same on
    PyTorch >= 1.6).
    """
    for m in model.modules():
        if hasattr(m, 'fp16_enabled'):
            m.fp16_enabled = True
    return model


def patch_forward_method(func, src_type, dst_type, convert_output=True):
    """``func`` with its ``src_type`` tensor arguments cast to ``dst_type`` (and its outputs
    back to ``src_type`` with ``convert_output``)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        output = func(*cast_tensor_type(args, src_type, dst_type),
                      **cast_tensor_type(kwargs, src_type, dst_type))
        return cast_tensor_type(output, dst_type, src_type) if convert_output else output
    return wrapper


def patch_norm_fp32(module):
    """Keep the normalization layers of a half-precision ``module`` in float32 (in place).

    BatchNorm layers get float32 parameters (their kernels take half inputs); GroupNorm layers
    also get a forward that computes in float32 and returns float16.
    """
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
        module.float()
        if isinstance(module, nn.GroupNorm):
            module.forward = patch_forward_method(module.forward, torch.half, torch.float)
    for child in module.children():
        patch_norm_fp32(child)
    return module


class LossScaler:
    """mmcv's loss scaler for float16 training without ``torch.amp`` (``GradScaler`` is what
    fastrun's hooks use): the loss is multiplied by ``loss_scale`` before the backward.

    ``mode='dynamic'``: a step whose gradients hold an infinity or a NaN divides the scale by
    ``scale_factor`` (never below 1) and should be skipped; after ``scale_window`` steps in a
    row without one the scale is multiplied by ``scale_factor``. ``'static'``: the scale stays.
    """

    def __init__(self, init_scale=2**32, mode='dynamic', scale_factor=2., scale_window=1000):
        if mode not in ('dynamic', 'static'):
            raise ArgumentError(f"LossScaler mode must be 'dynamic' or 'static', got {mode!r}")
        self.cur_scale = init_scale
        self.cur_iter = 0
        self.mode = mode
        self.last_overflow_iter = -1
        self.scale_factor = scale_factor
        self.scale_window = scale_window

    def has_overflow(self, params):
        """True when a gradient of ``params`` is not finite (always False in static mode).

        One host read for all the gradients (a sync).
        """
        if self.mode != 'dynamic':
            return False
        grads = [p.grad.detach() for p in params if p.grad is not None]
        if not grads:
            return False
        return not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())

    @staticmethod
    def _has_inf_or_nan(x):
        return not bool(torch.isfinite(x).all())

    def update_scale(self, overflow):
        """After a step: lower the scale on ``overflow``, raise it after a clean window."""
        if self.mode != 'dynamic':
            return
        if overflow:
            self.cur_scale = max(self.cur_scale / self.scale_factor, 1)
            self.last_overflow_iter = self.cur_iter
        elif (self.cur_iter - self.last_overflow_iter) % self.scale_window == 0:
            self.cur_scale *= self.scale_factor
        self.cur_iter += 1

    def state_dict(self):
        return dict(cur_scale=self.cur_scale, cur_iter=self.cur_iter, mode=self.mode,
                    last_overflow_iter=self.last_overflow_iter, scale_factor=self.scale_factor,
                    scale_window=self.scale_window)

    def load_state_dict(self, state_dict):
        for key in ('cur_scale', 'cur_iter', 'mode', 'last_overflow_iter', 'scale_factor',
                    'scale_window'):
            setattr(self, key, state_dict[key])

    @property
    def loss_scale(self):
        return self.cur_scale
