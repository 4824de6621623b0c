"""Checks of a whole config before anything is built: each error names the file and the key.

``fastrun train``, ``test`` and ``hooks`` call :func:`check_config` right after reading the
config, so a typo fails in about a second (the time to import torch) instead of after a model,
a data set and an epoch of training. Every dict the builder turns into an object through a
registry (hooks, optimizer, runner, evaluation, data sets, models) has its keys compared with
the signature of what it builds; the error names the closest valid argument.
"""
import difflib
import inspect
import logging
import math
import warnings

from .config import ConfigError, check_types
from .priority import get_priority
from .openmmlab import describe_search
from .registry import DATASETS, HOOKS, MODELS, OPTIMIZERS, RUNNERS
from .runtime_hooks import policy_hook_type

__all__ = ['check_config', 'check_hooks', 'check_arguments', 'accepted_arguments',
           'check_values', 'check_top_level_typos', 'unknown_top_level_keys', 'check_work_dir',
           'check_log_interval', 'check_eval_start']

logger = logging.getLogger('fastrun')


def _filename(cfg):
    return getattr(cfg, 'filename', None) or '<config>'


# ---------------------------------------------------------------- hook types and priorities


def _check_type(cfg, key, type_name):
    if not isinstance(type_name, str):
        return  # a class given directly
    if type_name not in HOOKS:
        close = HOOKS.closest(type_name)
        hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
        raise ConfigError(f'unknown hook type {type_name!r}{hint} ({describe_search(HOOKS, type_name)})',
                          _filename(cfg), key)


def _check_priority(cfg, key, priority):
    try:
        get_priority(priority)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e), _filename(cfg), key) from None


def check_hooks(cfg):
    """Raise ConfigError for an unknown hook type (with close names) or a bad priority.

    Looks at ``custom_hooks``, ``log_config.hooks``, ``optimizer_config``,
    ``checkpoint_config`` and the ``policy`` of ``lr_config`` / ``momentum_config``; the key
    in the message is dotted (``custom_hooks.1.type``).
    """
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, dict):
            _check_type(cfg, f'custom_hooks.{i}.type', hook.get('type'))
            if 'priority' in hook:
                _check_priority(cfg, f'custom_hooks.{i}.priority', hook['priority'])
    log_config = cfg.get('log_config')
    if isinstance(log_config, dict):
        for i, hook in enumerate(log_config.get('hooks') or []):
            if isinstance(hook, dict):
                _check_type(cfg, f'log_config.hooks.{i}.type', hook.get('type'))
    for key in ('optimizer_config', 'checkpoint_config'):
        value = cfg.get(key)
        if isinstance(value, dict) and 'type' in value:
            _check_type(cfg, f'{key}.type', value['type'])
    for key, suffix in (('lr_config', 'LrUpdaterHook'), ('momentum_config', 'MomentumUpdaterHook')):
        value = cfg.get(key)
        if isinstance(value, dict):
            if 'policy' not in value:
                raise ConfigError("needs a 'policy' (e.g. policy='step')", _filename(cfg), key)
            name = policy_hook_type(value['policy'], suffix)
            if name is not None and name not in HOOKS:
                policies = sorted(n[:-len(suffix)] for n in HOOKS.module_dict if n.endswith(suffix)
                                  and n != suffix)
                raise ConfigError(f"unknown policy {value['policy']!r} ({name} is not a hook); "
                                  f"known: {', '.join(policies)}", _filename(cfg), f'{key}.policy')


# ---------------------------------------------------------------- arguments against signatures


def _forwards_kwargs(init):
    # `super().__init__(**kwargs)` (or `Base.__init__(self, **kwargs)`) passes unknown keywords
    # on to the next class; an __init__ that keeps them itself accepts anything.
    code = getattr(inspect.unwrap(init), '__code__', None)
    return code is not None and ('super' in code.co_names or '__init__' in code.co_names)


