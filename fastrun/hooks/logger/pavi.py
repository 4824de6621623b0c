"""PaviLoggerHook: the logged values, checkpoints and model graph in OpenMMLab's PAVI service."""
import functools
import importlib
import json
import os
import os.path as osp
import warnings

import numpy as np
import torch
import yaml

from ...dist import is_module_wrapper, master_only
from ...registry import HOOKS
from .base import LoggerHook

_NO_PAVI = ('PAVI is an internal OpenMMLab service: its SDK is not on PyPI (the "pavi" package '
            'there is an empty placeholder); ask the PAVI team for it')


def _summary_writer():
    """``pavi.SummaryWriter``, or an ImportError saying where the SDK comes from."""
    try:
        pavi = importlib.import_module('pavi')
    except ImportError as e:
        raise ImportError(f'pavi is not installed or cannot be imported ({e}). {_NO_PAVI}.') from e
    writer = getattr(pavi, 'SummaryWriter', None)
    if writer is None:
        raise ImportError(f'the installed pavi package has no SummaryWriter. {_NO_PAVI}.')
    return writer


def _number(val):
    # 0-d tensors and arrays, numpy scalars -> Python numbers (logging time only, never per step)
    return val.item() if hasattr(val, 'item') else val


def _jsonable(obj):
    # What json cannot write in a config: sets, ranges, numpy values; anything else as text.
    if isinstance(obj, (set, frozenset, range)):
        return list(obj)
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    return str(obj)


def _due(step, start, interval):
    return step >= start and (step - start) % interval == 0


