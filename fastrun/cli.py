"""The ``fastrun`` command: ``train``, ``test``, ``hooks`` and ``plot``.

A user error (a bad config, a missing file, a bad option) ends with one line,
``fastrun: error: <file>: <key>: <reason>``, and exit status 2, before anything is trained;
``--debug`` (or ``FASTRUN_DEBUG=1``) shows the traceback instead. Other exceptions are
fastrun's own bugs, or errors in user code, and keep their traceback.
"""
import argparse
import errno
import os
import json
import os.path as osp
import sys
import time

#: Exit status of a user error (bad config, missing file, bad option), as argparse uses.
EXIT_USER_ERROR = 2


def _add_config_options(parser):
    """Options of every command that reads a config."""
    from .config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, usage_errors=True,
                        metavar='KEY=VALUE',
                        help="override config keys, e.g. optimizer.lr=0.01 "
                             "workflow=\"[('train',1),('val',1)]\" custom_hooks.0.priority=HIGH")
    parser.add_argument('--allow-python-bases', action='store_true',
                        help='let a JSON/YAML config inherit (_base_) from .py files, which run '
                             'as code when read')


def load_config(path, cfg_options=None, allow_python_bases=False):
    """Read a config file and apply command-line overrides.

    An override that cannot be applied (an index into a missing list, a key inside a number)
    raises a ConfigError naming the option's key.
    """
    from .config import Config, ConfigError, CustomImportError
    try:
        cfg = Config.fromfile(path, allow_python_bases=allow_python_bases)
    except CustomImportError as e:
        raise ConfigError(e.reason, e.config_file, e.key) from e
    for key, value in (cfg_options or {}).items():
        try:
            cfg.merge_from_dict({key: value})
        except (KeyError, IndexError, TypeError) as e:
            reason = e.args[0] if e.args else str(e)
            # The merge message repeats file and option; keep what follows them.
            reason = str(reason).split(f"option '{key}': ", 1)[-1]
            raise ConfigError(f'{reason} (--cfg-options)', cfg.filename, key) from e
    return cfg


def find_latest_checkpoint(work_dir, logger=None):
    """The checkpoint ``--auto-resume`` resumes from: ``latest.pth`` of ``work_dir``, else its newest.

    A file that does not load or whose checksum does not match is skipped (a WARNING names it
    and says why) for the next newest; None when no valid checkpoint is there.
    """
    from .checkpoint import find_resumable_checkpoint
    return find_resumable_checkpoint(work_dir, logger)


def _warn_in_one_line(check, *args, **kwargs):
    """Run a config check; its UserWarnings print as ``fastrun: warning: ...`` lines.

    Python's own format adds the source line of the ``warnings.warn`` call, which says nothing
    to a person whose config has an unknown key.
    """
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', UserWarning)
        result = check(*args, **kwargs)
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f'fastrun: warning: {w.message}', file=sys.stderr)
            _printed_warnings.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return result


#: The warnings printed before the text log existed; ``fastrun train`` writes them into it.
_printed_warnings = []


def _use_progress_bar(args, rank):
    """A progress bar when stderr is a terminal (where the log lines go), on rank 0 only."""
    if args.no_progress or rank != 0:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _read_config(args):
    """Read the config of ``args`` and run the checks that need no torch (the file's own errors).

    Everything here imports only the standard library and PyYAML, so a typo, a wrong type, a
    bad ``--cfg-options`` or a missing file is reported before torch is imported (1-2.5 s).
    """
    from .config import check_unknown_keys
    from .config_keys import check_top_level_typos
    cfg = args.loaded_config = load_config(args.config, args.cfg_options, args.allow_python_bases)
    check_top_level_typos(cfg)  # before the warnings: the typo is the error, not a warning
    _warn_in_one_line(check_unknown_keys, cfg)
    return cfg


