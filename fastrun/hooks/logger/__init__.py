"""The logger hooks: text and JSON logs, TensorBoard, Weights & Biases, MLflow.

The optional packages (tensorboard, wandb, mlflow) are imported when a hook is built, not here,
so importing this package never needs them.
"""
from .base import LoggerHook
from .mlflow import MlflowLoggerHook
from .tensorboard import TensorboardLoggerHook
from .text import TextLoggerHook
from .wandb import WandbLoggerHook

__all__ = ['LoggerHook', 'TextLoggerHook', 'TensorboardLoggerHook', 'WandbLoggerHook',
           'MlflowLoggerHook']
