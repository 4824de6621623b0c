"""``MultiLabelDataset``: samples with several labels each, scored by mAP and CP/CR/CF1/OP/OR/OF1."""
import logging

import numpy as np

from . import metrics as M
from .base import BaseDataset

__all__ = ['MultiLabelDataset', 'MULTI_LABEL_METRICS']

#: Metric names :meth:`MultiLabelDataset.evaluate` accepts (mmcls 0.x).
MULTI_LABEL_METRICS = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')


class MultiLabelDataset(BaseDataset):
    """A data set whose ``gt_label`` is a vector over the classes: 1 present, 0 absent, -1
    difficult (``data_infos`` form of :class:`BaseDataset`)."""

    def get_cat_ids(self, idx):
        """The classes present in sample ``idx`` (label 1), in class order."""
        return np.where(self.data_infos[idx]['gt_label'] == 1)[0].tolist()

    def evaluate(self, results, metric='mAP', metric_options=None, indices=None, logger=None):
        """``{metric name: percent}`` for ``results`` (one score vector per sample).

        ``metric``: names from ``MULTI_LABEL_METRICS``. ``metric_options``: ``thr`` (a label
        is predicted when its score is >= thr; default 0.5) or ``k`` (its k best labels), for
        the CP..OF1 metrics. ``indices``: the samples ``results`` covers.
        """
        if not metric_options:
            metric_options = {'thr': 0.5}
        unknown = set(metric_options) - {'thr', 'k'}
        if unknown:
            raise ValueError(f"unknown metric_options {sorted(unknown)}; allowed keys are "
                             "['thr', 'k']")
        metrics = [metric] if isinstance(metric, str) else list(metric)
        invalid = [m for m in metrics if m not in MULTI_LABEL_METRICS]
        if invalid or not metrics:
            raise ValueError(f'metric {invalid or metrics} is not supported; '
                             f'allowed metrics are {list(MULTI_LABEL_METRICS)}')
        scores, gt_labels = self._scores_and_labels(results, indices)
        out = {}
        if 'mAP' in metrics:
            out['mAP'] = M.mAP(scores, gt_labels)
        if set(metrics) - {'mAP'}:
            values = M.average_performance(scores, gt_labels, **metric_options)
            for key, value in zip(MULTI_LABEL_METRICS[1:], values):
                if key in metrics:
                    out[key] = value
        if logger is not None:
            log = logging.getLogger(logger) if isinstance(logger, str) else logger
            log.info('Evaluation on %s: %s', type(self).__name__,
                     ', '.join(f'{k}: {v:.4f}' for k, v in out.items()))
        return out