@HOOKS.register_module()
class PaviLoggerHook(LoggerHook):
    """Logs to PAVI (rank 0) through ``pavi.SummaryWriter(**init_kwargs)``, as mmcv 1.7.

    ``init_kwargs``: ``name`` (default: the name of ``work_dir``), ``project``, ``model``
    (default: the model's class name), ``session_text`` (default: the config as YAML, from
    ``runner.meta['config_dict']`` or ``meta['config_file']``, with ``max_iter`` added),
    ``training_id``, ``compare_id``, ``overwrite_last_training``.
    Each log is ``add_scalars(mode, tags, step)`` with tags without their mode prefix; the
    step is the epoch for val values when ``by_epoch``, else ``runner.iter + 1``.

    ``add_graph_kwargs``: ``active`` (False), ``start`` (0), ``interval`` (1), ``img_key``
    ('img'), ``opset_version`` (11), ``dummy_forward_kwargs``: before the train epochs (or
    iterations, without ``by_epoch``) ``start``, ``start + interval``, ..., the model graph is
    uploaded, traced on ``data[img_key]`` of the first batch of the loader through
    ``forward_dummy`` when the model has one. ``add_ckpt_kwargs``: ``active``, ``start``,
    ``interval``: after those epochs (iterations) ``work_dir/epoch_N.pth`` (``iter_N.pth``) is
    uploaded if it exists; ``add_last_ckpt`` uploads ``work_dir/latest.pth`` after the run.
    ``add_graph`` and ``img_key`` are deprecated spellings of ``add_graph_kwargs`` keys.
    Needs OpenMMLab's ``pavi`` SDK, checked when the hook is built.

    ``writer`` is the ``SummaryWriter`` of the last run, kept after the run as in mmcv (closed
    by then). ``meta['config_file']`` is run as a config file, as mmcv does, only when this run
    set it: :meth:`fastrun.Runner.resume` never takes it from a checkpoint.
    """

    def __init__(self, init_kwargs=None, add_graph=None, img_key=None, add_last_ckpt=False,
                 interval=10, ignore_last=True, reset_flag=False, by_epoch=True,
                 add_graph_kwargs=None, add_ckpt_kwargs=None):
        super().__init__(interval, ignore_last, reset_flag, by_epoch)
        self._writer_cls = _summary_writer()
        self.init_kwargs = init_kwargs
        graph = add_graph_kwargs or {}
        self.add_graph = graph.get('active', False)
        self.add_graph_start = graph.get('start', 0)
        self.add_graph_interval = graph.get('interval', 1)
        self.img_key = graph.get('img_key', 'img')
        self.opset_version = graph.get('opset_version', 11)
        self.dummy_forward_kwargs = graph.get('dummy_forward_kwargs') or {}
        if add_graph is not None:
            warnings.warn('"add_graph" is deprecated in PaviLoggerHook, use the key "active" of '
                          'add_graph_kwargs instead', DeprecationWarning)
            self.add_graph = add_graph
        if img_key is not None:
            warnings.warn('"img_key" is deprecated in PaviLoggerHook, use the key "img_key" of '
                          'add_graph_kwargs instead', DeprecationWarning)
            self.img_key = img_key
        ckpt = add_ckpt_kwargs or {}
        self.add_ckpt = ckpt.get('active', False)
        self.add_ckpt_start = ckpt.get('start', 0)
        self.add_ckpt_interval = ckpt.get('interval', 1)
        self.add_last_ckpt = add_last_ckpt
        #: The PAVI writer of the current or last ``runner.run`` (None before the first one).
        self.writer = None
        self._writer_open = False
        self.run_name = None

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _session_text(runner):
        """The run's config as YAML (with ``max_iter`` for PAVI's progress bar), or None."""
        meta = runner.meta or {}
        if 'config_dict' in meta:
            config = meta['config_dict']
            if not isinstance(config, dict):
                raise TypeError(f'meta["config_dict"] has to be a dict, but got {type(config)}')
        elif 'config_file' in meta:
            from ...config import Config  # imported here: only this path reads config files
            config = Config.fromfile(meta['config_file']).to_dict()
        else:
            return None
        config = dict(config)
        config.setdefault('max_iter', runner.max_iters)
        plain = json.loads(json.dumps(config, default=_jsonable))
        return yaml.dump(plain)

    def before_run(self, runner):
        super().before_run(runner)
        if runner.rank != 0:
            return
        self.flush_and_close(runner)  # a writer an earlier, crashed runner.run left open
        self.run_name = osp.basename(osp.normpath(runner.work_dir)) if runner.work_dir else None
        kwargs = dict(self.init_kwargs or {})
        if self.run_name is not None:
            kwargs.setdefault('name', self.run_name)
        kwargs.setdefault('model', runner.model_name)
        if 'session_text' not in kwargs:
            text = self._session_text(runner)
            if text is not None:
                kwargs['session_text'] = text
        self.writer = self._writer_cls(**kwargs)
        self._writer_open = True

    # ------------------------------------------------------------------ logging
    def get_step(self, runner):
        """The epoch for val values when ``by_epoch``, else the 1-based iteration."""
        if self.get_mode(runner) == 'val' and self.by_epoch:
            return self.get_epoch(runner)
        return self.get_iter(runner)

    @master_only
    def log(self, runner):
        if not self._writer_open:
            return
        tags = {tag: _number(val)
                for tag, val in self.get_loggable_tags(runner, add_mode=False).items()
                if self.is_scalar(val)}
        if tags:
            self.writer.add_scalars(self.get_mode(runner), tags, self.get_step(runner))

    def _add_ckpt(self, runner, filename, step):
        # This stage's checkpoint may still wait for its evaluation (fastrun.state): upload it
        # once it is written, as mmcv's hook, which runs after the checkpoint hook, does.
        state = getattr(runner, 'run_state', None)
        if state is not None:
            state.when_saved(lambda: self._upload_ckpt(runner, filename, step))
        else:
            self._upload_ckpt(runner, filename, step)

    def _upload_ckpt(self, runner, filename, step):
        if runner.work_dir is None:
            return
        path = osp.join(runner.work_dir, filename)
        if osp.islink(path):  # latest.pth: the file it points to (a name in work_dir), as mmcv
            path = osp.join(runner.work_dir, os.readlink(path))
        if osp.isfile(path):
            self.writer.add_snapshot_file(tag=self.run_name, snapshot_file_path=path,
                                          iteration=step)

    def _add_graph(self, runner, step):
        model = runner.model.module if is_module_wrapper(runner.model) else runner.model
        device = next(model.parameters()).device
        # A fresh iterator: the first batch of the loader (an IterLoader's underlying one).
        loader = getattr(runner.data_loader, '_dataloader', runner.data_loader)
        img = next(iter(loader))[self.img_key]
        if isinstance(img, torch.Tensor):
            img = img.to(device)
        forward = getattr(model, 'forward_dummy', model.forward)
        if self.dummy_forward_kwargs:
            forward = functools.partial(forward, **self.dummy_forward_kwargs)
        shadowed = model.__dict__.get('forward')
        model.forward = forward  # what the graph export traces
        try:
            with torch.no_grad():
                self.writer.add_graph(model, img, tag=f'{self.run_name}_{step}',
                                      opset_version=self.opset_version)
        finally:
            if shadowed is None:
                del model.forward
            else:
                model.forward = shadowed

    # ------------------------------------------------------------------ stages
    def before_train_epoch(self, runner):
        super().before_train_epoch(runner)
        if (self.by_epoch and self.add_graph and runner.rank == 0
                and _due(self.get_epoch(runner), self.add_graph_start, self.add_graph_interval)):
            self._add_graph(runner, self.get_epoch(runner))

    def before_train_iter(self, runner):
        super().before_train_iter(runner)
        if (not self.by_epoch and self.add_graph and runner.rank == 0
                and _due(self.get_iter(runner), self.add_graph_start, self.add_graph_interval)):
            self._add_graph(runner, self.get_iter(runner))

    def after_train_epoch(self, runner):
        super().after_train_epoch(runner)
        if self.by_epoch and self.add_ckpt and runner.rank == 0:
            step = self.get_epoch(runner)
            if _due(step, self.add_ckpt_start, self.add_ckpt_interval):
                self._add_ckpt(runner, f'epoch_{step}.pth', step)

    def after_train_iter(self, runner):
        super().after_train_iter(runner)
        if not self.by_epoch and self.add_ckpt and runner.rank == 0:
            step = self.get_iter(runner)
            if _due(step, self.add_ckpt_start, self.add_ckpt_interval):
                self._add_ckpt(runner, f'iter_{step}.pth', step)

    def flush_and_close(self, runner):
        """Close the writer: its data is sent and PAVI told the training ended (once)."""
        if self._writer_open:
            self._writer_open = False
            self.writer.close()

    def after_run(self, runner):
        if runner.rank != 0 or not self._writer_open:
            return
        try:
            if self.add_last_ckpt:
                # epoch / iter were counted up after the last one: they number it
                step = runner.epoch if self.by_epoch else runner.iter
                self._add_ckpt(runner, 'latest.pth', step)
        finally:
            self.flush_and_close(runner)
