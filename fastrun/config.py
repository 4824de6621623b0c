"""Config files in the mmcv 1.x style: ``.py``/``.json``/``.yaml`` with ``_base_`` inheritance.

A config is read into a :class:`Config`, a dict with attribute access whose nested dicts are
:class:`ConfigDict`. Command-line overrides (``--cfg-options optimizer.lr=0.01``) go through
:func:`parse_cfg_options` / :class:`DictAction` and :meth:`Config.merge_from_dict`;
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
import sys
import traceback
import types
import unicodedata
import warnings

import yaml

__all__ = [
    'Config', 'ConfigDict', 'ConfigError', 'ConfigKeyError', 'ConfigTypeError', 'CustomImportError',
    'DictAction', 'KNOWN_KEYS', 'check_types', 'check_unknown_keys', 'import_modules_from_strings',
    'parse_cfg_options',
]

BASE_KEY = '_base_'
DELETE_KEY = '_delete_'
_FORMATS = {'.py': 'py', '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml'}
_LINE_WIDTH = 79

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
    """A key defined twice (a ConfigError that is also a KeyError, as mmcv raises)."""


# --------------------------------------------------------------------------- ConfigDict


def _wrap(value):
    """Turn dicts (also inside lists and tuples) into ConfigDicts; other values pass through."""
    if isinstance(value, ConfigDict):
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
    """A dict whose keys are also attributes (``d.lr`` is ``d['lr']``); nested dicts are ConfigDicts."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, key, value):
        super().__setitem__(key, _wrap(value))

    def update(self, *args, **kwargs):
        """Like ``dict.update``, wrapping nested dicts."""
        for key, value in dict(*args, **kwargs).items():
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
        merged = self.copy()
        merged.update(other)
        return merged

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
            raise AttributeError(f"'{type(self).__name__}' object has no attribute or key '{name}'") from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no key '{name}'") from None

    def __dir__(self):
        return list(super().__dir__()) + [k for k in self if isinstance(k, str) and k.isidentifier()]


# --------------------------------------------------------------------------- reading files


def _parse_text(text, fmt, filename):
    """Parse the text of one config file (no ``_base_`` handling) into a plain dict."""
    label = filename or '<string>'
    if fmt == 'py':
        return _exec_py(text, label)
    if fmt == 'json':
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f'invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}', label) from e
    else:
        try:
            # safe_load only: a config must never be able to run code through python/* tags.
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            hint = (' (python/* tags are refused: configs are read with yaml.safe_load)'
                    if 'python/' in str(e) else '')
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
        raise ConfigError(f'line {e.lineno}: {e.msg}', label) from e
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
            if (k == BASE_KEY or not k.startswith('_')) and not isinstance(v, dropped)}


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


def _read_file(path):
    """(dict, text) of one config file; the format comes from the suffix."""
    if osp.isdir(path):
        raise IsADirectoryError(errno.EISDIR, 'is a directory, not a config file' + _configs_in(path), path)
    if not osp.isfile(path):
        raise FileNotFoundError(errno.ENOENT, 'config file not found', path)
    fmt = _FORMATS.get(osp.splitext(path)[1].lower())
    if fmt is None:
        raise ConfigError(f'unsupported config format; use one of {", ".join(_FORMATS)}', path)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    return _parse_text(text, fmt, path), text


def _load(path, chain=(), allow_python_bases=False, data_only=False):
    """(resolved dict, text) of the config at ``path`` with its ``_base_`` files merged in.

    ``data_only``: ``path`` is a ``_base_`` of a JSON/YAML config (see :func:`_resolve_bases`).
    """
    path = osp.abspath(osp.expanduser(os.fspath(path)))
    if path in chain:
        cycle = ' -> '.join(chain[chain.index(path):] + (path,))
        raise ConfigError(f'circular inheritance: {cycle}', chain[-1], BASE_KEY)
    data, text = _read_file(path)
    return _resolve_bases(data, f'{path}\n{text}', path, osp.dirname(path), chain + (path,),
                          allow_python_bases, data_only or _format_of(path) != 'py')


