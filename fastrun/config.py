"""Config files in the mmcv 1.x style: ``.py``/``.json``/``.yaml`` with ``_base_`` inheritance.

A config is read into a :class:`Config`, a dict with attribute access whose nested dicts are
:class:`ConfigDict`. As in mmcv 1.x, a config may refer to a value of its ``_base_`` files
(``policies = {{_base_.rand_increasing_policies}}``) and to its own location
(``'{{ fileDirname }}'``, ``'{{ fileBasename }}'``, ``'{{ fileBasenameNoExtension }}'``,
``'{{ fileExtname }}'``), and may carry ``_deprecation_ = dict(expected=..., reference=...)``,
which warns when it is read. Command-line overrides (``--cfg-options optimizer.lr=0.01``) go
through :func:`parse_cfg_options` / :class:`DictAction` and :meth:`Config.merge_from_dict`;
:func:`check_unknown_keys` and :func:`check_types` catch typos and wrong types before a run.
"""
import argparse
import ast
import copy
import difflib
import errno
import importlib
import json
import keyword
import logging
import math
import os
import os.path as osp
import re
import sys
import traceback
import types
import unicodedata
import uuid
import warnings

import yaml

__all__ = [
    'Config', 'ConfigDict', 'ConfigError', 'ConfigKeyError', 'ConfigSyntaxError', 'ConfigTypeError',
    'CustomImportError', 'DictAction', 'KNOWN_KEYS', 'OptionValueError', 'RESERVED_KEYS', 'check_types',
    'check_unknown_keys', 'import_modules_from_strings', 'parse_cfg_options',
]

BASE_KEY = '_base_'
DELETE_KEY = '_delete_'
DEPRECATION_KEY = '_deprecation_'
#: Top-level keys a config may not define: they name Config's own attributes.
RESERVED_KEYS = ('filename', 'text', 'pretty_text')
_FORMATS = {'.py': 'py', '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml'}
_LINE_WIDTH = 79
# `{{ _base_.a.b }}`: a value of the config's _base_ files (mmcv's pattern: word characters and dots).
_BASE_REF = re.compile(r'\{\{\s*' + BASE_KEY + r'\.([\w.]+)\s*\}\}')

logger = logging.getLogger('fastrun')


class ConfigError(ValueError):
    """A bad config; ``str()`` names the config file and, when known, the dotted key at fault."""

    def __init__(self, reason, filename=None, key=None):
        # All three go into args so the exception pickles (e.g. across DataLoader workers).
        super().__init__(reason, filename, key)
        self.reason, self.filename, self.key = reason, filename, key

    def __str__(self):
        where = self.filename or '<config>'
        return f'{where}: {self.key}: {self.reason}' if self.key else f'{where}: {self.reason}'


class ConfigTypeError(ConfigError, TypeError):
    """A config value of the wrong type (a ConfigError that is also a TypeError)."""


class ConfigKeyError(ConfigError, KeyError):
    """A key defined twice, reserved or missing (a ConfigError that is also a KeyError, as mmcv raises)."""


class ConfigFormatError(ConfigError, OSError):
    """A file that is no config format (a ConfigError that is also an IOError, as mmcv raises)."""


class ConfigSyntaxError(ConfigError, SyntaxError):
    """A ``.py`` config that is not valid Python (a ConfigError that is also a SyntaxError, as mmcv raises)."""


# --------------------------------------------------------------------------- ConfigDict


