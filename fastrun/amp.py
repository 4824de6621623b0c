"""mmcv 1.x's fp16 helpers, on top of ``torch.autocast``.

fastrun runs mixed precision with autocast (``optimizer_config=dict(amp=dict(dtype=...))`` or
``Fp16OptimizerHook``), which casts per operation; models written for mmcv keep working:
``auto_fp16`` leaves casting to autocast, ``force_fp32`` runs its function in float32 with
autocast switched off, and ``wrap_fp16_model`` only marks the model (weights stay float32).
"""
import functools

import torch


def _to_float32(value):
    if torch.is_tensor(value) and value.is_floating_point():
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


def auto_fp16(apply_to=None, out_fp32=False):
    """mmcv's decorator; under autocast the ops already run in the low precision, so it only
    casts the outputs back to float32 when ``out_fp32``."""
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            out = fn(*args, **kwargs)
            return _to_float32(out) if out_fp32 else out
        return wrapper
    return decorator


def force_fp32(apply_to=None, out_fp16=False):
    """mmcv's decorator: the function runs in float32 (its float arguments cast, autocast off)."""
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            devices = {a.device.type for a in list(args) + list(kwargs.values()) if torch.is_tensor(a)}
            device_type = 'cuda' if 'cuda' in devices else 'cpu'
            with torch.autocast(device_type, enabled=False):
                return fn(*_to_float32(args), **_to_float32(kwargs))
        return wrapper
    return decorator


def wrap_fp16_model(model):
    """Mark ``model`` and its submodules ``fp16_enabled`` (autocast does the casting)."""
    for m in model.modules():
        if hasattr(m, 'fp16_enabled'):
            m.fp16_enabled = True
    return model