def _check_checkpoint_paths(cfg, given_by):
    """A ``resume_from`` / ``load_from`` file that is not there: the error lists its folder.

    ``given_by``: ``{key: option}`` of the keys set on the command line (named in the message).
    URLs are left to the type checks (no I/O here).
    """
    from .config import ConfigError
    from .storage import is_url
    for key in ('resume_from', 'load_from'):
        path = cfg.get(key)
        if not isinstance(path, str) or is_url(path) or osp.isfile(path):
            continue
        option = f' (set by {given_by[key]})' if key in given_by else ''
        folder = osp.dirname(path) or '.'
        if osp.isdir(path):
            reason = f'{path} is a folder, not a checkpoint file'
            folder = path
        else:
            reason = f'checkpoint file not found: {path}'
        if osp.isdir(folder):
            names = sorted(n for n in os.listdir(folder) if n.endswith('.pth'))
            shown = f'{folder.rstrip(os.sep)}{os.sep}'
            if names:
                more = f' and {len(names) - 12} more' if len(names) > 12 else ''
                reason += f'; the checkpoints in {shown}: {", ".join(names[:12])}{more}'
            else:
                reason += f'; {shown} holds no .pth file'
        else:
            reason += f'; there is no folder {folder}'
        raise ConfigError(reason + option, cfg.filename, key)


def apply_command_line(cfg, args):
    """Put what the ``fastrun train`` command line says into the Config ``cfg``: the one place
    the command line changes the config. Returns ``{key: option}`` of the keys set from an
    option (error messages name the option)."""
    given_by = {}
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
        given_by['work_dir'] = '--work-dir'
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume_from is not None:
        cfg.resume_from = args.resume_from
        given_by['resume_from'] = '--resume-from'
    if args.load_from is not None:
        cfg.load_from = args.load_from
        given_by['load_from'] = '--load-from'
    if args.auto_resume:
        cfg.auto_resume = True
    if args.num_threads is not None:
        cfg.num_threads = args.num_threads
    if args.seed is not None:
        cfg.seed = args.seed
    if args.deterministic:
        cfg.deterministic = True
    if args.nvtx:
        cfg.profiling = dict(cfg.get('profiling') or {}, nvtx=True)
    if args.hook_times:
        cfg.profiling = dict(cfg.get('profiling') or {}, hook_times=True)
    return given_by


def cmd_train(args):
    """fastrun train: check the config, build everything from it and train.

    The command line goes into the config (:func:`apply_command_line`); the checks run; the
    work dir is resolved once, locked and watched; :func:`fastrun.training.train_from_cfg`
    does the rest. A run that fails before training (a value a constructor refuses, a
    checkpoint that does not load) leaves the work dir as it found it: the ``config.py`` and
    logs it wrote are removed (a previous run's ``config.py`` is put back).
    """
    from .config import check_types

    del _printed_warnings[:]
    cfg = _read_config(args)
    given_by = apply_command_line(cfg, args)
    _check_checkpoint_paths(cfg, given_by)
    check_types(cfg)  # with the command line's overrides, still before torch is imported

    import torch

    from . import storage, workdir
    from .preflight import check_config, check_work_dir
    from .training import train_from_cfg

    distributed = args.launcher != 'none'
    _warn_in_one_line(check_config, cfg, distributed=distributed, overridden=args.cfg_options)
    check_work_dir(cfg, given_by.get('work_dir'))
    if cfg.get('num_threads') is not None:
        # Before any tensor work: torch sizes its intra-op pool from this (default: one thread
        # per core, which spin against other processes on a shared machine).
        torch.set_num_threads(cfg.num_threads)

    if distributed:
        from .dist import init_dist
        init_dist(args.launcher, **(cfg.get('dist_params') or {}))
    from .dist import get_dist_info
    rank, world_size = get_dist_info()

    # A URL work dir is never a local path: its files are written to a local staging folder
    # and uploaded (the runner mirrors that folder to the URL).
    if rank == 0:
        storage.check_access(cfg.work_dir)  # a missing bucket or no credentials: fail now
    local = storage.normalize(cfg.work_dir) if not storage.is_remote(cfg.work_dir) else None
    undo = _StartUndo(local if local is None or osp.isdir(local) else None, local)
    local_dir, url = storage.local_work_dir(cfg.work_dir)
    if rank == 0:  # before anything is written there; released when the command ends
        workdir.own(local_dir, url)
    timestamp = workdir.unique_stamp(local_dir, time.strftime('%Y%m%d_%H%M%S', time.localtime()))
    undo.watch(local_dir, timestamp)
    try:
        return train_from_cfg(cfg, local_dir, timestamp, rank=rank, world_size=world_size,
                              distributed=distributed, validate=not args.no_validate,
                              weights_only=not args.unsafe_load,
                              progress=_use_progress_bar(args, rank),
                              exp_name=osp.basename(args.config),
                              printed_warnings=_printed_warnings)
    except Exception as e:
        _name_the_option(e, cfg, given_by)
        if rank == 0 and not isinstance(e, FloatingPointError) and user_error(e, cfg) is not None:
            undo.forget_the_start()
        raise


