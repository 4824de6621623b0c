"""``fastrun plot``: train and val curves of ``<timestamp>.log.json`` files.

Train values are plotted against the global iteration (epoch-based logs count iterations
within the epoch; they are laid end to end), and val values (a ``val`` phase of the workflow,
evaluations) at the iteration where they were logged; a plot of val values only uses the
epoch of an epoch-based log. matplotlib is imported only once the logs and keys are known to be good.
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
    order = []  # (mode, index in records[mode]), in file order
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
            if isinstance(rec, dict) and rec.get('mode') in ('train', 'val'):
                order.append((rec['mode'], len(records[rec['mode']])))
                records[rec['mode']].append(rec)
    train = records['train']
    epochs = {r.get('epoch', 1) for r in train}
    # One epoch number throughout: an iteration-based log, whose `iter` is already global.
    per_epoch = max((r.get('iter', 0) for r in train), default=0) if len(epochs) > 1 else 0
    for r in train:
        r['global_iter'] = (r.get('epoch', 1) - 1) * per_epoch + r.get('iter', 0)
    records['iters_per_epoch'] = per_epoch
    _place_val(records['val'], train, per_epoch, order)
    # An epoch-based log's val values alone are drawn against the epoch.
    records['val_by'] = 'epoch' if per_epoch or (len(epochs) <= 1 and _one_per_epoch(records['val'])) \
        else 'iter'
    return records


def _one_per_epoch(val):
    """Whether the val records count epochs (one epoch number per evaluation time)."""
    epochs = [r.get('epoch', 0) for r in val]
    return len(set(epochs)) == len(epochs) or not val


def _place_val(val, train, per_epoch, order):
    """Give each val record ``global_iter``: the train iteration after which it was logged.

    A val record's own ``iter`` is the iteration within its val epoch in a ``val`` phase of the
    workflow, and the val loader's length for an evaluation: neither says where it happened.
    In an epoch-based log it belongs to the end of its epoch. In an iteration-based one, rising
    ``iter`` values are global (iteration-wise evaluations); repeated ones are placed after the
    train record logged before them in the file.
    """
    if per_epoch:
        for r in val:
            r['global_iter'] = r.get('epoch', 1) * per_epoch
        return
    iters = [r.get('iter', 0) for r in val]
    if len(iters) > 1 and all(a < b for a, b in zip(iters, iters[1:])):
        for r in val:  # iteration-wise evaluations: their `iter` is the global one
            r['global_iter'] = r.get('iter', 0)
        return
    # Repeated inner iterations (a val phase): after the train record logged before them.
    position = 0
    for mode, i in order:
        if mode == 'train':
            position = train[i]['global_iter']
        else:
            val[i]['global_iter'] = position


def series(records, key):
    """``({mode: (xs, ys)}, x label)``: what :func:`plot_logs` draws of ``key`` for one log.

    Train values are placed by global iteration, and so are val values when the same plot has
    train values: at the iteration after which they were logged (their epoch's end). Alone, an
    epoch-based log's val values are placed by epoch.
    """
    train = [(r['global_iter'], r[key]) for r in records['train'] if key in r]
    val = [r for r in records['val'] if key in r]
    curves = {}
    if train:
        curves['train'] = tuple(map(list, zip(*train)))
        xlabel = 'iteration'
        if val:
            curves['val'] = ([r['global_iter'] for r in val], [r[key] for r in val])
    elif records['val_by'] == 'epoch':
        xlabel = 'epoch'
        if val:
            curves['val'] = ([r.get('epoch', 0) for r in val], [r[key] for r in val])
    else:
        xlabel = 'iteration'
        if val:
            curves['val'] = ([r['global_iter'] for r in val], [r[key] for r in val])
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
        # The README's words: the package's extra, and the same from a clone.
        raise ImportError('fastrun plot needs matplotlib: pip install fastrun[plot] (in a clone '
                          'of the repository: pip install -e ".[plot]")') from e
    fig = Figure(figsize=(8, 3.2 * len(keys)))
    axes = fig.subplots(len(keys), 1, squeeze=False)
    for i, (path, records) in enumerate(zip(paths, logs)):
        label = legend[i] if legend else osp.basename(path)
        for ax, key in zip(axes[:, 0], keys):
            curves, xlabel = series(records, key)
            for mode, (xs, ys) in curves.items():
                ax.plot(xs, ys, marker='o' if mode == 'val' else None, label=f'{label} {mode}')
            ax.set_xlabel(xlabel)
            ax.set_ylabel(key)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.25
            ax.set_title(key)
            ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    return out
