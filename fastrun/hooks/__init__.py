"""The hooks fastrun ships; each module registers its hooks in ``fastrun.HOOKS``."""
from ..hook import Hook
from ..registry import HOOKS
from .checkpoint import CheckpointHook
from .class_num_check import ClassNumCheckHook
from .closure import ClosureHook
from .early_stopping import EarlyStoppingHook
from .ema import EMAHook
from .evaluation import DistEvalHook, EvalHook, EvaluationHook
from .invalid_loss import CheckInvalidLossHook
from .iter_timer import IterTimerHook
from .logger import (ClearMLLoggerHook, DvcliveLoggerHook, LoggerHook, MlflowLoggerHook,
                     NeptuneLoggerHook, PaviLoggerHook, SegmindLoggerHook, TensorboardLoggerHook,
                     TextLoggerHook, WandbLoggerHook)
from .lr_updater import (CosineAnnealingLrUpdaterHook, CosineRestartLrUpdaterHook, CyclicLrUpdaterHook,
                         ExpLrUpdaterHook, FixedLrUpdaterHook, FlatCosineAnnealingLrUpdaterHook,
                         InvLrUpdaterHook, LinearAnnealingLrUpdaterHook, LrUpdaterHook,
                         OneCycleLrUpdaterHook, PolyLrUpdaterHook, StepLrUpdaterHook)
from .momentum_updater import (CosineAnnealingMomentumUpdaterHook, CyclicMomentumUpdaterHook,
                               LinearAnnealingMomentumUpdaterHook, MomentumUpdaterHook,
                               OneCycleMomentumUpdaterHook, StepMomentumUpdaterHook)
from .lr_cooldown import CosineAnnealingCooldownLrUpdaterHook
from .memory import EmptyCacheHook
from .optimizer import OptimizerHook
from .optimizer_variants import (AmpOptimizerHook, Fp16OptimizerHook,
                                 GradientCumulativeFp16OptimizerHook, GradientCumulativeOptimizerHook)
from .precise_bn import PreciseBNHook
from .profiler import ProfilerHook
from .progress import ProgressBarHook
from .sampler_seed import DistSamplerSeedHook
from .sync_buffer import SyncBuffersHook

__all__ = [
    'HOOKS', 'Hook', 'IterTimerHook', 'OptimizerHook', 'ProgressBarHook', 'CheckpointHook',
    'EarlyStoppingHook', 'EvalHook', 'EvaluationHook', 'DistEvalHook', 'ClosureHook', 'EMAHook',
    'CheckInvalidLossHook', 'EmptyCacheHook', 'AmpOptimizerHook', 'Fp16OptimizerHook',
    'GradientCumulativeOptimizerHook', 'GradientCumulativeFp16OptimizerHook', 'ProfilerHook',
    'DistSamplerSeedHook', 'SyncBuffersHook', 'LoggerHook', 'TextLoggerHook',
    'TensorboardLoggerHook', 'WandbLoggerHook', 'MlflowLoggerHook', 'DvcliveLoggerHook',
    'NeptuneLoggerHook', 'ClearMLLoggerHook', 'SegmindLoggerHook', 'PaviLoggerHook',
    'LrUpdaterHook', 'FixedLrUpdaterHook', 'StepLrUpdaterHook', 'ExpLrUpdaterHook',
    'PolyLrUpdaterHook', 'InvLrUpdaterHook', 'CosineAnnealingLrUpdaterHook',
    'FlatCosineAnnealingLrUpdaterHook', 'CosineRestartLrUpdaterHook', 'CyclicLrUpdaterHook',
    'OneCycleLrUpdaterHook', 'LinearAnnealingLrUpdaterHook', 'MomentumUpdaterHook',
    'StepMomentumUpdaterHook', 'CosineAnnealingMomentumUpdaterHook',
    'LinearAnnealingMomentumUpdaterHook', 'CyclicMomentumUpdaterHook', 'OneCycleMomentumUpdaterHook',
    # mmcls 0.x's runtime hooks
    'PreciseBNHook', 'ClassNumCheckHook', 'CosineAnnealingCooldownLrUpdaterHook',
]
