"""The ``fastrun`` command: ``train``, ``test``, ``hooks`` and ``plot``."""
import argparse
import json
import os.path as osp
import sys
import time


def _add_cfg_options(parser):
    from .config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help="override config keys, e.g. optimizer.lr=0.01 "
                             "workflow=\"[('train',1),('val',1)]\" custom_hooks.0.priority=HIGH")


def load_config(path, cfg_options=None):
    """Read a config file and apply command-line overrides."""
    from .config import Config
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def find_latest_checkpoint(work_dir, logger=None):
    """The checkpoint ``--auto-resume`` resumes from: ``latest.pth`` of ``work_dir``, else its newest.

    A file that does not load or whose checksum does not match is skipped (a WARNING names it
    and says why) for the next newest; None when no valid checkpoint is there.
    """
    from .checkpoint import find_resumable_checkpoint
    return find_resumable_checkpoint(work_dir, logger)


def _phase_datasets(cfg):
    from .builder import build_dataset
    from .config import ConfigError
    data = cfg.get('data') or {}
    datasets = []
    for phase, _ in cfg.get('workflow', [('train', 1)]):
        if data.get(phase) is None:
            raise ConfigError(f'the workflow has a {phase!r} phase but no data.{phase} is configured',
                              cfg.filename, f'data.{phase}')
        datasets.append(build_dataset(data[phase]))
    return datasets