def accepted_arguments(target):
    """``(names, open)``: the keyword arguments ``target`` (a class or function) accepts.

    A class's ``__init__`` that passes ``**kwargs`` on to its base class adds the base's
    arguments; ``open`` is True when some ``**kwargs`` are kept or used otherwise, so that any
    name may be valid.
    """
    def params(fn):
        """(keyword names, has **kwargs) of ``fn``."""
        sig = inspect.signature(fn)
        names, var_kw = [], False
        for p in sig.parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names.append(p.name)
            elif p.kind is p.VAR_KEYWORD:
                var_kw = True
        return names, var_kw

    if not inspect.isclass(target):
        try:
            names, var_kw = params(target)
        except (TypeError, ValueError):
            return [], True
        return names, var_kw
    names = []
    for klass in target.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object:
            return names, False
        try:
            own, var_kw = params(init)
        except (TypeError, ValueError):  # a C constructor: nothing to go by
            return names, True
        names.extend(n for n in own[1:] if n not in names)  # [0] is self
        if not var_kw:
            return names, False
        if not _forwards_kwargs(init):
            return names, True
    return names, False


def _signature_defaults(target):
    """{name: Parameter} of ``target``'s own constructor (for value checks)."""
    fn = target.__init__ if inspect.isclass(target) else target
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


class _Checker:
    """Compares the keys of the config's registry dicts with what they build."""

    def __init__(self, cfg, overridden=()):
        self.cfg = cfg
        self.filename = _filename(cfg)
        self.overridden = tuple(overridden)

    def error(self, key, reason):
        """The ConfigError for ``key``."""
        # A key set (or reached) through --cfg-options is named as such: it is not in the file.
        if any(key == o or key.startswith(o + '.') or o.startswith(key + '.') for o in self.overridden):
            reason += ' (set by --cfg-options)'
        return ConfigError(reason, self.filename, key)

    def resolve(self, key, registry, type_name, what):
        """The class ``type_name`` names in ``registry`` (raising with close names if none)."""
        if not isinstance(type_name, str):
            if inspect.isclass(type_name) or inspect.isfunction(type_name):
                return type_name
            raise self.error(f'{key}.type', f'must be a {what} name (str), got {type_name!r}')
        target = registry.get(type_name)
        if target is None:
            close = registry.closest(type_name)
            hint = (f'; did you mean {", ".join(repr(c) for c in close)}?' if close
                    else f'; known: {", ".join(sorted(registry.module_dict)[:12])}')
            raise self.error(f'{key}.type', f'unknown {what} type {type_name!r}{hint} '
                                            f'({describe_search(registry, type_name)})')
        return target

    def arguments(self, key, target, args, provided=(), extra=None, extra_what=None, numbers=False):
        """Raise if a key of ``args`` is not an argument of ``target``.

        ``provided``: arguments the builder passes itself; ``extra``: a second callable whose
        arguments the ``**kwargs`` of ``target`` reach (``extra_what`` names it in the error).
        ``numbers``: a string where the default is a number is an error (optimizers).
        """
        names, open_ = accepted_arguments(target)
        if open_ and extra is not None:
            more, open_ = accepted_arguments(extra)
            # An unbound method: its first argument is the instance (not a config key).
            names = names + [n for n in more[1:] if n not in names]
        name = getattr(target, '__name__', str(target))
        for arg in args:
            if not isinstance(arg, str) or arg in names or open_:
                continue
            valid = [n for n in names if n not in provided]
            close = difflib.get_close_matches(arg, valid, n=1, cutoff=0.6)
            owner = f'{name} (or {extra_what})' if extra_what and extra is not None else name
            hint = (f"; did you mean '{close[0]}'?" if close
                    else f"; its arguments: {', '.join(valid)}" if valid else '; it takes none')
            raise self.error(f'{key}.{arg}', f"{owner} has no argument '{arg}'{hint}")
        if numbers:
            params = _signature_defaults(target)
            for arg, value in args.items():
                p = params.get(arg)
                if p is None or not isinstance(value, str):
                    continue
                default = p.default
                if isinstance(default, (int, float)) and not isinstance(default, bool):
                    raise self.error(f'{key}.{arg}', f'{name} needs a number here, got {value!r}')

    def registry_dict(self, key, value, registry, what, skip=('type',), provided=(), **kw):
        """Check a ``dict(type=..., **args)``; returns the class it names (or None)."""
        if not isinstance(value, dict) or 'type' not in value:
            return None
        target = self.resolve(key, registry, value['type'], what)
        args = {k: v for k, v in value.items() if k not in skip}
        self.arguments(key, target, args, provided=provided, **kw)
        return target