def _wrap(value):
    """Turn dicts (also inside lists and tuples) into ConfigDicts; other values pass through."""
    if isinstance(value, (ConfigDict, Config)):  # a Config read inside a .py config stays one
        return value
    if isinstance(value, dict):
        return ConfigDict(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if type(value) is tuple:  # namedtuples are left alone: their constructor differs
        return tuple(_wrap(v) for v in value)
    return value


def _plain(value, tuples=True):
    """ConfigDicts back to plain dicts, recursively; ``tuples=False`` also turns tuples into lists."""
    if isinstance(value, dict):
        return {k: _plain(v, tuples) for k, v in value.items()}
    if isinstance(value, list) or (not tuples and type(value) is tuple):
        return [_plain(v, tuples) for v in value]
    if type(value) is tuple:
        return tuple(_plain(v, tuples) for v in value)
    return value


class ConfigDict(dict):
    """A dict whose keys are also attributes (``d.lr`` is ``d['lr']``); nested dicts are ConfigDicts.

    As mmcv's (an ``addict.Dict``): ``update`` merges nested dicts instead of replacing them, a
    missing attribute is an AttributeError ``'ConfigDict' object has no attribute 'x'``, and the
    names of dict methods (``d.items = 1``) cannot be assigned as attributes.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, key, value):
        super().__setitem__(key, _wrap(value))

    def update(self, *args, **kwargs):
        """Like ``dict.update``, but a dict given for a key that holds a dict is merged into it."""
        for key, value in dict(*args, **kwargs).items():
            current = self.get(key)
            if isinstance(value, dict) and isinstance(current, ConfigDict):
                current.update(value)
            else:
                self[key] = value

    def setdefault(self, key, default=None):
        """Like ``dict.setdefault``, wrapping nested dicts."""
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self):
        """A shallow copy of the same class."""
        return type(self)(self)

    # dict's own `|` and `|=` bypass __setitem__, which would leave nested dicts unwrapped.
    def __or__(self, other):
        merged = _wrap(_plain(self))  # nested dicts copied: the merging update must not reach self
        merged.update(other)
        return merged if type(merged) is type(self) else type(self)(merged)

    def __ior__(self, other):
        self.update(other)
        return self

    def to_dict(self):
        """The content as plain nested dicts (lists and tuples kept)."""
        return _plain(self)

    def __getattr__(self, name):
        # Dunder lookups (copy, pickle, numpy probing) must never hit the items.
        if name.startswith('__'):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'") from None

    def __setattr__(self, name, value):
        if hasattr(type(self), name):
            raise AttributeError(f"'{type(self).__name__}' object attribute '{name}' is read-only")
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'") from None

    def __dir__(self):
        return list(super().__dir__()) + [k for k in self if isinstance(k, str) and k.isidentifier()]


# --------------------------------------------------------------------------- reading files


def _parse_text(text, fmt, filename):
    """Parse the text of one config file (no ``_base_`` handling) into a plain dict."""
    label = filename or '<string>'
    if fmt == 'py':
        return _exec_py(text, label)
    looks_python = ' (the text looks like Python: is it a .py config?)' if 'dict(' in text else ''
    if fmt == 'json':
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f'invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}{looks_python}',
                              label) from e
    else:
        try:
            # safe_load only: a config must never be able to run code through python/* tags.
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            hint = (' (python/* tags are refused: configs are read with yaml.safe_load)'
                    if 'python/' in str(e) else looks_python)
            raise ConfigError(f'invalid YAML{hint}: {" ".join(str(e).split())}', label) from e
        if data is None:  # an empty YAML file
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(f'the top level must be a mapping of keys to values, got {type(data).__name__}', label)
    return data


def _exec_py(text, label):
    """Run a ``.py`` config in a fresh namespace and keep its public plain-data assignments."""
    try:
        code = compile(text, label, 'exec')
    except SyntaxError as e:
        # The parenthesis holds mmcv's words, so that code matching them keeps working.
        error = ConfigSyntaxError(f'line {e.lineno}: {e.msg} (There are syntax errors in config file)',
                                  label)
        error.lineno, error.offset, error.text = e.lineno, e.offset, e.text
        raise error from e
    namespace = {'__file__': label, '__name__': '__fastrun_config__'}
    try:
        exec(code, namespace)  # noqa: S102 - running the config is what a .py config is for
    except Exception as e:
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == label]
        where = f'line {lines[-1]}: ' if lines else ''
        raise ConfigError(f'{where}{type(e).__name__}: {e}', label) from e
    dropped = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
    # `_name` variables are the config's private helpers, imports/functions are its tools.
    return {k: v for k, v in namespace.items()
            if (k in (BASE_KEY, DEPRECATION_KEY) or not k.startswith('_')) and not isinstance(v, dropped)}


def _configs_in(folder, limit=6):
    """A few config file names inside ``folder`` (for the error about a folder given as a config)."""
    try:
        names = sorted(n for n in os.listdir(folder) if osp.splitext(n)[1].lower() in _FORMATS
                       and osp.isfile(osp.join(folder, n)))
    except OSError:
        return ''
    if not names:
        return ''
    more = f', ... ({len(names) - limit} more)' if len(names) > limit else ''
    return f"; config files in it: {', '.join(names[:limit])}{more}"


def _read_text(path):
    """(text, format) of one config file; the format comes from the suffix."""
    if osp.isdir(path):
        raise IsADirectoryError(errno.EISDIR, 'is a directory, not a config file' + _configs_in(path), path)
    if not osp.isfile(path):
        raise FileNotFoundError(errno.ENOENT, 'config file not found', path)
    fmt = _format_of(path)
    if fmt is None:
        raise ConfigFormatError(f'unsupported config format; use one of {", ".join(_FORMATS)}', path)
    with open(path, encoding='utf-8') as f:
        return f.read(), fmt


def _format_of(path):
    return _FORMATS.get(osp.splitext(path)[1].lower())


def _substitute_predefined(text, path):
    """Put the file's own location in for ``{{ fileDirname }}`` and its three siblings (as mmcv)."""
    dirname, basename = osp.split(path)
    values = {'fileDirname': dirname, 'fileBasename': basename,
              'fileBasenameNoExtension': osp.splitext(basename)[0], 'fileExtname': osp.splitext(path)[1]}
    for name, value in values.items():
        value = value.replace('\\', '/')  # a Windows path must not turn into escapes in a string
        text = re.sub(r'\{\{\s*' + name + r'\s*\}\}', lambda _: value, text)
    return text


class _BaseRefs:
    """The ``{{ _base_.x }}`` references of one config text.

    Before the text is parsed, each reference becomes a quoted marker string, so that the text
    is valid Python/JSON/YAML (mmcv's scheme); once the ``_base_`` files are read, each value
    that is a marker is replaced by the value the reference names. A marker left anywhere else
    (inside a longer string, as a key) means the reference did not stand for a whole value.
    """

    def __init__(self, text):
        self.paths = {}  # marker -> dotted path after `_base_.`
        token = uuid.uuid4().hex[:12]
        self.pattern = re.compile(f'__fastrun_base_ref_{token}_[0-9]+__')
        markers = {}

        def mark(match):
            path = match.group(1)
            if path not in markers:
                markers[path] = f'__fastrun_base_ref_{token}_{len(markers)}__'
                self.paths[markers[path]] = path
            return f'"{markers[path]}"'

        self.text = _BASE_REF.sub(mark, text)

    def substitute(self, data, base, label):
        """``data`` with every marker replaced by its value in the merged ``base``."""
        if not self.paths:
            return data
        return {k: self._substitute(v, base, label, str(k)) for k, v in data.items()}

    def _substitute(self, value, base, label, where):
        if isinstance(value, str) and value in self.paths:
            return self._lookup(self.paths[value], base, label, where)
        if isinstance(value, dict):
            return {k: self._substitute(v, base, label, f'{where}.{k}') for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, base, label, f'{where}.{i}') for i, v in enumerate(value)]
        if type(value) is tuple:
            return tuple(self._substitute(v, base, label, f'{where}.{i}') for i, v in enumerate(value))
        return value

    @staticmethod
    def _lookup(path, base, label, where):
        node, parts = base, path.split('.')
        for i, part in enumerate(parts):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                missing = '.'.join(parts[:i + 1])
                raise ConfigKeyError(f"{{{{_base_.{path}}}}}: its _base_ files define no '{missing}'",
                                     label, where)
        return _copy_tree(node)

    def check_none_left(self, data, label, has_bases):
        """Raise if a marker is still in ``data`` (a key, or inside a longer string)."""
        if self.paths:
            self._check(data, label, '', has_bases)

    def _check(self, value, label, where, has_bases):
        if isinstance(value, str):
            found = self.pattern.search(value)
            if found:
                ref = f'{{{{_base_.{self.paths.get(found.group(0), "...")}}}}}'
                reason = (f'{ref} must stand for a whole value (not part of a string or a key)'
                          if has_bases else f'{ref} refers to a _base_ file, but this config has no _base_')
                raise ConfigError(reason, label, where or None)
        elif isinstance(value, dict):
            for k, v in value.items():
                inner = f'{where}.{k}' if where else str(k)
                self._check(k, label, inner, has_bases)
                self._check(v, label, inner, has_bases)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                self._check(v, label, f'{where}.{i}', has_bases)


def _copy_tree(value):
    """``value`` with its dicts, lists and tuples rebuilt (the leaves shared), so merging cannot reach it."""
    if isinstance(value, dict) and not isinstance(value, Config):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    if type(value) is tuple:
        return tuple(_copy_tree(v) for v in value)
    return value


