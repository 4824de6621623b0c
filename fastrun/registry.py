"""Every registry of fastrun, and building objects from ``dict(type=..., **kwargs)``."""
import difflib
import importlib
import inspect

import torch


class Registry:
    """A name -> class (or function) table, filled with ``@REGISTRY.register_module()``.

    ``locations``: modules whose import registers the bundled entries (``'fastrun.hooks'``).
    They are imported the first time the registry is read or written, so the bundled entries
    are there whichever fastrun module was imported first, and ``import fastrun`` alone imports
    none of them (nor torch).
    """

    def __init__(self, name, locations=()):
        self._name = name
        self._module_dict = {}
        self._locations = tuple(locations)

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

    def get(self, key):
        """The class registered as ``key``, or None."""
        self._import_locations()
        return self._module_dict.get(key)

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
        """Register a class, as a decorator (``@R.register_module()``) or a call (``module=Cls``)."""
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

    def build(self, cfg, default_args=None):
        return build_from_cfg(cfg, self, default_args)

    def closest(self, key, n=3):
        """Registered names close to ``key``, for error messages."""
        self._import_locations()
        return difflib.get_close_matches(str(key), list(self._module_dict), n=n, cutoff=0.5)


def build_from_cfg(cfg, registry, default_args=None):
    """Build the object ``cfg['type']`` names in ``registry`` with the other keys as arguments."""
    if not isinstance(cfg, dict):
        raise TypeError(f'cfg must be a dict, got {type(cfg).__name__}')
    if 'type' not in cfg and (default_args is None or 'type' not in default_args):
        raise KeyError(f'`cfg` or `default_args` must contain the key "type", but got {cfg}\n{default_args}')
    if not isinstance(registry, Registry):
        raise TypeError(f'registry must be a Registry, got {type(registry).__name__}')
    args = dict(cfg)
    if default_args is not None:
        for k, v in default_args.items():
            args.setdefault(k, v)
    obj_type = args.pop('type')
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            close = registry.closest(obj_type)
            hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
            raise KeyError(f'{obj_type!r} is not in the {registry.name} registry{hint}')
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
OPTIMIZERS = Registry('optimizer')  # torch.optim's classes, registered below
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
MODULE_WRAPPERS.register_module(module=torch.nn.DataParallel)
MODULE_WRAPPERS.register_module(module=torch.nn.parallel.DistributedDataParallel)
