"""Every registry of fastrun, and building objects from ``dict(type=..., **kwargs)``."""
import difflib
import importlib
import inspect
import sys

import torch


class Registry:
    """A name -> class (or function) table, filled with ``@REGISTRY.register_module()``.

    ``locations``: modules whose import registers the bundled entries (``'fastrun.hooks'``).
    They are imported the first time the registry is read or written, so the bundled entries
    are there whichever fastrun module was imported first, and ``import fastrun`` alone imports
    none of them (nor torch).

    mmcv 1.x's ``Registry`` arguments are accepted too (libraries written against mmcv):
    ``build_func`` (what :meth:`build` calls, default :func:`build_from_cfg`; inherited from
    the parent), ``parent`` (this registry becomes the parent's child under ``scope``) and
    ``scope`` (default: the top package of the module that creates the registry). A key
    ``'scope.Name'`` reads the child registry of that scope (or goes to the root and down).

    A fastrun root registry that lacks a name looks in the mmcv 1.x registries of the same
    kind, in the libraries already imported (mmcls, mmdet, mmseg, a user's): see
    :mod:`fastrun.openmmlab` for the rule.
    """

    def __init__(self, name, locations=(), build_func=None, parent=None, scope=None):
        if callable(locations) and build_func is None:  # mmcv's order: Registry(name, build_func)
            locations, build_func = (), locations
        self._name = name
        self._module_dict = {}
        self._children = {}
        self._locations = tuple(locations)
        self._scope = _caller_package() if scope is None else scope
        if build_func is None:
            build_func = parent.build_func if parent is not None else build_from_cfg
        self.build_func = build_func
        self.parent = parent
        if parent is not None:
            parent._add_children(self)

    @property
    def __class__(self):
        # isinstance(r, mmcv.utils.Registry) is true once mmcv is imported, so that mmcv's
        # build_from_cfg (and Registry(parent=r)) accept fastrun's registries.
        from .openmmlab import registry_view_class
        return registry_view_class(type(self))

    def _import_locations(self):
        if not self._locations:
            return
        # Cleared first: each location's own register_module() calls come back here.
        locations, self._locations = self._locations, ()
        try:
            for location in locations:
                importlib.import_module(location)
        except BaseException:
            self._locations = locations  # a failed import is retried, as Python retries it
            raise

    @property
    def name(self):
        return self._name

    @property
    def scope(self):
        return self._scope

    @property
    def children(self):
        return self._children

    @property
    def module_dict(self):
        self._import_locations()
        return self._module_dict

    def __len__(self):
        self._import_locations()
        return len(self._module_dict)

    def __contains__(self, key):
        return self.get(key) is not None

    def __repr__(self):
        self._import_locations()
        return f'{type(self).__name__}(name={self._name}, items={sorted(self._module_dict)})'

    @staticmethod
    def split_scope_key(key):
        """``'mmcls.ResNet'`` -> ``('mmcls', 'ResNet')``; ``'ResNet'`` -> ``(None, 'ResNet')``."""
        scope, dot, rest = key.partition('.')
        return (scope, rest) if dot else (None, key)

    def _add_children(self, registry):
        scope = registry.scope
        if scope is None:
            raise ValueError(f'a child registry of {self._name} needs a scope')
        if scope in self._children:
            raise KeyError(f'scope {scope} exists in {self._name} registry')
        self._children[scope] = registry

    def _root(self):
        root = self
        while getattr(root, 'parent', None) is not None:
            root = root.parent
        return root

    def get(self, key):
        """The class registered as ``key`` (``'Name'`` or ``'scope.Name'``), or None."""
        self._import_locations()
        found = self._module_dict.get(key)
        if found is not None or not isinstance(key, str):
            return found
        scope, real_key = self.split_scope_key(key)
        if scope is not None and scope != self._scope:
            if scope in self._children:
                return self._children[scope].get(real_key)
            root = self._root()
            if root is not self:
                return root.get(key)
        elif scope is not None:
            found = self._module_dict.get(real_key)
            if found is not None:
                return found
        if self.parent is None and _is_fastrun(self):
            from .openmmlab import find_in_mmcv
            return find_in_mmcv(self, key)
        return None

    def explain_missing(self, key):
        """Why ``key`` was not found: where it was looked for, and close names."""
        from .openmmlab import describe_search
        close = self.closest(key)
        hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
        return f'{key!r} is not in the {self._name} registry{hint} ({describe_search(self, key)})'

    def _register(self, module, module_name=None, force=False):
        if not (inspect.isclass(module) or inspect.isfunction(module)):
            raise TypeError(f'{self._name} registry: module must be a class or a function, '
                            f'got {type(module).__name__}')
        # The bundled entries first, so that a user's force=True replaces them, not they it.
        self._import_locations()
        names = module_name if module_name is not None else module.__name__
        for name in ([names] if isinstance(names, str) else names):
            if not force and name in self._module_dict and self._module_dict[name] is not module:
                raise KeyError(f'{name} is already registered in the {self._name} registry '
                               f'(by {self._module_dict[name].__module__}); pass force=True to replace it')
            self._module_dict[name] = module

    def register_module(self, name=None, force=False, module=None):
        """Register a class, as a decorator (``@R.register_module()``) or a call (``module=Cls``).

        mmcv's older call ``register_module(Cls)`` (a class as the first argument) works too.
        """
        if module is None and (inspect.isclass(name) or inspect.isfunction(name)):
            name, module = None, name
        if not isinstance(force, bool):
            raise TypeError(f'force must be a bool, got {type(force).__name__}')
        if not (name is None or isinstance(name, str)
                or (isinstance(name, (list, tuple)) and all(isinstance(n, str) for n in name))):
            raise TypeError(f'name must be None, a str or a sequence of str, got {type(name).__name__}')
        if module is not None:
            self._register(module, name, force)
            return module

        def _decorator(cls):
            self._register(cls, name, force)
            return cls
        return _decorator

    def build(self, *args, **kwargs):
        """``build_func(cfg, ..., registry=self)``: :func:`build_from_cfg` unless given another."""
        return self.build_func(*args, **kwargs, registry=self)

    def closest(self, key, n=3):
        """Registered names close to ``key``, for error messages."""
        self._import_locations()
        return difflib.get_close_matches(str(key), list(self._module_dict), n=n, cutoff=0.5)


