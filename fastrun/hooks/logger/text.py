"""TextLoggerHook: human-readable lines through ``runner.logger`` and a JSON-lines log file."""
import datetime
import json
import os
import os.path as osp
from collections import OrderedDict

import numpy as np
import torch
import torch.distributed as dist

from ... import storage
from ...registry import HOOKS
from ..checkpoint import work_location
from .base import LoggerHook, files_with_suffix

# Keys the line prefix already shows (or that never belong in the value list).
_IN_PREFIX = frozenset(('mode', 'Epoch', 'iter', 'lr', 'time', 'data_time', 'memory', 'epoch'))


def _round_floats(value):
    # Five decimals, as mmcv's JSON logs (which tools parsing them expect).
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, (list, tuple)):
        return [_round_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _round_floats(v) for k, v in value.items()}
    return value


def _json_default(obj):
    # What mmcv's JSON handler converts, and ``str`` for the rest: a log line is never worth
    # crashing a run over (``runner.meta`` may hold anything).
    if isinstance(obj, (set, range)):
        return list(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()  # only reached at log time, never per iteration
    return str(obj)


@HOOKS.register_module()
class TextLoggerHook(LoggerHook):
    """Logs lines like ``Epoch [1][10/50]\\tlr: 1.000e-01, eta: 0:00:12, time: 0.123, ...`` to
    ``runner.logger`` and one JSON object per line to ``<work_dir>/<timestamp>.log.json``.

    The JSON file is opened in append mode and flushed after every record, so a crash loses
    nothing already logged; its first line is ``runner.meta`` when the runner has one. Only rank
    0 writes the file. ``interval_exp_name``: every so many iterations (and at the end of each
    epoch when ``by_epoch``) the line ``Exp name: <meta['exp_name']>`` is logged.
    ``out_dir``: after the run, the files of ``work_dir`` ending with ``out_suffix`` are copied
    to ``<out_dir>/<basename of work_dir>/`` (and removed from ``work_dir`` unless
    ``keep_local``, once copied). ``out_dir`` may be an fsspec URL (:mod:`fastrun.storage`;
    uploaded in the background, waited for before the run returns); ``file_client_args``
    (mmcv's) may only name the ``disk`` backend, mmcv's others have no fsspec equivalent.
    """

    def __init__(self, by_epoch=True, interval=10, ignore_last=True, reset_flag=False,
                 interval_exp_name=1000, out_dir=None, out_suffix=('.log.json', '.log', '.py'),
                 keep_local=True, file_client_args=None):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        if out_dir is None and file_client_args is not None:
            raise ValueError('file_client_args should be "None" when `out_dir` is not specified.')
        if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
            raise TypeError(f'out_dir should be None or a path, but got {type(out_dir).__name__}')
        storage.check_location(out_dir, file_client_args, 'TextLoggerHook')
        self.interval_exp_name = interval_exp_name
        self.out_dir = out_dir
        self.out_suffix = out_suffix
        self.keep_local = keep_local
        self.file_client_args = file_client_args
        self.time_sec_tot = 0
        self.start_iter = 0
        self.json_log_path = None
        self._json_file = None
        # An evaluation's line held back to share one line with the val phase of its epoch.
        self._held = None

    def before_run(self, runner):
        super().before_run(runner)
        self._held = None
        self.flush_and_close(runner)  # a file left open by an earlier run of this hook
        self.start_iter = runner.iter
        self.time_sec_tot = 0
        self.json_log_path = (osp.join(runner.work_dir, f'{runner.timestamp}.log.json')
                              if runner.work_dir is not None else None)
        if self.out_dir is not None:
            if runner.work_dir is None:
                raise ValueError('TextLoggerHook(out_dir=...) needs a runner with a work_dir')
            runner.logger.info('Text logs will be saved to %s after the training process.',
                               storage.redact(self._out_path(runner)))
            if runner.rank == 0:
                storage.check_access(self._out_path(runner))
        if runner.meta is not None:
            self._dump_log(runner.meta, runner)

    def _out_path(self, runner):
        return storage.join(self.out_dir, storage.basename(work_location(runner)))

    def _get_max_memory(self, runner):
        # Peak CUDA memory in MB (the maximum over ranks). A host call, once per log.
        device = getattr(runner.model, 'output_device', None)
        mem_mb = torch.cuda.max_memory_allocated(device=device) // (1024 * 1024)
        if runner.world_size > 1 and dist.is_available() and dist.is_initialized():
            on_gpu = dist.get_backend() == 'nccl'
            t = torch.tensor([mem_mb], dtype=torch.int64,
                             device=(device if device is not None else torch.cuda.current_device())
                             if on_gpu else 'cpu')
            # Every rank calls log(), so every rank joins this collective.
            dist.reduce(t, 0, op=dist.ReduceOp.MAX)
            mem_mb = t.item()
        return int(mem_mb)

    def _lr_str(self, lr):
        if isinstance(lr, dict):
            return ' '.join(f'lr_{k}: {v:.3e}' for k, v in lr.items())
        return f'lr: {lr:.3e}'

    def _log_info(self, log_dict, runner):
        meta = runner.meta
        if meta is not None and 'exp_name' in meta and (
                self.every_n_iters(runner, self.interval_exp_name)
                or (self.by_epoch and self.end_of_epoch(runner))):
            runner.logger.info(f'Exp name: {meta["exp_name"]}')

        if log_dict['mode'] == 'train':
            if self.by_epoch:
                log_str = f'Epoch [{log_dict["epoch"]}][{log_dict["iter"]}/{len(runner.data_loader)}]\t'
            else:
                log_str = f'Iter [{log_dict["iter"]}/{runner.max_iters}]\t'
            if 'lr' in log_dict:
                log_str += self._lr_str(log_dict['lr']) + ', '
            if 'time' in log_dict:
                # The eta extrapolates the mean iteration time of this run so far.
                self.time_sec_tot += log_dict['time'] * self.interval
                time_sec_avg = self.time_sec_tot / (runner.iter - self.start_iter + 1)
                eta_sec = time_sec_avg * (runner.max_iters - runner.iter - 1)
                log_str += f'eta: {datetime.timedelta(seconds=int(eta_sec))}, '
                log_str += f'time: {log_dict["time"]:.3f}, '
                if 'data_time' in log_dict:
                    log_str += f'data_time: {log_dict["data_time"]:.3f}, '
                if 'memory' in log_dict:
                    log_str += f'memory: {log_dict["memory"]}, '
        elif self.by_epoch:
            log_str = f'Epoch({log_dict["mode"]}) [{log_dict["epoch"]}][{log_dict["iter"]}]\t'
        else:
            log_str = f'Iter({log_dict["mode"]}) [{log_dict["iter"]}]\t'

        items = []
        for name, val in log_dict.items():
            if name in _IN_PREFIX:
                continue
            if isinstance(val, float):
                val = f'{val:.4f}'
            items.append(f'{name}: {val}')
        if log_dict['mode'] != 'train' and self.by_epoch:
            # An evaluation at the end of a train epoch that a val phase of the same epoch
            # follows: one line ``Epoch(val) [e][n]`` for both (the JSON log keeps two records).
            key = (log_dict['epoch'], log_dict['iter'])
            held, self._held = self._held, None
            if held is not None and held[0] == key and runner.mode == 'val':
                items = held[2] + items
            elif held is not None:
                runner.logger.info(held[1])
            if runner.mode == 'train' and self._val_phase_follows(runner):
                self._held = (key, log_str + ', '.join(items), items)
                return
        else:
            self._release_held(runner)
        runner.logger.info(log_str + ', '.join(items))

    @staticmethod
    def _val_phase_follows(runner):
        workflow = getattr(runner, 'workflow', None) or []
        phases = [flow[0] for flow in workflow]
        return 'val' in phases and phases.index('val') > 0 and phases[phases.index('val') - 1] == 'train'

    def _release_held(self, runner):
        held, self._held = self._held, None
        if held is not None:
            runner.logger.info(held[1])

    def before_train_epoch(self, runner):
        self._release_held(runner)  # no val phase came for it: the line goes out on its own
        super().before_train_epoch(runner)

    def _dump_log(self, log_dict, runner):
        if runner.rank != 0 or self.json_log_path is None:
            return
        record = {k: _round_floats(v) for k, v in log_dict.items()}
        if self._json_file is None:
            self._json_file = open(self.json_log_path, 'a')
        # URLs without user info (a resumed run's meta names its checkpoint URLs).
        self._json_file.write(storage.redact(json.dumps(record, default=_json_default)) + '\n')
        # One small write per log interval: cheap, and a crash keeps every record.
        self._json_file.flush()

    def log(self, runner):
        """Log the averaged output as a line and a JSON record; return the record."""
        output = runner.log_buffer.output
        if 'eval_iter_num' in output:
            # An evaluation's own iteration count, whatever by_epoch says.
            cur_iter = output.pop('eval_iter_num')
        else:
            cur_iter = self.get_iter(runner, inner_iter=True)
        log_dict = OrderedDict(mode=self.get_mode(runner), epoch=self.get_epoch(runner),
                               iter=cur_iter)
        if runner.optimizer is not None:
            # The lr of the first param group (of each optimizer).
            lr = runner.current_lr()
            log_dict['lr'] = {k: v[0] for k, v in lr.items()} if isinstance(lr, dict) else lr[0]
        if 'time' in output and torch.cuda.is_available():
            log_dict['memory'] = self._get_max_memory(runner)
        log_dict.update(output)
        self._log_info(log_dict, runner)
        self._dump_log(log_dict, runner)
        return log_dict

    def flush_and_close(self, runner):
        """Close the JSON log file (everything in it is flushed already); a held line goes out."""
        self._release_held(runner)
        f, self._json_file = self._json_file, None
        if f is not None:
            f.close()

    def after_run(self, runner):
        self.flush_and_close(runner)
        if self.out_dir is None or runner.rank != 0:
            return
        out_path = self._out_path(runner)
        suffix = self.out_suffix if isinstance(self.out_suffix, str) else tuple(self.out_suffix)
        for rel in files_with_suffix(runner.work_dir, suffix):
            src, dst = osp.join(runner.work_dir, rel), storage.join(out_path, *rel.split(osp.sep))
            if not storage.is_remote(out_path) and \
                    osp.abspath(src).startswith(storage.normalize(out_path) + osp.sep):
                continue  # out_dir inside work_dir: never copy the copies
            # To a URL: queued for the upload thread, which removes src after it (keep_local=False).
            storage.upload(src, dst, remove_local=not self.keep_local)
            runner.logger.info(f'The file {src} has been uploaded to {storage.redact(dst)}.')
            if not self.keep_local:
                runner.logger.info(f'{src} was removed due to the `self.keep_local=False`')