def _warn_deprecated(info, path):
    """The warning mmcv gives for a config carrying ``_deprecation_ = dict(expected=..., reference=...)``."""
    message = f'The config file {path} will be deprecated in the future.'
    if isinstance(info, dict):
        if 'expected' in info:
            message += f' Please use {info["expected"]} instead.'
        if 'reference' in info:
            message += f' More information can be found at {info["reference"]}'
    # Attributed to the first caller outside this module (what Python shows for __main__).
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def _load(path, chain=(), allow_python_bases=False, data_only=False, use_predefined_variables=True):
    """(resolved dict, text) of the config at ``path`` with its ``_base_`` files merged in.

    ``data_only``: ``path`` is a ``_base_`` of a JSON/YAML config (see :func:`_resolve_bases`).
    """
    path = osp.abspath(osp.expanduser(os.fspath(path)))
    if path in chain:
        cycle = ' -> '.join(chain[chain.index(path):] + (path,))
        raise ConfigError(f'circular inheritance: {cycle}', chain[-1], BASE_KEY)
    raw, fmt = _read_text(path)
    text = _substitute_predefined(raw, path) if use_predefined_variables else raw
    refs = _BaseRefs(text)
    data = _parse_text(refs.text, fmt, path)
    if DEPRECATION_KEY in data:
        _warn_deprecated(data.pop(DEPRECATION_KEY), path)
    return _resolve_bases(data, f'{path}\n{raw}', path, osp.dirname(path), chain + (path,),
                          allow_python_bases, data_only or fmt != 'py', refs)


def _resolve_bases(data, text, label, base_dir, chain, allow_python_bases=False, data_only=False,
                   refs=None):
    """Merge ``data`` over its ``_base_`` files (relative to ``base_dir``); returns (dict, text).

    ``data_only``: ``data`` comes from a JSON/YAML config (or one of its bases). Reading such a
    config must never run code, so its bases are JSON/YAML too: a ``.py`` base is refused
    unless ``allow_python_bases``. A ``.py`` config may name bases of any format, as in mmcv.
    ``refs``: the config's ``{{ _base_.x }}`` references (:class:`_BaseRefs`).
    """
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        if refs is not None:
            refs.check_none_left(data, label, has_bases=False)
        return _strip_delete(data), text
    if isinstance(bases, str):
        bases = [bases]
    if not (isinstance(bases, (list, tuple)) and all(isinstance(b, str) for b in bases)):
        raise ConfigError(f'must be a str or a list of str, got {bases!r}', label, BASE_KEY)
    merged, owner, texts = {}, {}, []
    for base in bases:
        base_path = osp.join(base_dir, osp.expanduser(base))
        if not osp.isfile(base_path):
            raise FileNotFoundError(errno.ENOENT, f'config file not found (a _base_ of {label})', base_path)
        if data_only and not allow_python_bases and _format_of(base_path) == 'py':
            raise ConfigError(f'{base!r} is a Python file: the bases of a JSON/YAML config are '
                              f'JSON/YAML only, since reading it must not run code (pass '
                              f'--allow-python-bases, or allow_python_bases=True, to allow it)',
                              label, BASE_KEY)
        base_data, base_text = _load(base_path, chain, allow_python_bases, data_only)
        for key in base_data:
            if key in owner:
                # mmcv refuses this too: which base should win would be a silent guess.
                raise ConfigKeyError(f"key '{key}' is defined in two _base_ files: "
                                     f'{owner[key]} and {base_path}', label, BASE_KEY)
            owner[key] = base_path
        merged.update(base_data)
        texts.append(base_text)
    if refs is not None:
        data = refs.substitute(data, merged, label)
        refs.check_none_left(data, label, has_bases=True)
    return _strip_delete(_merge_over(data, merged, label)), '\n'.join(texts + [text])


def _merge_over(child, base, label, allow_list_keys=False, where=''):
    """``child`` merged over ``base`` (mmcv's ``_merge_a_into_b``); ``base`` itself is left unchanged.

    A dict merges into the dict it replaces, key by key, unless it holds ``_delete_=True``; a
    dict over a value that is not a dict is an error (over None it simply takes its place).
    With ``allow_list_keys``, a dict keyed by indices (``{'0': ...}``) merges into a list.
    """
    out = list(base) if isinstance(base, (list, tuple)) else dict(base)
    for key, value in child.items():
        at = f'{where}.{key}' if where else str(key)
        if allow_list_keys and isinstance(out, list) and isinstance(key, str) and key.isdigit():
            index = int(key)
            if index >= len(out):
                raise _IndexKeyError(f"index {index} is out of range: '{where}' has {len(out)} items",
                                     label, at)
            out[index] = (_merge_over(value, out[index], label, allow_list_keys, at)
                          if isinstance(value, dict) and isinstance(out[index], (dict, list, tuple))
                          else _strip_delete(value))
            continue
        if isinstance(out, list):
            raise ConfigTypeError(f"'{where}' is a list: set it whole, or give an index "
                                  f'(allow_list_keys)', label, at)
        if isinstance(value, dict) and key in out and not value.get(DELETE_KEY, False):
            current = out[key]
            if isinstance(current, dict) or (allow_list_keys and isinstance(current, (list, tuple))):
                merged = _merge_over(value, current, label, allow_list_keys, at)
                out[key] = tuple(merged) if type(current) is tuple else merged
                continue
            if current is not None:
                raise _cannot_merge(current, label, at)
        out[key] = _strip_delete(value)
    return out


def _cannot_merge(current, label, at):
    return ConfigTypeError(f'a dict cannot be merged into the {type(current).__name__} {current!r} '
                           f'it overrides; add _delete_=True to the dict to replace the value', label, at)


class _IndexKeyError(ConfigKeyError, IndexError):
    """An index past the end of a list (a KeyError, as mmcv raises, and an IndexError)."""


