"""The bridge to OpenMMLab 1.x libraries: types registered in mmcv's ``Registry`` objects.

A library written against mmcv 1.x (mmcls 0.x, mmdet 2.x, mmseg 0.x, a user's own package)
registers its classes in ``mmcv.utils.Registry`` objects. When a config names a type that a
fastrun root registry lacks, the registry asks :func:`find_in_mmcv`, which reads the mmcv
registries *of the same kind* (the same name up to case, spaces and a plural ``s``: fastrun's
``model`` registry reads mmcv's ``model`` and mmcls's ``models``) of the modules already
imported. The rule:

1. fastrun's own entry wins: a name both have builds fastrun's class.
2. Otherwise ``'Name'`` builds the one class registered under that name in those mmcv
   registries; when different classes are (mmcls's and mmdet's ``ResNet``), nothing is
   built and the error names the scopes to choose from.
3. ``'scope.Name'`` (mmcv's scope prefix: ``'mmcls.ResNet'``) reads only the registry of that
   scope; ``'fastrun.Name'`` reads fastrun's own.

mmcv is never imported here: a library that is not imported yet is not looked at, except
when a key's scope names it (``'mmcls.ResNet'``: then the package and its usual submodule for
that kind, ``mmcls.models``, are imported, as the config asked for them). Otherwise a config
imports its libraries with ``custom_imports=dict(imports=['mmcls.models'])``.
"""
import importlib
import importlib.util
import sys

#: The submodules of an OpenMMLab package that register each kind (imported for 'scope.Name').
_KIND_MODULES = {'model': ('models',), 'dataset': ('datasets',), 'pipeline': ('datasets',),
                 'sampler': ('datasets',), 'hook': ('core',), 'optimizer': ('core',)}

_cache = {'key': None, 'registries': ()}


def _mmcv_registry_type():
    module = sys.modules.get('mmcv.utils.registry')
    return getattr(module, 'Registry', None) if module is not None else None


def kind_of(name):
    """The kind a registry name denotes: ``'Models'`` / ``'model'`` -> ``'model'``."""
    words = str(name).lower().replace('_', ' ').split()
    joined = ''.join(words)
    return joined[:-1] if joined.endswith('s') else joined


def mmcv_registries():
    """Every mmcv ``Registry`` reachable from the imported modules, children included.

    The module scan is cached until more modules are imported (a miss in a registry is rare
    and only costs a scan); the children are walked each time (a child may be added later).
    """
    mm = _mmcv_registry_type()
    if mm is None:
        return ()
    key = len(sys.modules)
    if _cache['key'] != key:
        roots = {}
        for module in list(sys.modules.values()):
            namespace = getattr(module, '__dict__', None)
            if not isinstance(namespace, dict):
                continue
            for value in list(namespace.values()):
                if issubclass(type(value), mm):  # type(), never __class__ (proxies)
                    roots[id(value)] = value
        _cache.update(key=key, registries=tuple(roots.values()))
    found = {}
    stack = list(_cache['registries'])
    while stack:
        reg = stack.pop()
        if id(reg) in found:
            continue
        found[id(reg)] = reg
        stack.extend(getattr(reg, 'children', {}).values())
        if getattr(reg, 'parent', None) is not None:
            stack.append(reg.parent)
    return tuple(r for r in found.values() if not _is_fastrun(r))


def _is_fastrun(registry):
    return type(registry).__module__.startswith('fastrun')


def _same_kind(registry):
    kind = kind_of(registry.name)
    return [r for r in mmcv_registries() if kind_of(r.name) == kind]


def _import_scope(scope, kind):
    # 'mmcls.ResNet' in a config asks for mmcls: import it and its submodule for this kind.
    if scope not in sys.modules:
        if importlib.util.find_spec(scope) is None:
            return
        importlib.import_module(scope)
    for sub in _KIND_MODULES.get(kind, ()):
        name = f'{scope}.{sub}'
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def candidates(registry, key):
    """``(scope, class)`` of every mmcv registry of ``registry``'s kind holding ``key``."""
    scope, dot, real_key = key.partition('.')
    if not dot:
        scope, real_key = None, key
    if scope is not None:
        try:
            _import_scope(scope, kind_of(registry.name))
        except ImportError:
            pass
    out = []
    for reg in _same_kind(registry):
        if scope is not None and reg.scope != scope:
            continue
        cls = reg.module_dict.get(real_key)
        if cls is not None and all(cls is not c for _, c in out):
            out.append((reg.scope, cls))
    return out


def find_in_mmcv(registry, key):
    """The class ``key`` names in the mmcv registries of ``registry``'s kind, or None (missing
    or ambiguous: :func:`describe_search` says which)."""
    if not isinstance(key, str):
        return None
    scope = key.partition('.')[0] if '.' in key else None
    if scope == 'fastrun':
        return registry.module_dict.get(key.partition('.')[2])
    if scope is None and _mmcv_registry_type() is None:
        return None
    found = candidates(registry, key)
    return found[0][1] if len(found) == 1 else None


def describe_search(registry, key):
    """Where ``key`` was looked for, for the error message of a missing type."""
    kind = kind_of(registry.name)
    if _mmcv_registry_type() is None:
        return (f'looked in fastrun\'s {registry.name} registry; mmcv is not imported, so no '
                f'OpenMMLab registry was read: import the library that registers it, e.g. '
                f"custom_imports=dict(imports=['mmcls.models'])")
    found = candidates(registry, key)
    if len(found) > 1:
        scopes = ', '.join(repr(f'{s}.{key}') for s, _ in found)
        return f'{len(found)} OpenMMLab libraries register it: choose one with {scopes}'
    scopes = sorted({str(r.scope) for r in _same_kind(registry)})
    where = (f"and the mmcv registries of kind '{kind}' of scopes {', '.join(scopes)}" if scopes
             else f"and no mmcv registry of kind '{kind}' is imported")
    return f'looked in fastrun\'s {registry.name} registry {where}'


_views = {}


def registry_view_class(cls):
    """``cls`` itself, or (mmcv imported) a subclass of ``cls`` and mmcv's ``Registry``: what a
    fastrun registry reports as its ``__class__``, so that mmcv's ``isinstance`` checks pass."""
    mm = _mmcv_registry_type()
    if mm is None or issubclass(cls, mm):
        return cls
    view = _views.get((cls, mm))
    if view is None:
        view = type(cls.__name__, (cls, mm), {'__module__': cls.__module__,
                                              '__doc__': cls.__doc__})
        _views[(cls, mm)] = view
    return view
