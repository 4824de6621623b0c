"""``fastrun plot``: train and val curves of ``<timestamp>.log.json`` files.

Train values are plotted against the global iteration (epoch-based logs count iterations
within the epoch; they are laid end to end), values logged only at evaluations against the
epoch. matplotlib is imported only once the logs and keys are known to be good.
"""
import json
import os.path as osp

from .config import ConfigError

__all__ = ['read_log', 'series', 'plot_logs']


def read_log(path):
    """The train and val records of a JSON log: ``{'train': [...], 'val': [...]}``.

    Each train record gets ``global_iter``: its iteration counted from the start of training.
    In an epoch-based log, ``iter`` counts within the epoch, and an epoch is taken to be as
    long as the largest iteration logged in any epoch (mmcv's plotting does the same; with
    ``ignore_last=False``, or an interval that divides the epoch, that is exact).
    """
    if not osp.exists(path):
        raise FileNotFoundError(2, 'log file not found', path)
    if osp.isdir(path):
        raise IsADirectoryError(21, 'is a directory; give the <timestamp>.log.json file of a run', path)
    records = {'train': [], 'val': []}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f'line {lineno} is not JSON ({e.msg}); give the .log.json file '
                                  f'a run writes, not the text .log', path) from None
            if isinstance(rec, dict) and rec.get('mode') in records:
                records[rec['mode']].append(rec)
    train = records['train']
    epochs = {r.get('epoch', 1) for r in train}
    # One epoch number throughout: an iteration-based log, whose `iter` is already global.
    per_epoch = max((r.get('iter', 0) for r in train), default=0) if len(epochs) > 1 else 0
    for r in train:
        r['global_iter'] = (r.get('epoch', 1) - 1) * per_epoch + r.get('iter', 0)
    records['iters_per_epoch'] = per_epoch
    # One evaluation per epoch (an epoch-based run) is placed by its epoch; several evaluations
    # within one epoch number (an iteration-based run) by the iteration logged with them.
    val_epochs = [r.get('epoch', 0) for r in records['val']]
    records['val_by'] = 'epoch' if len(set(val_epochs)) == len(val_epochs) else 'iter'
    return records


def series(records, key):
    """``({mode: (xs, ys)}, x label)``: what :func:`plot_logs` draws of ``key`` for one log.

    Train values are placed by global iteration. Val values are placed by epoch, or, when the
    same plot has train values, at the iteration that ends their epoch.
    """
    per_epoch, by = records['iters_per_epoch'], records['val_by']
    train = [(r['global_iter'], r[key]) for r in records['train'] if key in r]
    val = [(r.get(by, 0), r[key]) for r in records['val'] if key in r]
    curves = {}
    if train:
        curves['train'] = tuple(map(list, zip(*train)))
        xlabel = 'iteration'
        if val and (by == 'iter' or per_epoch):
            scale = per_epoch if by == 'epoch' else 1
            curves['val'] = ([x * scale for x, _ in val], [v for _, v in val])
    else:
        xlabel = 'epoch' if by == 'epoch' else 'iteration'
        if val:
            curves['val'] = tuple(map(list, zip(*val)))
    return curves, xlabel


def _keys_present(logs):
    present = []
    for records in logs:
        for mode in ('train', 'val'):
            for r in records[mode]:
                present.extend(k for k in r if k not in present and isinstance(r[k], (int, float))
                               and not isinstance(r[k], bool)
                               and k not in ('epoch', 'iter', 'global_iter', 'mode'))
    return present


def _default_out(log_path, keys):
    stem = osp.basename(log_path)
    for suffix in ('.json', '.log'):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
    safe = '_'.join(k.replace('/', '-') for k in keys)
    return osp.join(osp.dirname(log_path), f'{stem}_{safe}.png')


def plot_logs(paths, keys=None, legend=None, out=None):
    """Plot ``keys`` (default ``['loss']``) of the JSON logs ``paths``; returns the image path.

    Without ``out`` the image goes next to the first log (``<timestamp>_<keys>.png``). A key in
    none of the logs is an error that lists the keys they hold.
    """
    if legend is not None and len(legend) != len(paths):
        raise ConfigError(f'{len(legend)} labels for {len(paths)} logs; give one per log', paths[0],
                          '--legend')
    logs = [read_log(p) for p in paths]
    present = _keys_present(logs)
    if not present:
        raise ConfigError('no train or val values in the log (is it the .log.json of a run that '
                          'logged at least once?)', paths[0])
    keys = list(keys or ['loss'])
    missing = [k for k in keys if k not in present]
    if missing:
        raise ConfigError(f"{', '.join(repr(k) for k in missing)} not in the log"
                          f"{'s' if len(paths) > 1 else ''}; the keys there: {', '.join(present)}",
                          paths[0], '--keys')
    out = out or _default_out(paths[0], keys)
    try:
        # A Figure without pyplot: no window, no display needed, the caller's backend untouched.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError('fastrun plot needs matplotlib: pip install fastrun[plot]') from e
    fig = Figure(figsize=(8, 3.2 * len(keys)))
    axes = fig.subplots(len(keys), 1, squeeze=False)
    for i, (path, records) in enumerate(zip(paths, logs)):
        label = legend[i] if legend else osp.basename(path)
        for ax, key in zip(axes[:, 0], keys):
            curves, xlabel = series(records, key)
            for mode, (xs, ys) in curves.items():
                ax.plot(xs, ys, marker='o' if mode == 'val' else None, label=f'{label} {mode}')
            ax.set_xlabel(xlabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.25
            ax.set_title(key)
            ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    return out