_MODEL_PARTS = ('backbone', 'neck', 'head', 'loss')
_DATA_KEYS = ('samples_per_gpu', 'workers_per_gpu', 'train', 'val', 'test', 'pin_memory',
              'persistent_workers', 'train_dataloader', 'val_dataloader', 'test_dataloader',
              # build_dataloader's other arguments (mmcls passes every other key of data on)
              'shuffle', 'round_up', 'drop_last', 'sampler_cfg', 'prefetch_factor')


def _check_model(c, key, value):
    target = c.registry_dict(key, value, MODELS, 'model')
    if target is None:
        return
    for part, sub in value.items():
        if isinstance(sub, dict) and isinstance(sub.get('type'), str) and (
                part in _MODEL_PARTS or sub['type'] in MODELS):
            _check_model(c, f'{key}.{part}', sub)


def _evaluate_of(cfg):
    """The ``evaluate`` method of the val data set's class (where evaluation's extra keys go)."""
    val = (cfg.get('data') or {}).get('val')
    if isinstance(val, dict) and isinstance(val.get('type'), str) and val['type'] in DATASETS:
        return getattr(DATASETS.get(val['type']), 'evaluate', None)
    return None


def _warn_unknown(cfg, key, value, known):
    for k in value:
        if isinstance(k, str) and k not in known:
            close = difflib.get_close_matches(k, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            warnings.warn(f"{_filename(cfg)}: unknown key '{key}.{k}'{hint}", UserWarning, stacklevel=3)


def check_arguments(cfg, distributed=False, parts=None, overridden=()):
    """Raise ConfigError if a registry dict of ``cfg`` has a key its target does not accept.

    ``parts``: which of ``model``, ``data``, ``optimizer``, ``runner``, ``hooks``,
    ``evaluation`` to check (default all). ``overridden``: the ``--cfg-options`` keys, named as
    such in the message. Unknown types are errors too, with the closest registered names.
    """
    parts = set(parts or ('model', 'data', 'optimizer', 'runner', 'hooks', 'evaluation'))
    c = _Checker(cfg, overridden)
    if 'model' in parts and isinstance(cfg.get('model'), dict):
        _check_model(c, 'model', cfg['model'])
    data = cfg.get('data')
    if 'data' in parts and isinstance(data, dict):
        _warn_unknown(cfg, 'data', data, _DATA_KEYS)
        for split in ('train', 'val', 'test'):
            value = data.get(split)
            if isinstance(value, (list, tuple)):  # several data sets, concatenated
                for i, item in enumerate(value):
                    c.registry_dict(f'data.{split}.{i}', item, DATASETS, 'data set')
            else:
                c.registry_dict(f'data.{split}', value, DATASETS, 'data set')
    optimizer = cfg.get('optimizer')
    if 'optimizer' in parts and isinstance(optimizer, dict) and 'type' in optimizer:
        if optimizer.get('constructor', 'DefaultOptimizerConstructor') == 'DefaultOptimizerConstructor':
            # The default constructor passes every other key to the torch.optim class.
            c.registry_dict('optimizer', optimizer, OPTIMIZERS, 'optimizer',
                            skip=('type', 'paramwise_cfg', 'constructor'), provided=('params',),
                            numbers=True)
    runner = cfg.get('runner')
    runner_cls = None
    if 'runner' in parts and isinstance(runner, dict) and 'type' in runner:
        runner_cls = c.registry_dict('runner', runner, RUNNERS, 'runner', skip=('type', 'constructor'),
                                     provided=('model', 'batch_processor', 'optimizer', 'work_dir',
                                               'logger', 'meta'))
    if 'hooks' in parts:
        _check_hook_arguments(c, cfg, runner_cls)
    if 'evaluation' in parts and isinstance(cfg.get('evaluation'), dict):
        # DistEvalHook's arguments in a run of one process too: one config serves both (EvalHook
        # ignores gpu_collect, tmpdir and broadcast_bn_buffer, which concern several processes).
        hook = HOOKS.get('DistEvalHook')
        if hook is not None:
            evaluate = _evaluate_of(cfg)
            c.arguments('evaluation', hook, dict(cfg['evaluation']), provided=('dataloader', 'results'),
                        extra=evaluate, extra_what="the val data set's evaluate()")


def _check_hook_arguments(c, cfg, runner_cls):
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, dict):
            c.registry_dict(f'custom_hooks.{i}', hook, HOOKS, 'hook', skip=('type', 'priority'))
    log_config = cfg.get('log_config')
    if isinstance(log_config, dict):
        for i, hook in enumerate(log_config.get('hooks') or []):
            c.registry_dict(f'log_config.hooks.{i}', hook, HOOKS, 'hook')
    optimizer_config = cfg.get('optimizer_config')
    if isinstance(optimizer_config, dict):
        c.registry_dict('optimizer_config', dict(optimizer_config, type=optimizer_config.get(
            'type', 'OptimizerHook')), HOOKS, 'hook')
    if isinstance(cfg.get('fp16'), dict):
        c.registry_dict('fp16', dict(cfg['fp16'], type='Fp16OptimizerHook'), HOOKS, 'hook')
    checkpoint_config = cfg.get('checkpoint_config')
    if isinstance(checkpoint_config, dict):
        # CheckpointHook's other keywords go to runner.save_checkpoint.
        save = getattr(runner_cls or RUNNERS.get('EpochBasedRunner'), 'save_checkpoint', None)
        c.registry_dict('checkpoint_config', dict(checkpoint_config, type=checkpoint_config.get(
            'type', 'CheckpointHook')), HOOKS, 'hook', extra=save,
            extra_what='runner.save_checkpoint()')
    for key, suffix in (('lr_config', 'LrUpdaterHook'), ('momentum_config', 'MomentumUpdaterHook')):
        value = cfg.get(key)
        if isinstance(value, dict) and 'policy' in value:
            name = policy_hook_type(value['policy'], suffix)
            if name is not None and name in HOOKS:
                args = {k: v for k, v in value.items() if k not in ('policy', 'type')}
                c.arguments(key, HOOKS.get(name), args)