def _name_the_option(exc, cfg, given_by):
    """Add ``(set by --resume-from)`` to a checkpoint error about the file an option named."""
    checkpoint_error = _checkpoint_errors()[:1]
    if not checkpoint_error or not isinstance(exc, checkpoint_error[0]) or not exc.args:
        return
    message = str(exc.args[0])
    for key in ('resume_from', 'load_from'):
        path = cfg.get(key)
        if key in given_by and isinstance(path, str) and message.startswith(path):
            exc.args = (f'{message} (set by {given_by[key]})',) + exc.args[1:]
            return


class _StartUndo:
    """Takes back what a run wrote into its work dir when it fails before training."""

    def __init__(self, existing, path):
        self.created = path is not None and existing is None  # the folder is this run's
        self.before = set(os.listdir(existing)) if existing else set()
        self.folder = None

    def watch(self, folder, timestamp):
        """Note ``folder``'s ``config.py`` (put back on failure) and this run's log names."""
        self.folder, self.timestamp = folder, timestamp
        config = osp.join(folder, 'config.py')
        self.old_config = None
        if osp.isfile(config):
            with open(config, 'rb') as f:
                self.old_config = f.read()
        if not self.created and not self.before:
            self.before = set(os.listdir(folder))

    def forget_the_start(self):
        """Remove this run's ``config.py`` and logs if it trained nothing and saved nothing."""
        import logging
        folder = self.folder
        if folder is None or not osp.isdir(folder):
            return
        ours = {'config.py', f'{self.timestamp}.log', f'{self.timestamp}.log.json'}
        from .workdir import LOCK_NAME, release_all
        new = set(os.listdir(folder)) - self.before - {LOCK_NAME}
        json_log = f'{self.timestamp}.log.json'
        if not new <= ours or (json_log in new and self._logged_values(osp.join(folder, json_log))):
            return  # checkpoints or logged values: the run had started, its files are kept
        release_all()  # the command ends here: its lock goes with the files it wrote
        logger = logging.getLogger('fastrun')
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler) and osp.dirname(handler.baseFilename) == folder:
                logger.removeHandler(handler)
                handler.close()
        for name in new:
            try:
                os.remove(osp.join(folder, name))
            except OSError:
                pass
        if self.old_config is not None:
            with open(osp.join(folder, 'config.py'), 'wb') as f:
                f.write(self.old_config)
        if self.created and not os.listdir(folder):
            os.rmdir(folder)

    @staticmethod
    def _logged_values(json_log):
        try:
            with open(json_log, encoding='utf-8') as f:
                return any('"mode"' in line for line in f)
        except OSError:
            return False


def _print_table(rows):
    width = max(len(k) for k, _ in rows)
    line = '+' + '-' * (width + 2) + '+' + '-' * 12 + '+'
    print(line)
    print(f'| {"metric":<{width}} | {"value":>10} |')
    print(line)
    for k, v in rows:
        val = f'{v:10.4f}' if isinstance(v, float) else f'{v!s:>10}'
        print(f'| {k:<{width}} | {val} |')
    print(line)


