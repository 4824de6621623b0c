"""Training from a config: what ``fastrun train`` runs once the command line is in the config.

:func:`train_from_cfg` is the whole training script (as mmengine's ``Runner.from_cfg`` and
``train()``, or mmcls's ``tools/train.py`` after its argument parsing): the text log, the
config written into the work dir, auto-resume, the seed, the model and data sets built from
the config, the early checks, and :func:`fastrun.builder.train_model`. It reads the config
only; the command line is applied to the config before (``fastrun.cli.apply_command_line``),
and what is not a config key (the process's rank, the work dir's local folder, the progress
bar, trusting pickles) comes as arguments.
"""
import os
import os.path as osp
import sys

__all__ = ['train_from_cfg']


def train_from_cfg(cfg, local_dir, timestamp, rank=0, world_size=1, distributed=False,
                   validate=True, weights_only=True, progress=False, exp_name=None,
                   printed_warnings=()):
    """Train as the Config ``cfg`` says; 0.

    ``local_dir``: the work dir's local folder (its staging folder for a URL), where the
    config and the text logs go, with ``timestamp`` in their names. ``validate``: evaluate on
    ``data.val`` as ``evaluation`` says; ``weights_only=False`` lets checkpoints unpickle any
    object (trusted files only); ``progress``: add the progress bar (``ProgressBarHook``, at
    :mod:`fastrun.hook_order`'s priority for it); ``exp_name``: the run's name in the
    checkpoints' meta (default: the config's file name); ``printed_warnings``: messages the
    terminal showed before the log file existed, written into it.
    """
    import torch

    from . import storage
    from .builder import set_random_seed, train_model
    from .checkpoint import find_resumable_checkpoint
    from .config_keys import describe_unknown, unknown_top_level_keys
    from .hook_order import priority_of
    from .log import get_logger
    from .preflight import check_eval_start, check_log_interval, iterations_per_epoch

    os.makedirs(local_dir, exist_ok=True)
    if rank == 0:
        cfg.dump(osp.join(local_dir, 'config.py'))
    logger = get_logger('fastrun', log_file=osp.join(local_dir, f'{timestamp}.log'),
                        log_level=cfg.get('log_level', 'INFO'))
    # What the terminal showed before the log file existed (unknown keys, torch's default lr).
    _write_to_log_file(logger, printed_warnings)
    unknown = unknown_top_level_keys(cfg)
    if unknown:
        _write_to_log_file(logger, [f'Config keys fastrun does not use: {describe_unknown(unknown)}'])
    custom = (cfg.get('custom_imports') or {}).get('imports') or []
    for name in [custom] if isinstance(custom, str) else custom:
        module = sys.modules.get(name)
        logger.info('custom import %s (%s)', name, getattr(module, '__file__', 'not imported'))
    if cfg.get('auto_resume'):
        # After the logger is set up, so the files skipped (and why) are in the log file.
        latest = find_resumable_checkpoint(cfg.work_dir, logger)
        if latest is not None:
            cfg.resume_from = latest
            logger.info('auto-resume: resuming from %s', storage.redact(cfg.resume_from))
        else:
            logger.info('auto-resume: no valid checkpoint in %s, starting fresh',
                        storage.redact(cfg.work_dir))
    if not weights_only:
        logger.warning('--unsafe-load: checkpoints may unpickle any object, which can run code '
                       'from the file; use it only for files you trust')
    # URLs in it are shown without user info (credentials belong in the environment).
    config_text = storage.redact(cfg.pretty_text)
    logger.info('Config:\n%s', config_text)
    if cfg.get('cudnn_benchmark'):
        torch.backends.cudnn.benchmark = True
    seed = cfg.get('seed')
    if seed is not None:
        set_random_seed(seed, deterministic=cfg.get('deterministic', False), rank=rank)
        logger.info('Set random seed to %d (+ rank %d), deterministic: %s', seed, rank,
                    cfg.get('deterministic', False))
    if exp_name is None:
        exp_name = osp.basename(cfg.filename) if cfg.filename else None
    meta = dict(seed=seed, exp_name=exp_name, config=config_text, world_size=world_size)

    model = _build_model(cfg)
    datasets = _phase_datasets(cfg)
    if hasattr(datasets[0], 'CLASSES'):
        model.CLASSES = datasets[0].CLASSES
    workflow = cfg.get('workflow', [('train', 1)])
    train = [ds for (phase, _), ds in zip(workflow, datasets) if phase == 'train']
    if train:
        check_log_interval(cfg, iterations_per_epoch(
            train[0], (cfg.get('data') or {}).get('samples_per_gpu', 32), world_size), logger)
    if validate:
        check_eval_start(cfg, logger)
    if progress:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='ProgressBarHook', priority=priority_of('progress'))]
    train_model(model, datasets, cfg, distributed=distributed, validate=validate,
                timestamp=timestamp, meta=meta, weights_only=weights_only)
    return 0


def _write_to_log_file(logger, messages, level='WARNING'):
    """Write ``messages`` to the file handlers of ``logger`` only (the terminal has them)."""
    import logging
    for message in messages:
        record = logger.makeRecord(logger.name, logging.getLevelName(level), __file__, 0, message,
                                   None, None)
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
                handler.handle(record)


def _pretrained_key(model_cfg, path='model'):
    """The dotted key of the one ``init_cfg`` of type Pretrained in the model config, or None."""
    found = []

    def walk(node, at):
        if isinstance(node, dict):
            init = node.get('init_cfg')
            items = init if isinstance(init, (list, tuple)) else [init]
            for i, item in enumerate(items):
                if isinstance(item, dict) and item.get('type') == 'Pretrained':
                    found.append(f'{at}.init_cfg' + (f'.{i}' if init is not item else ''))
            for k, v in node.items():
                if k != 'init_cfg':
                    walk(v, f'{at}.{k}')
    walk(model_cfg, path)
    return found[0] if len(found) == 1 else None


def _build_model(cfg):
    """``build_model(cfg.model)``; a Pretrained checkpoint that does not fit is a config error."""
    from .builder import build_model
    from .config import ConfigError
    try:
        return build_model(cfg['model'])
    except (ValueError, TypeError, OSError) as e:
        tb, in_pretrained = e.__traceback__, False
        while tb is not None:
            in_pretrained = in_pretrained or tb.tb_frame.f_code.co_name == 'load_pretrained'
            tb = tb.tb_next
        if not in_pretrained:
            raise
        key = _pretrained_key(cfg['model']) or 'model'
        if isinstance(e, FileNotFoundError) and "(init_cfg key 'checkpoint'" in str(e):
            key += '.checkpoint' if key != 'model' else ''
        elif 'init_cfg key "prefix"' in str(e) and key != 'model':
            key += '.prefix'
        raise ConfigError(str(e), cfg.filename, key) from e


def _phase_datasets(cfg):
    from .builder import build_dataset
    from .config import ConfigError
    data = cfg.get('data') or {}
    datasets = []
    for phase, _ in cfg.get('workflow', [('train', 1)]):
        if data.get(phase) is None:
            raise ConfigError(f'the workflow has a {phase!r} phase but no data.{phase} is configured',
                              cfg.filename, f'data.{phase}')
        try:
            datasets.append(build_dataset(data[phase]))
        except FileNotFoundError as e:  # a data set's files: one line naming them and the layout
            raise ConfigError(str(e), cfg.filename, f'data.{phase}') from e
    return datasets