def cmd_train(args):
    import torch

    from . import storage
    from .builder import build_model, set_random_seed, train_model
    from .config import check_types, check_unknown_keys
    from .dist import init_dist
    from .log import get_logger
    from .preflight import check_hooks

    cfg = load_config(args.config, args.cfg_options)
    check_unknown_keys(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume_from is not None:
        cfg.resume_from = args.resume_from
    if args.load_from is not None:
        cfg.load_from = args.load_from
    check_types(cfg)
    check_hooks(cfg)
    auto_resume = args.auto_resume or cfg.get('auto_resume')
    if args.seed is not None:
        cfg.seed = args.seed
    if args.deterministic:
        cfg.deterministic = True
    if args.nvtx:
        cfg.profiling = dict(cfg.get('profiling') or {}, nvtx=True)

    distributed = args.launcher != 'none'
    if distributed:
        init_dist(args.launcher, **(cfg.get('dist_params') or {}))
    from .dist import get_dist_info
    rank, world_size = get_dist_info()

    # A URL work dir is never a local path: its files are written to a local staging folder
    # and uploaded (the runner mirrors that folder to the URL).
    local_dir, _ = storage.local_work_dir(cfg.work_dir)
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    if rank == 0:
        cfg.dump(osp.join(local_dir, 'config.py'))
    logger = get_logger('fastrun', log_file=osp.join(local_dir, f'{timestamp}.log'),
                        log_level=cfg.get('log_level', 'INFO'))
    custom = (cfg.get('custom_imports') or {}).get('imports') or []
    for name in [custom] if isinstance(custom, str) else custom:
        module = sys.modules.get(name)
        logger.info('custom import %s (%s)', name, getattr(module, '__file__', 'not imported'))
    if auto_resume:
        # After the logger is set up, so the files skipped (and why) are in the log file.
        latest = find_latest_checkpoint(cfg.work_dir, logger)
        if latest is not None:
            cfg.resume_from = latest
            logger.info('auto-resume: resuming from %s', storage.redact(cfg.resume_from))
        else:
            logger.info('auto-resume: no valid checkpoint in %s, starting fresh',
                        storage.redact(cfg.work_dir))
    if args.unsafe_load:
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
    meta = dict(seed=seed, exp_name=osp.basename(args.config), config=config_text,
                world_size=world_size)

    model = build_model(cfg['model'])
    datasets = _phase_datasets(cfg)
    if hasattr(datasets[0], 'CLASSES'):
        model.CLASSES = datasets[0].CLASSES
    extra = []
    if sys.stdout.isatty() and rank == 0:
        extra.append(dict(type='ProgressBarHook', priority='LOWEST'))
    if extra:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + extra
    train_model(model, datasets, cfg, distributed=distributed, validate=not args.no_validate,
                timestamp=timestamp, meta=meta, weights_only=not args.unsafe_load)
    return 0


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
    from .builder import build_dataloader, build_dataset, build_model, default_device
    from .checkpoint import load_checkpoint
    from .config import parse_cfg_options
    from .evaluation import single_gpu_test
    from .step import DeviceLoader

    cfg = load_config(args.config, args.cfg_options)
    device = default_device()
    model = build_model(cfg['model'])
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=False,
                    weights_only=not args.unsafe_load)
    model = model.to(device)
    split = cfg['data'].get('test') or cfg['data'].get('val')
    dataset = build_dataset(split)
    loader = DeviceLoader(build_dataloader(dataset, cfg['data'].get('samples_per_gpu', 32),
                                           cfg['data'].get('workers_per_gpu', 0), shuffle=False),
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
    _print_table([(k, float(v) if not isinstance(v, (list, tuple)) else v) for k, v in scores.items()])
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({k: (v.tolist() if hasattr(v, 'tolist') else v) for k, v in scores.items()}, f, indent=2)
    return 0


def cmd_hooks(args):
    from .builder import build_model, build_runner_from_cfg

    cfg = load_config(args.config, args.cfg_options)
    cfg.work_dir = None
    model = build_model(cfg['model'])
    runner, _ = build_runner_from_cfg(cfg, model, datasets=[], validate=True)
    print(runner.get_hook_info())
    return 0


def cmd_plot(args):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError('fastrun plot needs matplotlib: pip install fastrun[plot]') from e
    keys = args.keys or ['loss']
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3.2 * len(keys)), squeeze=False)
    for log_path in args.logs:
        records = {'train': [], 'val': []}
        with open(log_path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                if rec.get('mode') in records:
                    records[rec['mode']].append(rec)
        label = args.legend[args.logs.index(log_path)] if args.legend else osp.basename(log_path)
        for ax, key in zip(axes[:, 0], keys):
            for mode, recs in records.items():
                pts = [(r['iter'] if mode == 'train' and 'iter' in r else r.get('epoch', 0), r[key])
                       for r in recs if key in r]
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(xs, ys, marker='.' if mode == 'val' else None, label=f'{label} {mode}')
            ax.set_title(key)
            ax.set_xlabel('iter (train) / epoch (val)')
            ax.legend()
    fig.tight_layout()
    if args.out:
        fig.savefig(args.out)
        print(f'saved {args.out}')
    else:
        plt.show()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog='fastrun', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('train', help='train a model from a config file')
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
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    p.add_argument('--nvtx', action='store_true',
                   help='NVTX ranges per stage, hook, data fetch and step (for nsys profile)')
    p.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)
    _add_cfg_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('test', help='evaluate a checkpoint on the test split')
    p.add_argument('config')
    p.add_argument('checkpoint', help='a checkpoint file or fsspec URL')
    p.add_argument('--metrics', nargs='+', help='e.g. accuracy precision recall f1_score')
    p.add_argument('--metric-options', nargs='+', metavar='KEY=VALUE', help='e.g. topk=1,5')
    p.add_argument('--out', help='write the metrics to this JSON file')
    p.add_argument('--unsafe-load', action='store_true',
                   help='let the checkpoint unpickle any object (can run code: trusted files only)')
    _add_cfg_options(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser('hooks', help='print the hook order per stage, without training')
    p.add_argument('config')
    _add_cfg_options(p)
    p.set_defaults(func=cmd_hooks)

    p = sub.add_parser('plot', help='plot curves from JSON logs')
    p.add_argument('logs', nargs='+')
    p.add_argument('--keys', nargs='+')
    p.add_argument('--legend', nargs='+')
    p.add_argument('--out')
    p.set_defaults(func=cmd_plot)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