def _strip_delete(value):
    """Remove leftover ``_delete_`` keys everywhere (they only steer merging); returns ``value``."""
    if isinstance(value, dict):
        value.pop(DELETE_KEY, None)
        for v in value.values():
            _strip_delete(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _strip_delete(v)
    return value


# --------------------------------------------------------------------------- custom imports


def import_modules_from_strings(imports, allow_failed_imports=False, search_paths=()):
    """Import the modules named in ``imports`` (a str or list of str) for their registration side effects.

    ``search_paths`` and the working directory are appended to ``sys.path`` first, so modules
    next to a config import. Returns the module (for a str) or a list of modules, with None for
    a module that failed while ``allow_failed_imports`` is set (it then warns instead of raising).
    """
    if not imports:
        return None
    single = isinstance(imports, str)
    if single:
        imports = [imports]
    if not isinstance(imports, (list, tuple)):
        raise TypeError(f'custom imports must be a str or a list of str, got {type(imports).__name__}')
    if isinstance(search_paths, (str, os.PathLike)):
        search_paths = [search_paths]
    known = {osp.abspath(p) for p in sys.path}
    for path in [*search_paths, os.getcwd()]:
        path = osp.abspath(os.fspath(path))
        if path not in known:
            # Appended, not prepended: a file next to a config must not shadow an installed package.
            sys.path.append(path)
            known.add(path)
    importlib.invalidate_caches()  # the module file may have been written after a directory was scanned
    modules = []
    for name in imports:
        if not isinstance(name, str):
            raise TypeError(f'custom import {name!r} must be a module name (str), got {type(name).__name__}')
        try:
            module = importlib.import_module(name)
        except Exception as e:  # a module that raises while running failed to import just the same
            if not allow_failed_imports:
                raise ImportError(f"failed to import custom module '{name}': {type(e).__name__}: {e}",
                                  name=name) from e
            warnings.warn(f"custom module '{name}' failed to import and is ignored: {e}",
                          UserWarning, stacklevel=2)
            module = None
        else:
            logger.info('imported custom module %s (%s)', name, getattr(module, '__file__', None))
        modules.append(module)
    return modules[0] if single else modules




class CustomImportError(ImportError):
    """A module named in ``custom_imports`` failed to import; names the config file and the key."""

    def __init__(self, reason, filename, key='custom_imports.imports', name=None):
        super().__init__(f'{filename}: {key}: {reason}', name=name)
        self.reason, self.config_file, self.key = reason, filename, key


def _import_custom(value, label, search_dir):
    """Process a config's ``custom_imports=dict(imports=[...], allow_failed_imports=False)``."""
    if not isinstance(value, dict):
        raise ConfigTypeError(f'must be dict(imports=[...], allow_failed_imports=False), '
                              f'got {type(value).__name__}', label, 'custom_imports')
    unknown = sorted(set(value) - {'imports', 'allow_failed_imports'}, key=str)
    if unknown:
        raise ConfigTypeError('unknown key; expected imports and allow_failed_imports', label,
                              f'custom_imports.{unknown[0]}')
    imports = value.get('imports')
    if not (isinstance(imports, str)
            or (isinstance(imports, (list, tuple)) and all(isinstance(i, str) for i in imports))):
        raise ConfigTypeError(f'must be a str or a list of str, got {imports!r}', label,
                              'custom_imports.imports')
    allow = value.get('allow_failed_imports', False)
    if not isinstance(allow, bool):
        raise ConfigTypeError(f'must be a bool, got {allow!r}', label, 'custom_imports.allow_failed_imports')
    try:
        import_modules_from_strings(imports, allow, search_paths=[search_dir])
    except ImportError as e:
        raise CustomImportError(str(e), label, name=e.name) from (e.__cause__ or e)


# --------------------------------------------------------------------------- writing Python


def _is_name(key):
    """Whether ``key`` can be written as ``key=`` / ``key = `` and read back unchanged."""
    # Python NFKC-normalises identifiers: `µ=1` (micro sign) would come back as Greek `μ`.
    return (isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)
            and unicodedata.normalize('NFKC', key) == key)