# ---------------------------------------------------------------- values refused late otherwise

_LOG_LEVELS = ('CRITICAL', 'FATAL', 'ERROR', 'WARNING', 'WARN', 'INFO', 'DEBUG', 'NOTSET')
#: What ``log_config`` holds (mmcv's ``register_logger_hooks`` reads these two keys only).
_LOG_CONFIG_KEYS = ('interval', 'hooks')


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _val_dataset_class(cfg):
    val = (cfg.get('data') or {}).get('val')
    if isinstance(val, dict) and isinstance(val.get('type'), str):
        return DATASETS.get(val['type'])
    return None


def _check_metrics(cfg, evaluation):
    """``evaluation.metric`` / ``metric_options`` against the val data set's own lists.

    Only a data set that evaluates with fastrun's :meth:`BaseDataset.evaluate` has known lists;
    one with its own ``evaluate`` is trusted.
    """
    from .datasets.base import _METRIC_OPTIONS, ALLOWED_METRICS, BaseDataset
    klass = _val_dataset_class(cfg)
    if klass is None or getattr(klass, 'evaluate', None) is not BaseDataset.evaluate:
        return
    filename = _filename(cfg)
    metric = evaluation.get('metric', 'accuracy')
    metrics = [metric] if isinstance(metric, str) else metric
    if not (isinstance(metrics, (list, tuple)) and metrics and all(isinstance(m, str) for m in metrics)):
        raise ConfigError(f'must be a metric name or a list of them, got {metric!r}', filename,
                          'evaluation.metric')
    for m in metrics:
        if m not in ALLOWED_METRICS:
            close = difflib.get_close_matches(m, ALLOWED_METRICS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ''
            raise ConfigError(f'{klass.__name__} does not evaluate {m!r}; {hint}'
                              f"its metrics: {', '.join(ALLOWED_METRICS)}", filename,
                              'evaluation.metric')
    options = evaluation.get('metric_options')
    if options is not None:
        if not isinstance(options, dict):
            raise ConfigError(f'must be a dict like dict(topk=(1, 5)), got {options!r}', filename,
                              'evaluation.metric_options')
        for k in options:
            if k not in _METRIC_OPTIONS:
                close = difflib.get_close_matches(str(k), _METRIC_OPTIONS, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ''
                raise ConfigError(f'{klass.__name__}.evaluate has no option {k!r}; {hint}'
                                  f"its options: {', '.join(_METRIC_OPTIONS)}", filename,
                                  f'evaluation.metric_options.{k}')


def check_values(cfg):
    """Raise ConfigError for a value the builder or a hook would refuse only later.

    ``model`` missing (an empty file) or not a dict, an unknown ``log_level``, a key of
    ``log_config`` other than ``interval`` and ``hooks``, a ``grad_clip`` whose ``max_norm`` is
    not a number, a ``checkpoint_config`` interval that is not a positive int or a
    ``max_keep_ckpts`` that is not an int, an ``evaluation`` interval, start or metric the
    hook or the val data set would refuse at the first evaluation. Each names file and key and
    shows the value as written (``got '1'``).
    """
    filename = _filename(cfg)

    def fail(key, reason):
        raise ConfigError(reason, filename, key)

    if 'model' not in cfg:
        fail('model', 'the config has no model (is the file empty?); e.g. '
                      "model = dict(type='ImageClassifier', backbone=..., head=...)")
    model = cfg['model']
    if not (isinstance(model, dict) and 'type' in model):
        fail('model', f"must be a dict with a 'type', like dict(type='ImageClassifier', ...), "
                      f'got {model!r}')
    level = cfg.get('log_level', 'INFO')
    if not (_is_int(level) or (isinstance(level, str) and level.upper() in _LOG_LEVELS)):
        close = difflib.get_close_matches(str(level).upper(), _LOG_LEVELS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        fail('log_level', f"must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or an int), "
                          f'got {level!r}{hint}')

    log_config = cfg.get('log_config')
    if isinstance(log_config, dict):
        for k in log_config:
            if k not in _LOG_CONFIG_KEYS:
                close = difflib.get_close_matches(str(k), _LOG_CONFIG_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else ''
                fail(f'log_config.{k}', f'unknown key, it would not be applied: log_config holds '
                                        f"only interval and hooks (a logger hook's options go in "
                                        f'its dict in hooks){"; " + hint.strip() if hint else ""}')

    optimizer_config = cfg.get('optimizer_config')
    if isinstance(optimizer_config, dict):
        clip = optimizer_config.get('grad_clip')
        if clip is not None:
            if not isinstance(clip, dict):
                fail('optimizer_config.grad_clip',
                     f'must be None or a dict like dict(max_norm=35, norm_type=2), got {clip!r}')
            for k in ('max_norm', 'norm_type'):
                if k in clip and not _is_number(clip[k]):
                    fail(f'optimizer_config.grad_clip.{k}', f'must be a number, got {clip[k]!r}')
            if 'max_norm' not in clip:
                fail('optimizer_config.grad_clip', f'needs max_norm (the largest gradient norm '
                                                   f'kept), got {clip!r}')

    checkpoint_config = cfg.get('checkpoint_config')
    if isinstance(checkpoint_config, dict):
        interval = checkpoint_config.get('interval', -1)
        if 'interval' in checkpoint_config and not (_is_int(interval) and interval > 0):
            unit = 'epochs' if checkpoint_config.get('by_epoch', True) else 'iterations'
            # mmcv reads interval <= 0 as "no periodic checkpoint, only the last": said here,
            # since a 0 or -1 is more often a slip than that wish.
            hint = ("; to save only the last checkpoint, set it to the run's length"
                    if _is_int(interval) else '')
            fail('checkpoint_config.interval',
                 f'must be a positive int (save every N {unit}), got {interval!r}{hint}')
        keep = checkpoint_config.get('max_keep_ckpts', -1)
        if not _is_int(keep):
            fail('checkpoint_config.max_keep_ckpts',
                 f'must be an int (how many checkpoints to keep; -1 keeps all), got {keep!r}')
        for k in ('save_optimizer', 'save_last', 'by_epoch'):
            if k in checkpoint_config and not isinstance(checkpoint_config[k], bool):
                fail(f'checkpoint_config.{k}', f'must be True or False, got {checkpoint_config[k]!r}')

    evaluation = cfg.get('evaluation')
    if isinstance(evaluation, dict):
        interval = evaluation.get('interval', 1)
        if not (_is_int(interval) and interval > 0):
            fail('evaluation.interval', f'must be a positive int, got {interval!r}')
        start = evaluation.get('start')
        if start is not None and not (_is_int(start) and start >= 0):
            fail('evaluation.start', f'must be None or a non-negative int, got {start!r}')
        rule = evaluation.get('rule')
        if rule not in (None, 'greater', 'less'):
            fail('evaluation.rule', f"must be 'greater', 'less' or None (inferred from the "
                                    f'save_best metric), got {rule!r}')
        _check_metrics(cfg, evaluation)


def _default_lr(cfg):
    """``(optimizer name, torch's default lr)`` when ``optimizer`` sets no lr, else None."""
    optimizer = cfg.get('optimizer')
    if not isinstance(optimizer, dict) or 'lr' in optimizer or not isinstance(optimizer.get('type'), str):
        return None
    target = OPTIMIZERS.get(optimizer['type'])
    if target is None:
        return None
    p = _signature_defaults(target).get('lr')
    if p is None or p.default is inspect.Parameter.empty:
        return None
    return optimizer['type'], p.default


def check_optimizer_lr(cfg):
    """Warn (UserWarning) when the optimizer sets no ``lr`` and trains at torch's default."""
    found = _default_lr(cfg)
    if found is not None:
        name, lr = found
        warnings.warn(f"{_filename(cfg)}: optimizer.lr: not set: {name} trains at torch's "
                      f'default lr={lr!r}; set optimizer.lr to choose it', UserWarning, stacklevel=2)


def check_work_dir(cfg, given_by=None):
    """Raise ConfigError when the local work dir is an existing file (or under one)."""
    import os
    import os.path as osp

    from . import storage
    work_dir = cfg.get('work_dir')
    if not isinstance(work_dir, (str, os.PathLike)) or storage.is_remote(os.fspath(work_dir)):
        return
    path = storage.normalize(os.fspath(work_dir))
    suffix = f' (set by {given_by})' if given_by else ''
    probe = path
    while probe and not osp.exists(probe):
        parent = osp.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if probe and osp.exists(probe) and not osp.isdir(probe):
        what = 'is an existing file' if probe == path else f'is inside {probe!r}, an existing file'
        raise ConfigError(f'{os.fspath(work_dir)!r} {what}, not a folder: give a folder for the '
                          f'run\'s files{suffix}', _filename(cfg), 'work_dir')


def check_config(cfg, distributed=False, overridden=()):
    """Every check ``fastrun train`` runs before building: types, typos, hooks, arguments, values."""
    from .config_keys import check_top_level_typos
    check_types(cfg)
    check_top_level_typos(cfg)
    check_hooks(cfg)
    check_arguments(cfg, distributed=distributed, overridden=overridden)
    check_values(cfg)
    check_optimizer_lr(cfg)


# ---------------------------------------------------------------- log interval vs epoch length


def check_log_interval(cfg, iters_per_epoch, log=None):
    """Make sure an epoch shorter than ``log_config.interval`` still logs its training values.

    With ``interval`` larger than the iterations of an epoch, a by-epoch logger would never
    log a train value (mmcv's behaviour). Such loggers, unless they set ``ignore_last``
    themselves, log at each epoch's end instead; one WARNING says so. Returns the message or
    None.
    """
    log_config = cfg.get('log_config')
    if not isinstance(log_config, dict) or not iters_per_epoch:
        return None
    runner = cfg.get('runner') or {}
    iter_based = isinstance(runner, dict) and runner.get('type') == 'IterBasedRunner'
    interval = log_config.get('interval', 10)
    changed = []
    for hook in log_config.get('hooks') or []:
        if not isinstance(hook, dict):
            continue
        every = hook.get('interval', interval)
        by_epoch = hook.get('by_epoch', not iter_based)
        target = HOOKS.get(hook.get('type')) if isinstance(hook.get('type'), str) else None
        takes_it = target is not None and 'ignore_last' in accepted_arguments(target)[0]
        if (by_epoch and isinstance(every, int) and every > iters_per_epoch and takes_it
                and 'ignore_last' not in hook):
            hook['ignore_last'] = False
            changed.append(str(hook.get('type')))
    if not changed:
        return None
    message = (f'{_filename(cfg)}: log_config.interval={interval} is longer than an epoch '
               f'({iters_per_epoch} iterations): {", ".join(changed)} will log at the end of each '
               f'epoch (set log_config.interval <= {iters_per_epoch} to log within epochs)')
    (log or logger).warning(message)
    return message


def iterations_per_epoch(dataset, samples_per_gpu, world_size=1):
    """Batches per epoch of each process for ``dataset`` (no drop_last), or None if unknown."""
    try:
        n = len(dataset)
    except TypeError:
        return None
    return math.ceil(n / (samples_per_gpu * world_size)) if n else 0


def check_eval_start(cfg, log=None):
    """Warn when ``evaluation`` would evaluate nothing: its first evaluation is after the run.

    ``start`` (or, without one, ``interval``) past the last epoch (iteration) of the run means
    no evaluation, no best checkpoint and no metric in the summary, which mmcv does silently.
    Returns the message or None.
    """
    evaluation = cfg.get('evaluation')
    if not isinstance(evaluation, dict) or not isinstance((cfg.get('data') or {}).get('val'), dict):
        return None
    runner = cfg.get('runner') or {}
    iter_based = isinstance(runner, dict) and runner.get('type') == 'IterBasedRunner'
    length = runner.get('max_iters' if iter_based else 'max_epochs') if isinstance(runner, dict) else None
    if length is None and not iter_based:
        length = cfg.get('total_epochs')
    start, interval = evaluation.get('start'), evaluation.get('interval', 1)
    if not (_is_int(length) and _is_int(interval)):
        return None
    unit = 'iteration' if iter_based else 'epoch'
    if start is not None and _is_int(start) and start > length:
        what = f'evaluation.start={start} is after the last {unit} ({length})'
    elif start is None and interval > length:
        what = f'evaluation.interval={interval} is longer than the run ({length} {unit}s)'
    else:
        return None
    message = (f'{_filename(cfg)}: {what}: the run will not evaluate (no val metrics, no best '
               f'checkpoint); set it to at most {length} to evaluate')
    (log or logger).warning(message)
    return message