def cmd_test(args):
    """fastrun test: evaluate a checkpoint on data.test (else data.val) and print the metrics."""
    from .config import ConfigError, parse_cfg_options

    cfg = args.loaded_config = load_config(args.config, args.cfg_options, args.allow_python_bases)
    data = cfg.get('data')
    split_name = next((k for k in ('test', 'val') if isinstance(data, dict) and data.get(k)), 'test')
    split = data.get(split_name) if isinstance(data, dict) else None
    if split is None:
        raise ConfigError('fastrun test needs data.test (or data.val) to evaluate on', cfg.filename,
                          'data.test')
    if cfg.get('model') is None:
        raise ConfigError('fastrun test needs the model to load the checkpoint into', cfg.filename,
                          'model')
    from . import storage
    if storage.is_url(args.checkpoint):
        storage.check_url(args.checkpoint)  # the backend and its extra; reading names the object
    elif not osp.isfile(args.checkpoint):
        raise (IsADirectoryError(errno.EISDIR, 'is a directory, not a checkpoint file', args.checkpoint)
               if osp.isdir(args.checkpoint) else
               FileNotFoundError(errno.ENOENT, 'checkpoint file not found', args.checkpoint))

    from .builder import (build_dataloader, build_dataset, build_model, default_device,
                          loader_cfg_of)
    from .checkpoint import load_checkpoint
    from .evaluation import single_gpu_test
    from .log import get_logger
    from .preflight import check_arguments
    from .step import DeviceLoader

    check_arguments(cfg, parts=('model', 'data'), overridden=args.cfg_options)
    logger = get_logger('fastrun', log_level=cfg.get('log_level', 'INFO'))
    device = default_device()
    model = build_model(cfg['model'])
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=False, logger=logger,
                    weights_only=not args.unsafe_load)
    model = model.to(device)
    dataset = build_dataset(split, dict(test_mode=True))
    loader = DeviceLoader(build_dataloader(dataset, **loader_cfg_of(cfg, 'test', device=device)),
                          device)
    results = single_gpu_test(model, loader)
    eval_cfg = dict(cfg.get('evaluation') or {})
    metrics = args.metrics or eval_cfg.get('metric', 'accuracy')
    metric_options = eval_cfg.get('metric_options')
    if args.metric_options:
        metric_options = parse_cfg_options(args.metric_options)
        if 'topk' in metric_options and not isinstance(metric_options['topk'], (list, tuple)):
            metric_options['topk'] = (metric_options['topk'],)
    kwargs = {} if metric_options is None else dict(metric_options=metric_options)
    scores = dataset.evaluate(results, metric=metrics, **kwargs)
    # Which samples the numbers are of: data.val stands in when there is no data.test.
    print(f'{type(dataset).__name__} of data.{split_name}: {len(dataset)} samples, '
          f'checkpoint {_shown_path(args.checkpoint)}')
    _print_table([(k, float(v) if not isinstance(v, (list, tuple)) else v) for k, v in scores.items()])
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({k: (v.tolist() if hasattr(v, 'tolist') else v) for k, v in scores.items()}, f, indent=2)
    return 0


def cmd_hooks(args):
    """fastrun hooks: check the config as train does and print the hook order per stage."""
    from .config import check_types

    cfg = _read_config(args)
    cfg.work_dir = None
    check_types(dict_without(cfg, 'load_from', 'resume_from'))

    from .builder import build_model, build_runner_from_cfg
    from .preflight import check_config

    # The checks of `fastrun train` (a checkpoint named in the config need not exist here).
    _warn_in_one_line(check_config, dict_without(cfg, 'load_from', 'resume_from'),
                      overridden=args.cfg_options)
    model = build_model(cfg['model'])
    # No optimizer: the hook order does not depend on it, and building one costs a second
    # (torch imports its compiler on the first optimizer).
    runner, _ = build_runner_from_cfg(dict_without(cfg, 'optimizer'), model, datasets=[],
                                      validate=True)
    print(runner.get_hook_info())
    return 0


