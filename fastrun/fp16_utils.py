"""mmcv 1.x's ``mmcv.runner.fp16_utils`` names (see :mod:`fastrun.amp` for what they do here)."""
from .amp import auto_fp16, force_fp32, wrap_fp16_model

__all__ = ['auto_fp16', 'force_fp32', 'wrap_fp16_model']
