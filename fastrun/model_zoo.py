"""Model-zoo names: ``open-mmlab://NAME``, ``mmcls://NAME`` and ``torchvision://NAME`` to URLs.

fastrun ships no table of its own. A name is looked up, later sources winning, in:

1. the tables of an installed mmcv 1.x (``mmcv/model_zoo/*.json``), read as data files
   (mmcv is not imported);
2. for ``open-mmlab://``: ``open_mmlab.json`` in ``$MMCV_HOME`` (default
   ``$XDG_CACHE_HOME/mmcv``, i.e. ``~/.cache/mmcv``), mmcv's place for a user's own names;
3. the names given to :func:`register_model_urls` (for ``torchvision://``, also the weights
   an installed torchvision >= 0.14 lists, as ``resnet50.imagenet1k_v1`` and
   ``resnet50.default``).

The resolution is mmcv's: an ``open-mmlab://`` name listed as deprecated (``deprecated.json``)
is replaced by its new name with a DeprecationWarning; a value that is not an http(s) URL is
a file under ``$MMCV_HOME``; a ``torchvision://`` name is lower-cased and loses ``_weights``
(``ResNet50_Weights.IMAGENET1K_V1`` is ``resnet50.imagenet1k_v1``). An unknown name is a
KeyError naming the scheme, the name and the closest known names.
"""
import difflib
import importlib.util
import json
import os
import os.path as osp
import warnings

__all__ = ['SCHEMES', 'register_model_urls', 'model_urls', 'deprecated_names', 'resolve',
           'mmcv_home']

#: The model-zoo schemes and the mmcv table file of each.
SCHEMES = {'open-mmlab': 'open_mmlab.json', 'openmmlab': 'open_mmlab.json',
           'mmcls': 'mmcls.json', 'torchvision': 'torchvision_0.12.json'}
_REGISTERED = {'open_mmlab.json': {}, 'mmcls.json': {}, 'torchvision_0.12.json': {},
               'deprecated.json': {}}


def mmcv_home():
    """mmcv's cache folder: ``$MMCV_HOME``, else ``$XDG_CACHE_HOME/mmcv`` (``~/.cache/mmcv``)."""
    default = osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmcv')
    return osp.expanduser(os.getenv('MMCV_HOME', default))


def register_model_urls(scheme, urls, deprecated=None):
    """Add ``{name: url}`` to the table of ``scheme`` (``'open-mmlab'``, ``'mmcls'``,
    ``'torchvision'``); ``deprecated`` (``{old name: new name}``) for ``open-mmlab`` only."""
    if scheme not in SCHEMES:
        raise KeyError(f'unknown model-zoo scheme {scheme!r}: one of {", ".join(SCHEMES)}')
    _REGISTERED[SCHEMES[scheme]].update(urls)
    if deprecated:
        if SCHEMES[scheme] != 'open_mmlab.json':
            raise ValueError('deprecated names exist for open-mmlab:// only')
        _REGISTERED['deprecated.json'].update(deprecated)


def _mmcv_table(name):
    spec = importlib.util.find_spec('mmcv')  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = osp.join(folder, 'model_zoo', name)
        if osp.isfile(path):
            with open(path) as f:
                return json.load(f)
    return {}


def _json(path):
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        table = json.load(f)
    if not isinstance(table, dict):
        raise ValueError(f'{path}: a model-zoo table is a JSON object of name: url')
    return table


def _torchvision_weights():
    if importlib.util.find_spec('torchvision') is None:
        return {}
    try:
        import torchvision.models as tvm
        names = tvm.list_models(tvm)
    except Exception:  # not importable beside this torch, or older than 0.14
        return {}
    urls = {}
    for model in names:
        weights = tvm.get_model_weights(model)
        if not hasattr(weights, 'DEFAULT'):
            continue
        key = weights.__name__.replace('_Weights', '').lower()
        urls[f'{key}.default'] = weights.DEFAULT.url
        for w in weights:
            urls[f'{key}.{w.name.lower()}'] = w.url
    return urls


def model_urls(scheme):
    """The whole ``{name: url}`` table of ``scheme`` (see the module's text for its sources)."""
    if scheme not in SCHEMES:
        raise KeyError(f'unknown model-zoo scheme {scheme!r}: one of {", ".join(SCHEMES)}')
    table_name = SCHEMES[scheme]
    urls = dict(_mmcv_table(table_name))
    if table_name == 'open_mmlab.json':
        urls.update(_json(osp.join(mmcv_home(), 'open_mmlab.json')))
    if scheme == 'torchvision':
        urls.update(_torchvision_weights())
    urls.update(_REGISTERED[table_name])
    return urls


def deprecated_names():
    """``{old name: new name}`` of ``open-mmlab://`` names (mmcv's table, then registered)."""
    return dict(_mmcv_table('deprecated.json'), **_REGISTERED['deprecated.json'])


def resolve(url):
    """The download URL (or local file) that ``scheme://name`` stands for; KeyError if unknown."""
    scheme, sep, name = url.partition('://')
    if not sep:
        raise KeyError(f'{url}: not a model-zoo name (scheme://name)')
    if scheme == 'modelzoo':  # mmcv's old name for torchvision://
        warnings.warn('The URL scheme of "modelzoo://" is deprecated, please use '
                      '"torchvision://" instead', DeprecationWarning, stacklevel=3)
        scheme = 'torchvision'
    if scheme == 'torchvision':
        name = name.lower().replace('_weights', '')
    urls = model_urls(scheme)
    if SCHEMES[scheme] == 'open_mmlab.json':
        deprecated = deprecated_names()
        if name in deprecated:
            warnings.warn(f'{scheme}://{name} is deprecated in favor of '
                          f'{scheme}://{deprecated[name]}', DeprecationWarning, stacklevel=3)
            name = deprecated[name]
    if name not in urls:
        close = difflib.get_close_matches(name, list(urls), n=3, cutoff=0.6)
        hint = f'; did you mean {", ".join(close)}?' if close else ''
        where = ('no table is installed: fastrun.model_zoo.register_model_urls() adds names'
                 if not urls else f'{len(urls)} names known')
        raise KeyError(f'{url}: unknown {scheme}:// model name ({where}){hint}')
    target = urls[name]
    if not target.startswith(('http://', 'https://')):
        target = osp.join(mmcv_home(), target)
    return target