def dict_without(cfg, *keys):
    """A shallow copy of the Config ``cfg`` without ``keys`` (it keeps the file name)."""
    copy = cfg.copy()
    for key in keys:
        copy.pop(key, None)
    return copy


def cmd_plot(args):
    """fastrun plot: draw curves of JSON logs into an image and print its path."""
    from .plot import plot_logs
    path = plot_logs(args.logs, keys=args.keys, legend=args.legend, out=args.out)
    print(f'saved {path}')
    return 0


def build_parser():
    """The ``fastrun`` argument parser (one sub-parser per command)."""
    debug = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `fastrun --debug train ...` must not be reset by the sub-parser's default.
    debug.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                       help='show the Python traceback of an error (also FASTRUN_DEBUG=1)')
    # The module docstring's first line, without its reStructuredText markup.
    description = __doc__.split('\n')[0].replace('``', "'").replace("'fastrun' command",
                                                                      'fastrun command')
    parser = argparse.ArgumentParser(prog='fastrun', description=description, parents=[debug])
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('train', help='train a model from a config file', parents=[debug])
    p.add_argument('config')
    p.add_argument('--work-dir', help='output folder or fsspec URL (s3://bucket/run, gs://..., '
                                      'az://...; default: work_dirs/<config name>)')
    p.add_argument('--resume-from', help='checkpoint to resume from (weights, optimizer, counters)')
    p.add_argument('--load-from', help='checkpoint whose weights to start from (epoch 0)')
    p.add_argument('--auto-resume', action='store_true',
                   help='resume from the work dir\'s latest valid checkpoint (start fresh if none)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='let checkpoints unpickle any object (can run code: trusted files only)')
    p.add_argument('--no-validate', action='store_true', help='no evaluation during training')
    p.add_argument('--seed', type=int)
    p.add_argument('--deterministic', action='store_true')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                   help='what started the processes of a distributed run: torchrun (pytorch), '
                        'srun (slurm), mpirun (mpi); none: one process')
    p.add_argument('--num-threads', type=int, metavar='N',
                   help='torch intra-op CPU threads (config key num_threads; default: torch\'s, '
                        'one per core); 1 is fastest for small models and on shared machines')
    p.add_argument('--nvtx', action='store_true',
                   help='NVTX ranges per stage, hook, data fetch and step (for nsys profile)')
    p.add_argument('--hook-times', action='store_true',
                   help='time every hook call; the run\'s summary ends with the time of each '
                        'hook per stage (config: profiling=dict(hook_times=True))')
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bar, even in a terminal')
    p.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)
    _add_config_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('test', help='evaluate a checkpoint on the test split', parents=[debug])
    p.add_argument('config')
    p.add_argument('checkpoint', help='a checkpoint file or fsspec URL')
    p.add_argument('--metrics', nargs='+', help='e.g. accuracy precision recall f1_score')
    p.add_argument('--metric-options', nargs='+', metavar='KEY=VALUE', help='e.g. topk=1,5')
    p.add_argument('--out', help='write the metrics to this JSON file')
    p.add_argument('--unsafe-load', action='store_true',
                   help='let the checkpoint unpickle any object (can run code: trusted files only)')
    _add_config_options(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser('hooks', help='print the hook order per stage, without training',
                       parents=[debug])
    p.add_argument('config')
    _add_config_options(p)
    p.set_defaults(func=cmd_hooks)

    p = sub.add_parser('plot', help='plot curves from JSON logs', parents=[debug])
    p.add_argument('logs', nargs='+', help='<timestamp>.log.json files of runs')
    p.add_argument('--keys', nargs='+', help='logged values to plot (default: loss)')
    p.add_argument('--legend', nargs='+', help='one label per log')
    p.add_argument('--out', help='image file to write (default: next to the first log)')
    p.set_defaults(func=cmd_plot)
    return parser


def run(argv=None):
    """Run the command ``argv`` (default ``sys.argv[1:]``); its errors propagate. Returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    finally:
        _release_work_dirs()


def _release_work_dirs():
    # The work dir a command owned is free once it ends, its error reported or not.
    module = sys.modules.get(f'{__package__}.workdir')
    if module is not None:
        module.release_all()


# ---------------------------------------------------------------- errors a person can act on


def _shown_path(path):
    """``path`` relative to the working directory when inside it (as the user would type it)."""
    if not path or not isinstance(path, str) or path.startswith('<'):
        return path
    from .storage import is_url, redact
    if is_url(path):
        return redact(path)  # a URL is never a local path; its credentials are never shown
    absolute = osp.abspath(path)
    cwd = os.getcwd()
    return osp.relpath(absolute, cwd) if absolute.startswith(cwd + os.sep) else path


def _raised_in(exc):
    """The file of the innermost frame of ``exc``'s traceback (None without one)."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last


def _from_fastrun(exc):
    """Whether ``exc`` was raised by fastrun's own code (not a user module, not a library)."""
    last = _raised_in(exc)
    package = osp.dirname(osp.abspath(__file__))
    return last is not None and osp.abspath(last).startswith(package + os.sep)


def _from_user_code(exc):
    """Whether ``exc`` was raised in the user's code (a config, a custom module), not a library."""
    import sysconfig
    last = _raised_in(exc)
    if last is None or last.startswith('<'):
        return False
    last = osp.abspath(last)
    libraries = [osp.dirname(osp.abspath(__file__))] + [
        sysconfig.get_paths()[k] for k in ('stdlib', 'platstdlib', 'purelib', 'platlib')]
    return not any(last.startswith(osp.abspath(p) + os.sep) for p in libraries if p)


_SECTION_OF = {'OptimizerHook': 'optimizer_config', 'Fp16OptimizerHook': 'optimizer_config',
               'CheckpointHook': 'checkpoint_config', 'EvalHook': 'evaluation',
               'DistEvalHook': 'evaluation', 'IterTimerHook': 'timer_config'}


def _key_of(cfg, name):
    """The dotted key of the config dict that builds the class ``name`` (None if not found)."""
    if name.endswith('LrUpdaterHook'):
        return 'lr_config'
    if name.endswith('MomentumUpdaterHook'):
        return 'momentum_config'

    def walk(node, path):
        if isinstance(node, dict):
            if node.get('type') == name and path:
                return path
            items = node.items()
        elif isinstance(node, (list, tuple)):
            items = ((str(i), v) for i, v in enumerate(node))
        else:
            return None
        for k, v in items:
            found = walk(v, f'{path}.{k}' if path else str(k))
            if found:
                return found
        return None
    found = walk(cfg, '') if isinstance(cfg, dict) else None
    if found is None and isinstance(cfg, dict) and _SECTION_OF.get(name) in cfg:
        found = _SECTION_OF[name]
    return found


def _library_class(cls):
    """Whether ``cls`` is fastrun's or torch's (its bad arguments are the config's fault)."""
    module = getattr(cls, '__module__', '') or ''
    return module.split('.')[0] in ('fastrun', 'torch')


#: Exit status of a run that failed on its own terms (a full disk, a failed upload, a NaN
#: loss), reported in one line like a user error: not a usage error, not a bug either.
EXIT_RUN_FAILED = 1


def exit_status(exc):
    """2 for a user error; 1 for a run that failed (a full disk, an upload that failed after its
    retries, a non-finite loss)."""
    failed = (FloatingPointError,) + _checkpoint_errors()[1:]
    storage = sys.modules.get(f'{__package__}.storage')
    if storage is not None:
        failed += (storage.UploadError,)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC)):
        return EXIT_RUN_FAILED  # a full disk (or quota) while writing a log or an event file
    return EXIT_RUN_FAILED if isinstance(exc, failed) else EXIT_USER_ERROR


