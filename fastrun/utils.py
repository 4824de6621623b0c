"""mmcv 1.x's ``mmcv.runner.utils``: seeding, host and time strings, ``obj_from_dict``."""
import sys

from .builder import set_random_seed
from .errors import ArgumentKeyError, ArgumentTypeError
from .log import get_host_info, get_time_str

__all__ = ['get_host_info', 'get_time_str', 'obj_from_dict', 'set_random_seed']


def obj_from_dict(info, parent=None, default_args=None):
    """The object ``dict(type=..., **kwargs)`` describes, without a registry (mmcv's old way).

    ``type``: a class, or the name of an attribute of the module ``parent`` (``'SGD'`` with
    ``parent=torch.optim``), or without ``parent`` the name of an imported module. The other
    keys, then the ``default_args`` they lack, are its arguments.
    """
    if not isinstance(info, dict) or 'type' not in info:
        raise ArgumentKeyError(f'info must be a dict with a "type" key, got {info!r}')
    if not (default_args is None or isinstance(default_args, dict)):
        raise ArgumentTypeError(f'default_args must be a dict or None, got {type(default_args).__name__}')
    args = dict(info)
    obj_type = args.pop('type')
    if isinstance(obj_type, str):
        if parent is not None:
            if not hasattr(parent, obj_type):
                raise ArgumentKeyError(f'{obj_type!r} is not in {getattr(parent, "__name__", parent)}')
            obj_type = getattr(parent, obj_type)
        else:
            if obj_type not in sys.modules:
                raise ArgumentKeyError(f'{obj_type!r} is not an imported module (give parent=)')
            obj_type = sys.modules[obj_type]
    elif not isinstance(obj_type, type):
        raise TypeError(f'type must be a str or valid type, but got {type(obj_type)}')
    for name, value in (default_args or {}).items():
        args.setdefault(name, value)
    return obj_type(**args)
