"""The logger hooks: text and JSON logs, TensorBoard, Weights & Biases, MLflow, DVCLive,
Neptune, ClearML, Segmind and PAVI.

The optional packages are imported when a hook is built, not here, so importing this package
never needs them.
"""
from .base import LoggerHook
from .clearml import ClearMLLoggerHook
from .dvclive import DvcliveLoggerHook
from .mlflow import MlflowLoggerHook
from .neptune import NeptuneLoggerHook
from .pavi import PaviLoggerHook
from .segmind import SegmindLoggerHook
from .tensorboard import TensorboardLoggerHook
from .text import TextLoggerHook
from .wandb import WandbLoggerHook

__all__ = ['LoggerHook', 'TextLoggerHook', 'TensorboardLoggerHook', 'WandbLoggerHook',
           'MlflowLoggerHook', 'DvcliveLoggerHook', 'NeptuneLoggerHook', 'ClearMLLoggerHook',
           'SegmindLoggerHook', 'PaviLoggerHook']
