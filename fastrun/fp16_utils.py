"""mmcv 1.x's ``mmcv.runner.fp16_utils`` names (what they do here: :mod:`fastrun.amp`)."""
from .amp import (LossScaler, auto_fp16, cast_tensor_type, force_fp32, patch_forward_method,
                  patch_norm_fp32, wrap_fp16_model)
from .dist import allreduce_grads

__all__ = ['LossScaler', 'auto_fp16', 'cast_tensor_type', 'force_fp32', 'patch_norm_fp32',
           'patch_forward_method', 'wrap_fp16_model', 'allreduce_grads']
