"""``BaseModule`` (mmcv 1.x ``init_cfg`` semantics), weight initialisers and state-dict loading."""
import copy
import logging
import math
import os
import os.path as osp
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn

from .. import storage
from ..checkpoint import is_local_scheme, load_state_dict, read_any

__all__ = ['BaseModule', 'Sequential', 'ModuleList', 'ModuleDict', 'initialize', 'load_state_dict', 'load_pretrained', 'INIT_TYPES']

_log = logging.getLogger('fastrun')

#: ``init_cfg`` types :func:`initialize` understands.
INIT_TYPES = ('Normal', 'Xavier', 'Kaiming', 'Constant', 'Uniform', 'TruncNormal', 'Caffe2Xavier',
              'Pretrained')
_SHOW = 10  # keys shown per category in a mismatch report


# ------------------------------------------------------------------ state dict loading
def _head(items, n=_SHOW):
    items = list(items)
    more = f', ... ({len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


def _strip_prefix(state_dict, prefix, keep_others):
    """Keys with ``prefix`` removed; other keys kept or dropped. ``_metadata`` is renamed alike."""
    def rename(k):
        if k.startswith(prefix):
            return k[len(prefix):]
        return k if keep_others else None

    out = OrderedDict()
    for k, v in state_dict.items():
        new = rename(k)
        if new is not None:
            out[new] = v
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        # Metadata keys are module paths without the trailing dot ('' is the root module).
        out._metadata = OrderedDict()
        for k, v in metadata.items():
            new = '' if k + '.' == prefix else rename(k)
            if new is not None:
                out._metadata[new] = v
    return out


def load_pretrained(module, checkpoint, prefix=None, map_location='cpu', logger=None):
    """Load the weights of the torch.save file ``checkpoint`` into ``module`` (non-strict).

    The file holds a state dict or a dict with a ``state_dict`` key (mmcv checkpoints). Without
    ``prefix`` every key is used, a leading ``module.`` (DataParallel) stripped; with one
    (``'backbone.'``) only keys under it are used, the prefix stripped. Returns the report of
    :func:`load_state_dict`. Reads with ``weights_only=True``: only tensors and plain types.
    """
    path = os.fspath(checkpoint)
    # A local path or an fsspec URL (s3://...); model-zoo names and https:// have their loaders.
    if is_local_scheme(path) and not storage.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f"checkpoint file {storage.redact(path)!r} not found (init_cfg key "
                                f"'checkpoint' of {type(module).__name__})")
    ckpt = read_any(path, map_location=map_location)
    state_dict = ckpt['state_dict'] if isinstance(ckpt, dict) and 'state_dict' in ckpt else ckpt
    if not isinstance(state_dict, dict):
        raise TypeError(f'{path}: expected a state dict or a dict with a "state_dict" key, '
                        f'got {type(state_dict).__name__}')
    # mmcv strips "module." per key: checkpoints of wrapped models name every key that way.
    state_dict = _strip_prefix(state_dict, 'module.', keep_others=True)
    if prefix:
        if not prefix.endswith('.'):
            prefix += '.'
        selected = _strip_prefix(state_dict, prefix, keep_others=False)
        if not selected:
            raise ValueError(f'{path}: no key starts with prefix {prefix!r} '
                             f'(init_cfg key "prefix"); keys look like {_head(state_dict, 3)}')
        state_dict = selected
    (logger or _log).info('load %sfrom %s into %s', f'{prefix} ' if prefix else '', storage.redact(path),
                          type(module).__name__)
    return load_state_dict(module, state_dict, strict=False, logger=logger)


# ------------------------------------------------------------------ initialisers
class _Init:
    """One ``init_cfg`` entry applied to the layers it names (class or direct base-class name)."""

    def __init__(self, *, bias=0, bias_prob=None, layer=None):
        if not isinstance(bias, (int, float)):
            raise TypeError(f'bias must be a number, got {type(bias).__name__}')
        if bias_prob is not None:
            if not 0 < bias_prob < 1:
                raise ValueError(f'bias_prob must be in (0, 1), got {bias_prob}')
            # The bias making sigmoid(bias) == bias_prob (mmcv's bias_init_with_prob).
            bias = float(-math.log((1 - bias_prob) / bias_prob))
        if layer is None:
            layer = []
        elif isinstance(layer, str):
            layer = [layer]
        elif not (isinstance(layer, (list, tuple)) and all(isinstance(x, str) for x in layer)):
            raise TypeError(f'layer must be a str or a list of str, got {layer!r}')
        self.bias = bias
        self.layer = set(layer)

    def _matches(self, m):
        names = {type(m).__name__} | {b.__name__ for b in type(m).__bases__}
        return bool(names & self.layer)

    def init_weight(self, weight):
        raise NotImplementedError

    def __call__(self, module, wholemodule=False):
        """Initialise every matching submodule; returns how many were initialised."""
        count = 0

        def visit(m):
            nonlocal count
            if not (wholemodule or self._matches(m)):
                return
            weight = getattr(m, 'weight', None)
            if isinstance(weight, torch.Tensor):
                self.init_weight(weight)
                count += 1
            bias = getattr(m, 'bias', None)
            if isinstance(bias, torch.Tensor):
                nn.init.constant_(bias, self.bias)

        # Post-order, as mmcv's module.apply, so random draws happen in the same order.
        module.apply(visit)
        return count


