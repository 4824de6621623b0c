"""Building data sets from config dicts, wrappers included (mmcls 0.x's ``build_dataset``)."""
import copy
import inspect

from ..registry import DATASETS, build_from_cfg

__all__ = ['build_dataset']


def _accepts(cls, name):
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def build_dataset(cfg, default_args=None):
    """A data set from ``cfg``: a list of configs is a ``ConcatDataset``; ``ConcatDataset``
    (``datasets``), ``RepeatDataset``, ``ClassBalancedDataset`` and ``KFoldDataset``
    (``dataset``) build their inner configs the same way; anything else is looked up in
    ``DATASETS``.

    ``default_args`` (e.g. ``dict(test_mode=True)`` for the val and test splits, as mmcls
    passes) fill the keys a config leaves out, for the data sets whose constructor takes them.
    A ``KFoldDataset`` takes ``test_mode`` itself rather than passing it on.
    """
    from .wrappers import ClassBalancedDataset, ConcatDataset, KFoldDataset, RepeatDataset
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    if not isinstance(cfg, dict):
        raise TypeError(f'a data set config must be a dict or a list of dicts, '
                        f'got {type(cfg).__name__}')
    kind = cfg.get('type')
    if kind == 'ConcatDataset':
        return ConcatDataset([build_dataset(c, default_args) for c in cfg['datasets']],
                             separate_eval=cfg.get('separate_eval', True))
    if kind == 'RepeatDataset':
        return RepeatDataset(build_dataset(cfg['dataset'], default_args), cfg['times'])
    if kind == 'ClassBalancedDataset':
        return ClassBalancedDataset(build_dataset(cfg['dataset'], default_args),
                                    cfg['oversample_thr'])
    if kind == 'KFoldDataset':
        args = copy.deepcopy(dict(cfg))
        args.pop('type')
        inner_defaults = dict(default_args or {})
        test_mode = inner_defaults.pop('test_mode', False)
        if args.get('test_mode') is None:
            args['test_mode'] = test_mode
        args['dataset'] = build_dataset(args['dataset'], inner_defaults)
        return KFoldDataset(**args)
    if default_args:
        cls = DATASETS.get(kind) if isinstance(kind, str) else kind
        if cls is not None:
            default_args = {k: v for k, v in default_args.items() if _accepts(cls, k)}
    return build_from_cfg(dict(cfg), DATASETS, default_args or None)
