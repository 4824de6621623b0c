"""SegmindLoggerHook: the logged values in a Segmind (MLflow-based) tracking run."""
import importlib

from ...dist import master_only
from ...optional import require
from ...registry import HOOKS
from .base import LoggerHook


def _number(val):
    # 0-d tensors and arrays, numpy scalars -> Python numbers (logging time only, never per step)
    return val.item() if hasattr(val, 'item') else val


def _tracking_functions():
    """``(segmind.tracking.fluent.log_metrics, segmind.utils.logging_utils.try_mlflow_log)``."""
    segmind = require('segmind', 'segmind')
    try:  # as mmcv reads them: attributes of the package
        return segmind.tracking.fluent.log_metrics, segmind.utils.logging_utils.try_mlflow_log
    except AttributeError:  # not imported by the package's __init__: import them
        pass
    try:
        fluent = importlib.import_module('segmind.tracking.fluent')
        logging_utils = importlib.import_module('segmind.utils.logging_utils')
    except ImportError as e:
        version = getattr(segmind, '__version__', 'this version')
        # segmind 0.2 and later are a different SDK (an API client) without tracking.
        raise ImportError(f'segmind {version} has no experiment tracking ({e}); the tracking SDK '
                          'mmcv logged to is segmind 0.1.x: `pip install "segmind>=0.1.9,<0.2"`'
                          ) from e
    return fluent.log_metrics, logging_utils.try_mlflow_log


@HOOKS.register_module()
class SegmindLoggerHook(LoggerHook):
    """Logs to Segmind's tracking server (rank 0), as mmcv 1.7.

    Each log is ``try_mlflow_log(log_metrics, tags, step=runner.epoch, epoch=runner.epoch)``:
    Segmind starts a run if none is active, and a failed request is a warning, not an error.
    The step is mmcv's ``runner.epoch``, the number of train epochs completed (0 during the
    first epoch), not the logging iteration. Needs the segmind tracking SDK (segmind 0.1.x,
    ``pip install fastrun[segmind]``), checked when the hook is built.
    """

    def __init__(self, interval=10, ignore_last=True, reset_flag=False, by_epoch=True):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self.log_metrics, self.mlflow_log = _tracking_functions()

    @master_only
    def log(self, runner):
        tags = {tag: _number(val) for tag, val in self.get_loggable_tags(runner).items()
                if self.is_scalar(val)}
        if tags:
            self.mlflow_log(self.log_metrics, tags, step=runner.epoch, epoch=runner.epoch)