def _format_of(path):
    return _FORMATS.get(osp.splitext(path)[1].lower())


def _resolve_bases(data, text, label, base_dir, chain, allow_python_bases=False, data_only=False):
    """Merge ``data`` over its ``_base_`` files (relative to ``base_dir``); returns (dict, text).

    ``data_only``: ``data`` comes from a JSON/YAML config (or one of its bases). Reading such a
    config must never run code, so its bases are JSON/YAML too: a ``.py`` base is refused
    unless ``allow_python_bases``. A ``.py`` config may name bases of any format, as in mmcv.
    """
    bases = data.pop(BASE_KEY, None)
    if bases is None:
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
    _merge_into(data, merged)
    return _strip_delete(merged), '\n'.join(texts + [text])


def _merge_into(src, dst):
    """Merge ``src`` into ``dst`` in place: dicts merge recursively unless ``_delete_=True``."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict) and not value.pop(DELETE_KEY, False):
            _merge_into(value, dst[key])
        else:
            dst[key] = value
    return dst


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


class Config(ConfigDict):
    """A resolved config: a ConfigDict that also knows its file, source text and how to dump itself."""

    def __init__(self, cfg_dict=None, cfg_text=None, filename=None):
        if cfg_dict is not None and not isinstance(cfg_dict, dict):
            raise TypeError(f'cfg_dict must be a dict, got {type(cfg_dict).__name__}')
        super().__init__(cfg_dict or {})
        object.__setattr__(self, '_filename', None if filename is None else os.fspath(filename))
        object.__setattr__(self, '_text', cfg_text)

    @classmethod
    def fromfile(cls, filename, import_custom_modules=True, allow_python_bases=False):
        """Read a ``.py``/``.json``/``.yaml`` config with its ``_base_`` files; import its ``custom_imports``.

        The ``_base_`` files of a JSON/YAML config must be JSON/YAML (reading it runs no code)
        unless ``allow_python_bases``; a ``.py`` config may inherit from any format.
        """
        filename = os.fspath(filename)
        data, text = _load(filename, allow_python_bases=allow_python_bases)
        cfg = cls(data, text, filename)
        if import_custom_modules and cfg.get('custom_imports'):
            _import_custom(cfg['custom_imports'], filename, osp.dirname(osp.abspath(filename)))
        return cfg

    @classmethod
    def fromstring(cls, cfg_str, file_format='.py', import_custom_modules=True, allow_python_bases=False):
        """Read a config from text in the given format; ``_base_`` paths are relative to the working directory."""
        fmt = _FORMATS.get('.' + file_format.lower().lstrip('.'))
        if fmt is None:
            raise ConfigError(f'unsupported config format {file_format!r}; use one of {", ".join(_FORMATS)}')
        data = _parse_text(cfg_str, fmt, None)
        data, text = _resolve_bases(data, cfg_str, '<string>', os.getcwd(), (), allow_python_bases,
                                    data_only=fmt != 'py')
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
        """Write the config to ``file`` (format by suffix: .py, .json, .yaml/.yml), or return ``pretty_text``."""
        if file is None:
            return self.pretty_text
        file = os.fspath(file)
        fmt = _FORMATS.get(osp.splitext(file)[1].lower())
        if fmt == 'py':
            text = self.pretty_text
        elif fmt == 'json':
            text = json.dumps(_plain(self), indent=4, ensure_ascii=False) + '\n'
        elif fmt == 'yaml':
            text = yaml.safe_dump(_plain(self, tuples=False), sort_keys=False, allow_unicode=True)
        else:
            raise ConfigError(f'cannot dump to {file}: unsupported format; use one of {", ".join(_FORMATS)}',
                              self.filename)
        if osp.dirname(file):
            os.makedirs(osp.dirname(file), exist_ok=True)
        with open(file, 'w', encoding='utf-8') as f:
            f.write(text)
        return None

    def merge_from_dict(self, options, allow_list_keys=True):
        """Apply overrides such as ``{'optimizer.lr': 0.01, 'custom_hooks.0.priority': 'HIGH'}``.

        Dotted keys walk into dicts (creating missing levels) and, with ``allow_list_keys``, into
        lists by index; a dict value merges into an existing dict (``_delete_=True`` replaces it).
        """
        for full_key, value in options.items():
            parts = str(full_key).split('.')
            if not all(parts):
                raise KeyError(f"{self.filename or '<config>'}: bad option key '{full_key}'")
            _set_in(self, parts, 0, copy.deepcopy(value), full_key, self.filename, allow_list_keys)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            # __dict__ is read directly: while unpickling, _filename is not set yet.
            raise AttributeError(f"{self.__dict__.get('_filename') or '<config>'}: "
                                 f"config has no attribute or key '{name}'") from None

    def copy(self):
        """A shallow copy that keeps the filename and text."""
        return type(self)(self, self.__dict__.get('_text'), self.filename)

    def __repr__(self):
        return f'Config (path: {self.filename}): {dict.__repr__(self)}'


def _merged(old, new):
    """The value an override ``new`` leaves where ``old`` was."""
    if isinstance(new, dict) and isinstance(old, dict) and not new.pop(DELETE_KEY, False):
        return _strip_delete(_merge_into(new, old))
    return _strip_delete(new)


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
            raise IndexError(f"{where}: option '{full_key}': index {index} is out of range, "
                             f"'{at}' has {len(node)} items")
        new = _merged(node[index], value) if last else _set_in(
            node[index], parts, i + 1, value, full_key, filename, allow_list_keys)
        if isinstance(node, tuple):
            return node[:index] + (new,) + node[index + 1:]
        node[index] = _wrap(new)
        return node
    if isinstance(node, dict):
        if last:
            node[key] = _merged(node.get(key), value)
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


def _scan(text):
    """(top-level comma positions, index closing the bracket opened at text[0] or None), quotes skipped."""
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
    return commas, close


def _parse_value(text):
    """One ``--cfg-options`` value: a Python literal, else a comma list of values, else the raw string."""
    text = text.strip()
    commas, close = _scan(text)
    if commas:
        # A bare `1,2,3` is a list (mmcv behaviour), not the tuple literal_eval would make of it.
        pieces = [text[a + 1:b] for a, b in zip([-1] + commas, commas + [len(text)])]
        return [_parse_value(p) for p in pieces if p.strip()]
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if close == len(text) - 1 and text[0] + text[-1] in ('[]', '()'):
        # `[a,b]` with bare words: parse the items one by one, like mmcv's DictAction.
        inner = text[1:-1]
        commas, _ = _scan(inner)
        pieces = [inner[a + 1:b] for a, b in zip([-1] + commas, commas + [len(inner)])]
        items = [_parse_value(p) for p in pieces if p.strip()]
        return items if text[0] == '[' else tuple(items)
    return text


def parse_cfg_options(options):
    """``['optimizer.lr=0.01', 'a.b=1,2,3']`` -> ``{'optimizer.lr': 0.01, 'a.b': [1, 2, 3]}``; never evals code."""
    if isinstance(options, str):
        options = [options]
    parsed = {}
    for option in options:
        key, sep, raw = option.partition('=')
        if not sep or not key.strip():
            raise ValueError(f'config option {option!r} is not of the form key=value')
        parsed[key.strip()] = _parse_value(raw)
    return parsed


class DictAction(argparse.Action):
    """argparse action for ``--cfg-options a.b=1 c=x,y`` (use ``nargs='+'``): stores a dict of parsed values."""

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(values, str):
            values = [values]
        try:
            parsed = parse_cfg_options(values)
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