def _checkpoint_errors():
    """``(CheckpointError, CheckpointWriteError)``, or ``()`` if no checkpoint code ran.

    An error raised before fastrun.checkpoint was imported is none of its classes; importing it
    only to ask would import torch into a process that reports a config error.
    """
    module = sys.modules.get(f'{__package__}.checkpoint')
    return () if module is None else (module.CheckpointError, module.CheckpointWriteError)


def user_error(exc, cfg=None):
    """The one-line message for an error the user can act on, or None for a bug (traceback).

    ``cfg``: the config being run, to name the key of an object its arguments failed to build.
    A non-finite loss (or weights) stopping the run is reported too; :func:`exit_status` says
    which exit status goes with the message.
    """
    from .config import ConfigError
    from .errors import LauncherError
    checkpoint_errors = _checkpoint_errors()
    built = getattr(exc, 'built_class', None)
    if isinstance(exc, LauncherError):
        message = str(exc)  # how to start the job's processes
    elif isinstance(exc, ConfigError):
        where = _shown_path(exc.filename) or '<config>'
        message = f'{where}: {exc.key}: {exc.reason}' if exc.key else f'{where}: {exc.reason}'
    elif checkpoint_errors and isinstance(exc, checkpoint_errors[0]):
        message = str(exc)
    elif checkpoint_errors and isinstance(exc, checkpoint_errors[1]):
        message = exc.strerror or str(exc)
    elif isinstance(exc, OSError) and _from_fastrun(exc):
        message = f'{_shown_path(exc.filename)}: {exc.strerror or exc}' if exc.filename else str(exc)
    elif isinstance(exc, FloatingPointError) and _from_fastrun(exc):
        message = str(exc)  # the iteration where the loss became NaN, or the file not saved
    elif isinstance(exc, ImportError) and 'pip install fastrun[' in str(exc):
        message = str(exc)  # an optional extra that is not installed: the message names it
    elif isinstance(exc, (TypeError, ValueError, KeyError)) and built is not None \
            and _library_class(built) and cfg is not None:
        # A value fastrun's (or torch's) own checks refused while building from the config.
        key = _key_of(cfg, built.__name__) or built.__name__
        reason = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        name = built.__name__
        if reason.startswith(f'{name}: {name}: '):  # the class named itself too
            reason = reason[len(name) + 2:]
        message = f'{_shown_path(getattr(cfg, "filename", None)) or "<config>"}: {key}: {reason}'
    else:
        return None
    # One line: multi-line reasons (a list of mismatched keys) are joined.
    message = '; '.join(line.strip() for line in message.splitlines() if line.strip())
    cause, seen = exc.__cause__, 0
    while cause is not None and seen < 10:  # an error in the user's code, wrapped by ours
        if _from_user_code(cause):
            message += ' (--debug shows the traceback)'
            break
        cause, seen = cause.__cause__, seen + 1
    return message


def main(argv=None):
    """The ``fastrun`` command. Returns the exit status: 0; 2 after a one-line user error; 1
    after a run that failed on its own terms (disk full, failed upload, non-finite loss), also
    in one line."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, 'debug', False) or os.environ.get('FASTRUN_DEBUG', '') not in ('', '0')
    try:
        try:
            return args.func(args)
        finally:
            _release_work_dirs()
    except KeyboardInterrupt:
        if debug:
            raise
        print('fastrun: interrupted', file=sys.stderr)
        return 130
    except Exception as e:
        message = None if debug else user_error(e, getattr(args, 'loaded_config', None))
        if message is None:
            raise
        sys.stderr.flush()
        print(f'fastrun: error: {message}', file=sys.stderr)
        return exit_status(e)


def entry():
    """The ``fastrun`` command: :func:`main`, then an exit without the interpreter's teardown.

    A command that finished ends through :func:`fastrun.quick_exit.quick_exit` (files flushed
    and closed, ``atexit`` handlers run), 1-1.5 s sooner than an ordinary exit with torch
    loaded; an error propagates as usual.
    """
    code = main()
    from .quick_exit import quick_exit
    quick_exit(code)


if __name__ == '__main__':
    sys.exit(main())
