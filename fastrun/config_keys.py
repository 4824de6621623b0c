"""The top-level keys of a config that fastrun does not read: typos of its keys, and the rest.

An mmcv config may carry keys of its own (variables its other keys are built from, settings
of another tool), so an unknown top-level key is legal: it is warned about, repeated in the
run's summary and written to the text log. A key one edit away from a key that sets up the
run (``chekpoint_config``, ``log_confg``) is a typo whose setting would silently not apply:
it is an error. Imports only the standard library and :mod:`fastrun.config` (no torch), so the
check runs before torch is imported.
"""
import difflib

from .config import KNOWN_KEYS, ConfigError

__all__ = ['RUNTIME_KEYS', 'one_edit_apart', 'unknown_top_level_keys', 'check_top_level_typos']

#: Keys fastrun reads to set up the run. Left out: the names mmcls configs use as variables
#: (``dataset_type``, ``train_pipeline``...), whose value reaches the run only through other
#: keys, and keys under 5 characters (``data``, ``seed``, ``fp16``), whose one-edit
#: neighbours are ordinary words.
RUNTIME_KEYS = tuple(sorted(
    k for k in KNOWN_KEYS
    if len(k) >= 5 and k not in ('dataset_type', 'img_norm_cfg', 'train_pipeline', 'test_pipeline')))


def one_edit_apart(a, b):
    """Whether ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return False
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def _filename(cfg):
    return getattr(cfg, 'filename', None) or '<config>'


def unknown_top_level_keys(cfg):
    """``[(key, closest known key or None)]`` of the top-level keys fastrun does not read.

    Keys starting with ``_`` (``_base_``, private variables) are not counted.
    """
    unknown = []
    for key in cfg:
        name = str(key)
        if name.startswith('_') or name in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(name, sorted(KNOWN_KEYS), n=1)
        unknown.append((name, close[0] if close else None))
    return unknown


def describe_unknown(unknown):
    """``"a (did you mean 'b'?), c"``: the keys of :func:`unknown_top_level_keys`."""
    return ', '.join(f"{k} (did you mean '{c}'?)" if c else k for k, c in unknown)


def check_top_level_typos(cfg):
    """Raise ConfigError for a top-level key one edit away from a key that sets up the run."""
    for key in cfg:
        name = str(key)
        if name.startswith('_') or name in KNOWN_KEYS:
            continue
        near = [k for k in RUNTIME_KEYS if one_edit_apart(name, k)]
        if near:
            raise ConfigError(f"unknown key, one edit away from '{near[0]}': a typo would leave "
                              f"'{near[0]}' unset; rename it to '{near[0]}' (or to a name further "
                              f"from fastrun's keys if it is a variable of your own)",
                              _filename(cfg), name)