def _is_fastrun(registry):
    return type(registry).__module__.startswith('fastrun')


def _caller_package():
    # mmcv's rule for a registry's scope: the top package of the module creating it.
    frame = sys._getframe(2)
    return (frame.f_globals.get('__name__') or '').split('.')[0] or None


def build_from_cfg(cfg, registry, default_args=None):
    """Build the object ``cfg['type']`` names in ``registry`` with the other keys as arguments.

    ``registry`` is a fastrun registry, or any object with mmcv's ``get`` and ``name`` (an
    mmcv 1.x ``Registry``, a child registry inheriting this function as its ``build_func``).
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'cfg must be a dict, got {type(cfg).__name__}')
    if 'type' not in cfg and (default_args is None or 'type' not in default_args):
        raise KeyError(f'`cfg` or `default_args` must contain the key "type", but got {cfg}\n{default_args}')
    if not (callable(getattr(registry, 'get', None)) and hasattr(registry, 'name')):
        raise TypeError(f'registry must be a Registry, got {type(registry).__name__}')
    args = dict(cfg)
    if default_args is not None:
        for k, v in default_args.items():
            args.setdefault(k, v)
    obj_type = args.pop('type')
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            explain = getattr(registry, 'explain_missing', None)
            raise KeyError(explain(obj_type) if explain is not None
                           else f'{obj_type!r} is not in the {registry.name} registry')
    elif inspect.isclass(obj_type) or inspect.isfunction(obj_type):
        obj_cls = obj_type
    else:
        raise TypeError(f'type must be a str or a class, got {type(obj_type).__name__}')
    try:
        return obj_cls(**args)
    except Exception as e:
        # Name the class at fault, keeping the exception type callers catch.
        if str(e).startswith(f'{obj_cls.__name__}:'):  # the message names the class already
            try:
                e.built_class = obj_cls
            except AttributeError:
                pass
            raise
        try:
            err = type(e)(f'{obj_cls.__name__}: {e}')
        except Exception:
            raise e
        err.built_class = obj_cls  # the command line reports bad arguments of known classes
        raise err from e


HOOKS = Registry('hook', locations=['fastrun.hooks'])
MODELS = Registry('model', locations=['fastrun.models'])
DATASETS = Registry('dataset', locations=['fastrun.datasets'])
#: Batch augments of ``ImageClassifier``'s ``train_cfg.augments`` (mmcls's AUGMENT registry).
AUGMENTS = Registry('augment', locations=['fastrun.models'])
OPTIMIZERS = Registry('optimizer')  # torch.optim's classes, registered below; then fastrun's
RUNNERS = Registry('runner', locations=['fastrun.runner'])
#: What builds a runner from ``runner=dict(...)``: ``constructor='DefaultRunnerConstructor'``.
RUNNER_BUILDERS = Registry('runner builder', locations=['fastrun.runner'])
#: Model wrappers whose ``.module`` is the model (mmcv.parallel's MODULE_WRAPPERS): checkpoints,
#: hooks and the runner look through every class registered here (torch's two, below).
MODULE_WRAPPERS = Registry('module wrapper')
OPTIMIZER_BUILDERS = Registry('optimizer builder', locations=['fastrun.builder'])
# The data pipeline's transforms (mmcls's PIPELINES) and the loaders' samplers.
PIPELINES = Registry('pipeline', locations=['fastrun.datasets'])
SAMPLERS = Registry('sampler', locations=['fastrun.datasets'])
# The layers models are built of (mmcv.cnn's registries): norm, activation, conv, padding.
NORM_LAYERS = Registry('norm layer', locations=['fastrun.models'])
ACTIVATION_LAYERS = Registry('activation layer', locations=['fastrun.models'])
CONV_LAYERS = Registry('conv layer', locations=['fastrun.models'])
PADDING_LAYERS = Registry('padding layer', locations=['fastrun.models'])
DROPOUT_LAYERS = Registry('dropout layer', locations=['fastrun.models'])



def _register_torch_optimizers():
    # Every torch.optim class, the base ``Optimizer`` included, as mmcv registers them.
    names = []
    for name in dir(torch.optim):
        cls = getattr(torch.optim, name)
        if not name.startswith('__') and inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer):
            OPTIMIZERS.register_module(module=cls)
            names.append(name)
    return names


#: The names of the torch.optim classes registered in OPTIMIZERS.
TORCH_OPTIMIZERS = _register_torch_optimizers()
# fastrun's own optimizers (mmcls's Lamb), imported the first time OPTIMIZERS is read.
OPTIMIZERS._locations = ('fastrun.optimizer.lamb',)
MODULE_WRAPPERS.register_module(module=torch.nn.DataParallel)
MODULE_WRAPPERS.register_module(module=torch.nn.parallel.DistributedDataParallel)