class _Normal(_Init):
    def __init__(self, mean=0.0, std=1.0, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = mean, std

    def init_weight(self, weight):
        nn.init.normal_(weight, self.mean, self.std)


class _Uniform(_Init):
    def __init__(self, a=0.0, b=1.0, **kwargs):
        super().__init__(**kwargs)
        self.a, self.b = a, b

    def init_weight(self, weight):
        nn.init.uniform_(weight, self.a, self.b)


class _Constant(_Init):
    def __init__(self, val, **kwargs):
        super().__init__(**kwargs)
        self.val = val

    def init_weight(self, weight):
        nn.init.constant_(weight, self.val)


def _check_distribution(distribution):
    if distribution not in ('normal', 'uniform'):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    return distribution


class _Xavier(_Init):
    def __init__(self, gain=1.0, distribution='normal', **kwargs):
        super().__init__(**kwargs)
        self.gain, self.distribution = gain, _check_distribution(distribution)

    def init_weight(self, weight):
        if self.distribution == 'uniform':
            nn.init.xavier_uniform_(weight, gain=self.gain)
        else:
            nn.init.xavier_normal_(weight, gain=self.gain)


class _Kaiming(_Init):
    def __init__(self, a=0, mode='fan_out', nonlinearity='relu', distribution='normal', **kwargs):
        super().__init__(**kwargs)
        self.a, self.mode, self.nonlinearity = a, mode, nonlinearity
        self.distribution = _check_distribution(distribution)

    def init_weight(self, weight):
        fn = nn.init.kaiming_uniform_ if self.distribution == 'uniform' else nn.init.kaiming_normal_
        fn(weight, a=self.a, mode=self.mode, nonlinearity=self.nonlinearity)


class _TruncNormal(_Init):
    # a and b are absolute bounds (torch's and mmcv's), not multiples of std.
    def __init__(self, mean=0.0, std=1.0, a=-2.0, b=2.0, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std, self.a, self.b = mean, std, a, b

    def init_weight(self, weight):
        nn.init.trunc_normal_(weight, mean=self.mean, std=self.std, a=self.a, b=self.b)


class _Caffe2Xavier(_Kaiming):
    # Caffe2's XavierFill: kaiming uniform over fan_in with a=1.
    def __init__(self, **kwargs):
        super().__init__(a=1, mode='fan_in', nonlinearity='leaky_relu', distribution='uniform',
                         **kwargs)


_INITS = {'Normal': _Normal, 'Uniform': _Uniform, 'Constant': _Constant, 'Xavier': _Xavier,
          'Kaiming': _Kaiming, 'TruncNormal': _TruncNormal, 'Caffe2Xavier': _Caffe2Xavier}


def _as_cfg_list(init_cfg):
    if init_cfg is None:
        return []
    cfgs = [init_cfg] if isinstance(init_cfg, dict) else init_cfg
    if not isinstance(cfgs, (list, tuple)) or not all(isinstance(c, dict) for c in cfgs):
        raise TypeError(f'init_cfg must be a dict or a list of dicts, got {init_cfg!r}')
    for c in cfgs:
        if c.get('type') not in INIT_TYPES:
            raise KeyError(f'init_cfg type {c.get("type")!r} is not supported; '
                           f'allowed types are {list(INIT_TYPES)}')
    return list(cfgs)


def _apply_one(module, cfg, wholemodule=False, has_override=False):
    args = dict(cfg)
    kind = args.pop('type')
    if kind == 'Pretrained':
        unknown = set(args) - {'checkpoint', 'prefix', 'map_location'}
        if unknown or 'checkpoint' not in args:
            raise TypeError(f"Pretrained init_cfg takes checkpoint= (required), prefix=, "
                            f"map_location=; got {cfg}")
        load_pretrained(module, args['checkpoint'], prefix=args.get('prefix'),
                        map_location=args.get('map_location', 'cpu'))
        return
    if kind not in _INITS:
        raise KeyError(f'init_cfg type {kind!r} is not supported; allowed types are '
                       f'{list(INIT_TYPES)}')
    try:
        init = _INITS[kind](**args)
    except TypeError as e:
        raise TypeError(f'init_cfg {cfg}: {e}') from e
    if init(module, wholemodule) == 0 and (init.layer or wholemodule):
        _log.warning('init_cfg %s matched no layer with a weight in %s', cfg,
                     type(module).__name__)
    elif not (init.layer or wholemodule or has_override):
        _log.warning('init_cfg %s names no layer, so it initialises nothing (mmcv semantics); '
                     'add layer=... or override=...', cfg)


def initialize(module, init_cfg):
    """Apply ``init_cfg`` (a dict or list of dicts, mmcv style) to ``module``.

    Types: ``Normal(mean, std)``, ``Uniform(a, b)``, ``Constant(val)``, ``Xavier(gain,
    distribution)``, ``Kaiming(a, mode, nonlinearity, distribution)``, ``TruncNormal(mean, std, a,
    b)``, ``Caffe2Xavier``, each with ``bias``
    (constant for biases, default 0), ``bias_prob`` and ``layer`` (class names, or names of a
    direct base class such as ``'_BatchNorm'``; as in mmcv, an entry without ``layer`` touches
    nothing but its ``override``), and ``Pretrained(checkpoint, prefix=None, map_location)``.
    ``override=dict(name='fc', ...)`` (or a list) initialises the child ``name`` wholly; one
    holding only ``name`` reuses the entry's arguments.
    """
    for cfg in _as_cfg_list(init_cfg):
        cfg = copy.deepcopy(cfg)
        override = cfg.pop('override', None)
        _apply_one(module, cfg, has_override=override is not None)
        if override is None:
            continue
        cfg.pop('layer', None)
        for ov in ([override] if isinstance(override, dict) else override):
            ov = dict(ov)
            name = ov.pop('name', None)
            if name is None:
                raise ValueError(f'override must contain the key "name", got {ov}')
            if not ov:
                ov = dict(cfg)
            elif 'type' not in ov:
                raise ValueError(f'override needs a "type" key besides "name", got {ov}')
            child = getattr(module, name, None)
            if not isinstance(child, nn.Module):
                raise RuntimeError(f'{type(module).__name__} has no submodule {name!r}, '
                                   f'named by init_cfg override {ov}')
            _apply_one(child, ov, wholemodule=True)


def _children_to_init(module):
    """The nearest descendants that have ``init_weights``, looking through plain containers."""
    for child in module.children():
        if callable(getattr(child, 'init_weights', None)):
            yield child
        else:
            yield from _children_to_init(child)


class BaseModule(nn.Module):
    """``nn.Module`` with an mmcv 1.x ``init_cfg``, applied by :meth:`init_weights`."""

    def __init__(self, init_cfg=None):
        super().__init__()
        self._is_init = False
        self.init_cfg = copy.deepcopy(init_cfg)
        _as_cfg_list(self.init_cfg)  # a bad type fails at build time, not at init_weights

    @property
    def is_init(self):
        """Whether :meth:`init_weights` already ran."""
        return self._is_init

    def init_weights(self):
        """Initialise this module, then its children (mmcv 1.x ``BaseModule`` order).

        Own ``init_cfg`` first, then each child's ``init_weights`` (a child found through plain
        containers such as ``nn.Sequential`` too), so a child's ``Pretrained`` overrides a parent's
        random init. A lone ``Pretrained`` dict skips the children entirely, as in mmcv, so they
        keep the loaded weights. In a list, ``Pretrained`` entries run after the children (mmcv
        would let the children overwrite them). A second call warns and does nothing.
        """
        if self._is_init:
            warnings.warn(f'init_weights of {type(self).__name__} has been called more than once')
            return
        cfgs = _as_cfg_list(self.init_cfg)
        if cfgs:
            _log.debug('initialize %s with init_cfg %s', type(self).__name__, self.init_cfg)
        if isinstance(self.init_cfg, dict) and self.init_cfg['type'] == 'Pretrained':
            initialize(self, self.init_cfg)
            self._is_init = True
            return
        initialize(self, [c for c in cfgs if c['type'] != 'Pretrained'])
        for child in _children_to_init(self):
            child.init_weights()
        initialize(self, [c for c in cfgs if c['type'] == 'Pretrained'])
        self._is_init = True

    def __repr__(self):
        s = super().__repr__()
        return s if not self.init_cfg else f'{s}\ninit_cfg={self.init_cfg}'


class Sequential(BaseModule, nn.Sequential):
    """``nn.Sequential`` with ``init_cfg`` (mmcv's)."""

    def __init__(self, *args, init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        nn.Sequential.__init__(self, *args)


class ModuleList(BaseModule, nn.ModuleList):
    """``nn.ModuleList`` with ``init_cfg`` (mmcv's)."""

    def __init__(self, modules=None, init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        nn.ModuleList.__init__(self, modules)


class ModuleDict(BaseModule, nn.ModuleDict):
    """``nn.ModuleDict`` with ``init_cfg`` (mmcv's)."""

    def __init__(self, modules=None, init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        nn.ModuleDict.__init__(self, modules)