def _one_line(value, shadowed=frozenset()):
    """``value`` as a one-line Python expression that evaluates back to it.

    ``shadowed`` holds the builtins (``dict``, ``float``) the config itself assigns as top-level
    keys: the text must then not call them, or reading it back would call the config's value.
    """
    if isinstance(value, dict):
        if 'dict' not in shadowed and all(_is_name(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={_one_line(v, shadowed)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{_one_line(k, shadowed)}: {_one_line(v, shadowed)}'
                               for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_one_line(v, shadowed) for v in value) + ']'
    if type(value) is tuple:
        inner = ', '.join(_one_line(v, shadowed) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    if isinstance(value, float) and not math.isfinite(value):
        # repr() gives bare `inf`/`nan`, which are not Python literals; 1e999 overflows to inf.
        if 'float' not in shadowed:
            return f"float('{value}')"
        return {'inf': '1e999', '-inf': '-1e999'}.get(repr(value), '(1e999 - 1e999)')
    return repr(value)


def _format(value, indent, used, shadowed=frozenset()):
    """``value`` as Python source starting at column ``indent + used``, broken over lines if too long."""
    line = _one_line(value, shadowed)
    if indent + used + len(line) <= _LINE_WIDTH or not isinstance(value, (dict, list, tuple)) or not value:
        return line
    pad = ' ' * (indent + 4)
    if isinstance(value, dict):
        if 'dict' not in shadowed and all(_is_name(k) for k in value):
            opening, closing = 'dict(', ')'
            items = [(f'{k}=', v) for k, v in value.items()]
        else:
            opening, closing = '{', '}'
            items = [(f'{_one_line(k, shadowed)}: ', v) for k, v in value.items()]
    else:
        opening, closing = ('[', ']') if isinstance(value, list) else ('(', ')')
        items = [('', v) for v in value]
    # The trailing comma after every item also keeps a one-item tuple a tuple.
    body = ''.join(f'{pad}{prefix}{_format(v, indent + 4, len(prefix), shadowed)},\n' for prefix, v in items)
    return f'{opening}\n{body}{" " * indent}{closing}'


# --------------------------------------------------------------------------- Config


def _keep_config_dict(method, mirror=False):
    """A dict method of Config that works on its ``_cfg_dict`` (``mirror``: one that changes it)."""
    if mirror:
        def delegate(self, *args, **kwargs):
            try:
                return method(self._cfg_dict, *args, **kwargs)
            finally:
                self._mirror()
    else:
        def delegate(self, *args, **kwargs):
            return method(self._cfg_dict, *args, **kwargs)
    delegate.__name__ = method.__name__
    delegate.__doc__ = method.__doc__
    return delegate


class Config(dict):
    """A resolved config: its keys are attributes, it knows its file and source text and dumps itself.

    As in mmcv, the content lives in ``cfg._cfg_dict`` (a :class:`ConfigDict`) and ``Config``
    reads and writes through it: ``copy.copy(cfg)`` is a second Config over the same
    ``_cfg_dict``, ``copy.deepcopy`` copies it. Unlike mmcv's, a Config is also a ``dict``
    (``isinstance(cfg, dict)``, ``dict(cfg)``, ``json.dumps(cfg)`` and ``**cfg`` see its keys):
    every dict method is Config's own, reading ``_cfg_dict``, and the dict's own storage mirrors
    its top-level items for C code that reads a dict's storage directly (``json``). The mirror
    follows changes made through this Config; a key set straight into ``_cfg_dict``, or through
    a ``copy.copy`` of it, reaches that storage on the next change made through this Config.
    """

    def __init__(self, cfg_dict=None, cfg_text=None, filename=None):
        super().__init__()
        if cfg_dict is not None and not isinstance(cfg_dict, dict):
            raise TypeError(f'cfg_dict must be a dict, got {type(cfg_dict).__name__}')
        filename = None if filename is None else os.fspath(filename)
        for key in cfg_dict or ():
            if key in RESERVED_KEYS:
                raise ConfigKeyError(f"'{key}' is reserved for the config's own Config.{key}; "
                                     f'rename the key', filename, key)
        object.__setattr__(self, '_cfg_dict', ConfigDict(cfg_dict or {}))
        object.__setattr__(self, '_filename', filename)
        object.__setattr__(self, '_text', cfg_text)
        self._mirror()

    def _mirror(self):
        """Copy the top-level items of ``_cfg_dict`` into the dict's own storage."""
        dict.clear(self)
        dict.update(self, self.__dict__['_cfg_dict'])

    @classmethod
    def fromfile(cls, filename, use_predefined_variables=True, import_custom_modules=True,
                 allow_python_bases=False):
        """Read a ``.py``/``.json``/``.yaml`` config with its ``_base_`` files; import its ``custom_imports``.

        ``use_predefined_variables``: put the file's location in for ``{{ fileDirname }}`` and
        the like (its ``_base_`` files always get theirs, as in mmcv). The ``_base_`` files of
        a JSON/YAML config must be JSON/YAML (reading it runs no code) unless
        ``allow_python_bases``; a ``.py`` config may inherit from any format.
        """
        filename = os.fspath(filename)
        data, text = _load(filename, allow_python_bases=allow_python_bases,
                           use_predefined_variables=use_predefined_variables)
        cfg = cls(data, text, filename)
        if import_custom_modules and cfg.get('custom_imports'):
            _import_custom(cfg['custom_imports'], filename, osp.dirname(osp.abspath(filename)))
        return cfg

    @classmethod
    def fromstring(cls, cfg_str, file_format='.py', import_custom_modules=True, allow_python_bases=False):
        """Read a config from text in the given format; ``_base_`` paths are relative to the working directory.

        A text has no file, so ``{{ fileDirname }}`` and the like are left as they are.
        """
        fmt = _FORMATS.get('.' + file_format.lower().lstrip('.'))
        if fmt is None:
            raise ConfigError(f'unsupported config format {file_format!r}; use one of {", ".join(_FORMATS)}')
        refs = _BaseRefs(cfg_str)
        data = _parse_text(refs.text, fmt, None)
        if DEPRECATION_KEY in data:
            _warn_deprecated(data.pop(DEPRECATION_KEY), '<string>')
        data, text = _resolve_bases(data, cfg_str, '<string>', os.getcwd(), (), allow_python_bases,
                                    fmt != 'py', refs)
        cfg = cls(data, text)
        if import_custom_modules and cfg.get('custom_imports'):
            _import_custom(cfg['custom_imports'], '<string>', os.getcwd())
        return cfg

    @property
    def filename(self):
        """The path the config was read from, or None."""
        return self.__dict__.get('_filename')

    @property
    def text(self):
        """The source text of the config file and its bases, each preceded by its path."""
        text = self.__dict__.get('_text')
        if text is None and self.filename and osp.isfile(self.filename):
            with open(self.filename, encoding='utf-8') as f:
                text = f.read()
        return text or ''

    @property
    def pretty_text(self):
        """The resolved config as Python source: one ``key = value`` assignment per top-level key."""
        lines, shadowed = [], frozenset({'dict', 'float'} & set(self))
        for key, value in self.items():
            # Such a key cannot be assigned in Python, or would be dropped as private on reading back.
            if not _is_name(key) or key.startswith('_'):
                raise ConfigError('cannot be written as a Python assignment; dump to .json or .yaml instead',
                                  self.filename, str(key))
            lines.append(f'{key} = {_format(value, 0, len(key) + 3, shadowed)}')
        return '\n'.join(lines) + '\n' if lines else ''

    def dump(self, file=None):
        """Write the config to ``file`` (format by suffix: .py, .json, .yaml/.yml), or return it as text.

        The text (``file=None``) is in the format of the file the config was read from:
        ``pretty_text`` for a ``.py`` file or none, JSON or YAML otherwise (as mmcv).
        """
        if file is None:
            fmt = _format_of(self.filename) if self.filename else 'py'
            return self._dumps(fmt or 'py')
        file = os.fspath(file)
        fmt = _format_of(file)
        if fmt is None:
            raise ConfigError(f'cannot dump to {file}: unsupported format; use one of {", ".join(_FORMATS)}',
                              self.filename)
        text = self._dumps(fmt)
        if osp.dirname(file):
            os.makedirs(osp.dirname(file), exist_ok=True)
        with open(file, 'w', encoding='utf-8') as f:
            f.write(text)
        return None

    def _dumps(self, fmt):
        if fmt == 'py':
            return self.pretty_text
        if fmt == 'json':
            return json.dumps(_plain(self))  # mmcv's layout: json.dumps' defaults
        # Tuples become lists: YAML tags for them are python/* tags, which reading refuses.
        return yaml.safe_dump(_plain(self, tuples=False), sort_keys=False, allow_unicode=True)

    def merge_from_dict(self, options, allow_list_keys=True):
        """Apply overrides such as ``{'optimizer.lr': 0.01, 'custom_hooks.0.priority': 'HIGH'}``.

        Dotted keys walk into dicts (creating missing levels) and, with ``allow_list_keys``, into
        lists by index; a dict value merges into an existing dict (``_delete_=True`` replaces it).
        """
        for full_key, value in options.items():
            parts = str(full_key).split('.')
            if not all(parts):
                raise KeyError(f"{self.filename or '<config>'}: bad option key '{full_key}'")
            try:
                _set_in(self._cfg_dict, parts, 0, copy.deepcopy(value), full_key, self.filename,
                        allow_list_keys)
            finally:
                self._mirror()

    # ---- attribute access, through _cfg_dict

    def __getattr__(self, name):
        # Only called when ordinary lookup fails: _cfg_dict, _filename and _text are in __dict__.
        cfg_dict = self.__dict__.get('_cfg_dict')
        if name.startswith('__') or cfg_dict is None:  # dunder probes; while unpickling
            raise AttributeError(name)
        try:
            return cfg_dict[name]
        except KeyError:
            where = f" (config {self.__dict__['_filename']})" if self.__dict__.get('_filename') else ''
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'{where}") from None

    __setattr__ = _keep_config_dict(ConfigDict.__setattr__, mirror=True)
    __delattr__ = _keep_config_dict(ConfigDict.__delattr__, mirror=True)

    def __dir__(self):
        return list(super().__dir__()) + [k for k in self._cfg_dict if isinstance(k, str) and k.isidentifier()]

    # ---- the dict interface, through _cfg_dict

    __getitem__ = _keep_config_dict(ConfigDict.__getitem__)
    __setitem__ = _keep_config_dict(ConfigDict.__setitem__, mirror=True)
    __delitem__ = _keep_config_dict(ConfigDict.__delitem__, mirror=True)
    __contains__ = _keep_config_dict(ConfigDict.__contains__)
    __iter__ = _keep_config_dict(ConfigDict.__iter__)
    __reversed__ = _keep_config_dict(ConfigDict.__reversed__)
    __len__ = _keep_config_dict(ConfigDict.__len__)
    __sizeof__ = _keep_config_dict(ConfigDict.__sizeof__)
    keys = _keep_config_dict(ConfigDict.keys)
    values = _keep_config_dict(ConfigDict.values)
    items = _keep_config_dict(ConfigDict.items)
    get = _keep_config_dict(ConfigDict.get)
    pop = _keep_config_dict(ConfigDict.pop, mirror=True)
    popitem = _keep_config_dict(ConfigDict.popitem, mirror=True)
    setdefault = _keep_config_dict(ConfigDict.setdefault, mirror=True)
    update = _keep_config_dict(ConfigDict.update, mirror=True)
    clear = _keep_config_dict(ConfigDict.clear, mirror=True)
    to_dict = _keep_config_dict(ConfigDict.to_dict)

    def __eq__(self, other):
        return self._cfg_dict == (other._cfg_dict if isinstance(other, Config) else other)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __or__(self, other):
        # Nested dicts copied on both sides: the merging update must reach neither operand.
        merged = type(self)(_copy_tree(self._cfg_dict), self.__dict__.get('_text'), self.filename)
        merged.update(_copy_tree(other))
        return merged

    def __ror__(self, other):
        if not isinstance(other, dict):
            return NotImplemented
        merged = ConfigDict(_copy_tree(other))
        merged.update(self._cfg_dict.to_dict())
        return merged

    def __ior__(self, other):
        self.update(other)
        return self

    def copy(self):
        """A shallow copy (a new ``_cfg_dict`` with the same values) that keeps the filename and text."""
        return type(self)(self._cfg_dict, self.__dict__.get('_text'), self.filename)

    def __copy__(self):
        # mmcv's: the copy shares _cfg_dict with the original.
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._mirror()
        return other

    def __deepcopy__(self, memo):
        other = type(self).__new__(type(self))
        memo[id(self)] = other
        for key, value in self.__dict__.items():
            object.__setattr__(other, key, copy.deepcopy(value, memo))
        other._mirror()
        return other

    def __getstate__(self):
        return self._cfg_dict, self.__dict__.get('_filename'), self.__dict__.get('_text')

    def __setstate__(self, state):
        if isinstance(state, dict):  # pickled when Config kept its items in the dict itself
            state = (self.__dict__.get('_cfg_dict') or ConfigDict(), state.get('_filename'),
                     state.get('_text'))
        for name, value in zip(('_cfg_dict', '_filename', '_text'), state):
            object.__setattr__(self, name, value)
        self._mirror()

    def __reduce_ex__(self, protocol):
        # No dict items in the pickle: they would be set before __setstate__ gives _cfg_dict.
        return _new_config, (type(self),), self.__getstate__()

    def __repr__(self):
        return f'Config (path: {self.filename}): {self._cfg_dict!r}'


def _new_config(cls):
    """An empty ``cls`` instance for unpickling (its state comes next)."""
    other = cls.__new__(cls)
    object.__setattr__(other, '_cfg_dict', ConfigDict())
    return other


def _merged(old, new, filename, full_key, allow_list_keys):
    """The value an override ``new`` leaves where ``old`` was (the rules of :func:`_merge_over`)."""
    if old is None or not isinstance(new, dict) or new.get(DELETE_KEY, False):
        return _strip_delete(new)
    if isinstance(old, dict) or (allow_list_keys and isinstance(old, (list, tuple))):
        merged = _merge_over(new, old, filename, allow_list_keys, full_key)
        return tuple(merged) if type(old) is tuple else merged
    raise _cannot_merge(old, filename, full_key)


def _set_in(node, parts, i, value, full_key, filename, allow_list_keys):
    """Set ``parts[i:]`` under ``node`` to ``value``; returns the node (a new one for tuples)."""
    where = filename or '<config>'
    key, last = parts[i], i == len(parts) - 1
    if isinstance(node, (list, tuple)) and allow_list_keys:
        at = '.'.join(parts[:i])
        if not key.isdigit():
            raise KeyError(f"{where}: option '{full_key}': '{at}' is a list, so '{key}' must be an index")
        index = int(key)
        if index >= len(node):
            raise _IndexKeyError(f"option '{full_key}': index {index} is out of range, "
                                 f"'{at}' has {len(node)} items", filename)
        new = _merged(node[index], value, filename, full_key, allow_list_keys) if last else _set_in(
            node[index], parts, i + 1, value, full_key, filename, allow_list_keys)
        if isinstance(node, tuple):
            return node[:index] + (new,) + node[index + 1:]
        node[index] = _wrap(new)
        return node
    if isinstance(node, dict):
        if last:
            node[key] = _merged(node.get(key), value, filename, full_key, allow_list_keys)
        else:
            child = node.get(key)
            if child is None and allow_list_keys and parts[i + 1].isdigit():
                # mmcv would create a dict with the key '0' here, which fails later and far
                # from the option: an index needs a list to address.
                at = '.'.join(parts[:i + 1])
                raise KeyError(f"{where}: option '{full_key}': '{at}' is not in the config, so "
                               f"'{parts[i + 1]}' has no list item to address; set the whole "
                               f"list instead ({at}=\"[dict(...)]\")")
            node[key] = _set_in(ConfigDict() if child is None else child, parts, i + 1, value,
                                full_key, filename, allow_list_keys)
        return node
    raise TypeError(f"{where}: option '{full_key}': cannot set '{key}' inside '{'.'.join(parts[:i])}', "
                    f'which is a {type(node).__name__}')


# --------------------------------------------------------------------------- command-line options


class OptionValueError(ValueError, AssertionError):
    """A ``--cfg-options`` value that cannot be parsed (unbalanced brackets).

    Also an AssertionError: mmcv's DictAction asserts on these, and code catching that keeps working.
    """


def _scan(text):
    """(top-level comma positions, index closing the bracket opened at text[0] or None, final depth).

    Quoted parts are skipped.
    """
    commas, depth, quote, close, i = [], 0, None, None, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == '\\':
                i += 1
            elif c == quote:
                quote = None
        elif c in '\'"':
            quote = c
        elif c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
            if depth == 0 and close is None and text[0] in '([{':
                close = i
        elif c == ',' and depth == 0:
            commas.append(i)
        i += 1
    return commas, close, depth


def _bare_word(text):
    """A value that is no Python literal, read as mmcv's DictAction does: int, float, bool, None, else str."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    return None if text == 'None' else text


def _parse_value(text):
    """One ``--cfg-options`` value: a Python literal, else a comma list of values, else a bare word.

    Never evaluates code: ``ast.literal_eval`` reads literals; ``[a, (b, 1)]`` and ``a,b`` are
    split at their top-level commas (a bare ``1,2,3`` is a list, as in mmcv); a bare word is an
    int, a float, ``true``/``false`` in any case, ``None``, or else the string itself.
    """
    text = text.strip()
    commas, close, depth = _scan(text)
    if commas:
        # A bare `1,2,3` is a list (mmcv behaviour), not the tuple literal_eval would make of it.
        pieces = [text[a + 1:b] for a, b in zip([-1] + commas, commas + [len(text)])]
        return [_parse_value(p) for p in pieces if p.strip()]
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if depth != 0 and ',' in text:
        raise OptionValueError(f'unbalanced brackets in {text!r}')
    if close == len(text) - 1 and text[0] + text[-1] in ('[]', '()'):
        # `[a,b]` with bare words: parse the items one by one, like mmcv's DictAction.
        inner = text[1:-1]
        commas, _, _ = _scan(inner)
        pieces = [inner[a + 1:b] for a, b in zip([-1] + commas, commas + [len(inner)])]
        items = [_parse_value(p) for p in pieces if p.strip()]
        return items if text[0] == '[' else tuple(items)
    return _bare_word(text)


def parse_cfg_options(options):
    """``['optimizer.lr=0.01', 'a.b=1,2,3']`` -> ``{'optimizer.lr': 0.01, 'a.b': [1, 2, 3]}``; never evals code."""
    if isinstance(options, str):
        options = [options]
    parsed = {}
    for option in options:
        key, sep, raw = option.partition('=')
        if not sep or not key.strip():
            raise ValueError(f'config option {option!r} is not of the form key=value')
        try:
            parsed[key.strip()] = _parse_value(raw)
        except OptionValueError as e:
            raise OptionValueError(f'config option {key.strip()!r}: {e}') from None
    return parsed


class DictAction(argparse.Action):
    """argparse action for ``--cfg-options a.b=1 c=x,y`` (use ``nargs='+'``): stores a dict of parsed values.

    Values are read as :func:`parse_cfg_options` says. An option without ``=`` is an argparse
    usage error; unbalanced brackets raise :class:`OptionValueError` (an AssertionError, as in
    mmcv), or a usage error too when the argument is added with ``usage_errors=True``.
    Repeating the option adds to the dict.
    """

    def __init__(self, *args, usage_errors=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.usage_errors = usage_errors

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(values, str):
            values = [values]
        try:
            parsed = parse_cfg_options(values)
        except OptionValueError as e:
            if not self.usage_errors:
                raise
            raise argparse.ArgumentError(self, str(e)) from e
        except ValueError as e:
            raise argparse.ArgumentError(self, str(e)) from e
        options = dict(getattr(namespace, self.dest, None) or {})
        options.update(parsed)
        setattr(namespace, self.dest, options)


# --------------------------------------------------------------------------- validation

KNOWN_KEYS = frozenset((
    'model', 'data', 'optimizer', 'optimizer_config', 'lr_config', 'momentum_config', 'checkpoint_config',
    'log_config', 'evaluation', 'custom_hooks', 'workflow', 'runner', 'total_epochs', 'load_from',
    'resume_from', 'work_dir', 'custom_imports', 'log_level', 'seed', 'deterministic', 'dist_params',
    'cudnn_benchmark', 'gpu_ids', 'profiling', 'dataset_type', 'img_norm_cfg', 'train_pipeline',
    'test_pipeline', 'fp16', 'auto_resume', 'find_unused_parameters', 'mp_start_method',
    'opencv_num_threads', 'device', 'compile', 'channels_last', 'amp', 'no_validate', 'timer_config',
    'env_cfg', 'model_wrapper_cfg', 'sync_bn', 'num_threads',
))


def _filename_of(cfg):
    return (cfg.filename if isinstance(cfg, Config) else None) or '<config>'


def check_unknown_keys(cfg):
    """Warn (UserWarning) for each top-level key fastrun does not know, suggesting the closest; returns the messages."""
    messages = []
    for key in cfg:
        name = str(key)
        if name.startswith('_') or name in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(name, sorted(KNOWN_KEYS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        message = f"{_filename_of(cfg)}: unknown key '{name}'{hint}"
        warnings.warn(message, UserWarning, stacklevel=2)
        messages.append(message)
    return messages


class _Invalid(Exception):
    """Raised by a type check; ``subkey`` is appended to the checked key (e.g. a list index)."""

    def __init__(self, reason, subkey=None):
        super().__init__(reason)
        self.reason, self.subkey = reason, subkey


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value, cfg):
    if not (_is_int(value) and value > 0):
        raise _Invalid(f'must be a positive int, got {value!r}')


def _non_negative_int(value, cfg):
    if not (_is_int(value) and value >= 0):
        raise _Invalid(f'must be a non-negative int, got {value!r}')


def _optional_positive_int(value, cfg):
    if value is not None and not (_is_int(value) and value > 0):
        raise _Invalid(f'must be None or a positive int, got {value!r}')


def _int(value, cfg):
    if not _is_int(value):
        raise _Invalid(f'must be an int, got {value!r}')


def _optional_int(value, cfg):
    if value is not None and not _is_int(value):
        raise _Invalid(f'must be None or an int, got {value!r}')


def _dict(value, cfg):
    if not isinstance(value, dict):
        raise _Invalid(f'must be a dict, got {type(value).__name__}')


def _optional_dict(value, cfg):
    if value is not None and not isinstance(value, dict):
        raise _Invalid(f'must be None or a dict, got {type(value).__name__}')


def _dict_with_type(value, cfg):
    if not (isinstance(value, dict) and 'type' in value):
        raise _Invalid(f"must be a dict with a 'type' key, got {value!r}")


def _workflow(value, cfg):
    if not (isinstance(value, (list, tuple)) and value):
        raise _Invalid(f"must be a non-empty list of (phase, epochs) pairs like [('train', 1)], got {value!r}")
    for i, item in enumerate(value):
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise _Invalid(f'must be a (phase, epochs) pair, got {item!r}', str(i))
        phase, epochs = item
        if phase not in ('train', 'val'):
            raise _Invalid(f"phase must be 'train' or 'val', got {phase!r}", str(i))
        if not (_is_int(epochs) and epochs > 0):
            raise _Invalid(f'epochs of phase {phase!r} must be a positive int, got {epochs!r}', str(i))


def _runner(value, cfg):
    if not (isinstance(value, dict) and 'type' in value):
        raise _Invalid(f"must be a dict with a 'type', like dict(type='EpochBasedRunner', max_epochs=12), "
                       f'got {value!r}')
    given = [k for k in ('max_epochs', 'max_iters') if value.get(k) is not None]
    if len(given) == 2:
        raise _Invalid('set only one of max_epochs and max_iters')
    if not given:
        if 'total_epochs' not in cfg:
            raise _Invalid('needs max_epochs or max_iters (or total_epochs at the top level)')
        return
    if not (_is_int(value[given[0]]) and value[given[0]] > 0):
        raise _Invalid(f'must be a positive int, got {value[given[0]]!r}', given[0])


def _custom_hooks(value, cfg):
    if not isinstance(value, (list, tuple)):
        raise _Invalid(f'must be a list of hook dicts, got {type(value).__name__}')
    for i, hook in enumerate(value):
        if not (isinstance(hook, dict) and 'type' in hook):
            raise _Invalid(f"must be a dict with a 'type' key, got {hook!r}", str(i))


def _storage_url(value):
    # A URL's backend must exist and be installed (no I/O here: a missing object is reported
    # when it is read, still before training).
    from . import storage
    try:
        storage.check_url(value)
    except (ValueError, ImportError) as e:
        raise _Invalid(str(e)) from None


def _checkpoint_path(value, cfg):
    if value is None:
        return
    if not isinstance(value, str):
        raise _Invalid(f'must be None or a path (str), got {type(value).__name__}')
    from . import storage
    if storage.is_url(value):  # s3://, https://, file://...: read through fsspec
        _storage_url(value)
        if not storage.is_remote(value) and not storage.isfile(value):
            raise _Invalid(f'checkpoint file not found: {value}')
    elif not osp.isfile(value):
        raise _Invalid(f'checkpoint file not found: {value}')


def _work_dir(value, cfg):
    if value is None:
        return
    if not isinstance(value, (str, os.PathLike)):
        raise _Invalid(f'must be None or a folder or URL (str), got {type(value).__name__}')
    from . import storage
    try:
        storage.check_location(os.fspath(value))  # a backend that is installed and writable
    except (ValueError, ImportError) as e:
        raise _Invalid(str(e)) from None


def _out_dir(value, cfg):
    # out_dir and file_client_args of a hook config (mmcv's FileClient backends mapped to fsspec).
    if not isinstance(value, dict):
        return
    from . import storage
    out_dir = value.get('out_dir')
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise _Invalid(f'must be None or a folder or URL (str), got {type(out_dir).__name__}',
                       'out_dir')
    try:
        storage.check_location(out_dir, value.get('file_client_args'))
    except (ValueError, ImportError) as e:
        raise _Invalid(str(e), 'file_client_args' if value.get('file_client_args') else
                       'out_dir') from None


_PROFILING_KEYS = ('nvtx', 'hook_times')


def _profiling(value, cfg):
    if value is None:
        return
    if not isinstance(value, dict):
        raise _Invalid(f'must be a dict like dict(hook_times=True), got {type(value).__name__}')
    for key, flag in value.items():
        if key not in _PROFILING_KEYS:
            close = difflib.get_close_matches(str(key), _PROFILING_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ''
            raise _Invalid(f"unknown key; known: {', '.join(_PROFILING_KEYS)}{hint}", str(key))
        if not isinstance(flag, bool):
            raise _Invalid(f'must be True or False, got {flag!r}', str(key))


# Parents come before their children: a child is only looked up when its parent is a dict.
_TYPE_CHECKS = (
    ('workflow', _workflow),
    ('runner', _runner),
    ('total_epochs', _positive_int),
    ('data', _dict),
    ('data.samples_per_gpu', _positive_int),
    ('data.workers_per_gpu', _non_negative_int),
    ('optimizer', _dict_with_type),
    ('log_config', _optional_dict),
    ('log_config.interval', _positive_int),
    ('checkpoint_config', _optional_dict),
    ('checkpoint_config.interval', _int),
    ('custom_hooks', _custom_hooks),
    ('load_from', _checkpoint_path),
    ('resume_from', _checkpoint_path),
    ('work_dir', _work_dir),
    ('checkpoint_config', _out_dir),
    ('evaluation', _out_dir),
    ('seed', _optional_int),
    ('num_threads', _optional_positive_int),
    ('profiling', _profiling),
)

_MISSING = object()


def _lookup(cfg, dotted):
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def check_types(cfg):
    """Raise ConfigError (naming file and dotted key) if a well-known key has the wrong type or value."""
    for key, check in _TYPE_CHECKS:
        value = _lookup(cfg, key)
        if value is _MISSING:
            continue
        try:
            check(value, cfg)
        except _Invalid as e:
            raise ConfigError(e.reason, _filename_of(cfg), f'{key}.{e.subkey}' if e.subkey else key) from None
