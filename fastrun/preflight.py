"""Checks of a config's hooks before anything is built: each error names the file and the key."""
from .config import ConfigError
from .priority import get_priority
from .registry import HOOKS

__all__ = ['check_hooks']


def _filename(cfg):
    return getattr(cfg, 'filename', None) or '<config>'


def _check_type(cfg, key, type_name):
    if not isinstance(type_name, str):
        return  # a class given directly
    if type_name not in HOOKS:
        close = HOOKS.closest(type_name)
        hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
        raise ConfigError(f'unknown hook type {type_name!r}{hint}', _filename(cfg), key)


def _check_priority(cfg, key, priority):
    try:
        get_priority(priority)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e), _filename(cfg), key) from None


def _policy_type(policy, suffix):
    # The runner's rule: 'step' -> 'StepLrUpdaterHook'; names with capitals are kept.
    if not isinstance(policy, str):
        return None
    return (policy.title() if policy == policy.lower() else policy) + suffix


def check_hooks(cfg):
    """Raise ConfigError for an unknown hook type (with close names) or a bad priority.

    Looks at ``custom_hooks``, ``log_config.hooks``, ``optimizer_config``,
    ``checkpoint_config`` and the ``policy`` of ``lr_config`` / ``momentum_config``; the key
    in the message is dotted (``custom_hooks.1.type``).
    """
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, dict):
            _check_type(cfg, f'custom_hooks.{i}.type', hook.get('type'))
            if 'priority' in hook:
                _check_priority(cfg, f'custom_hooks.{i}.priority', hook['priority'])
    log_config = cfg.get('log_config')
    if isinstance(log_config, dict):
        for i, hook in enumerate(log_config.get('hooks') or []):
            if isinstance(hook, dict):
                _check_type(cfg, f'log_config.hooks.{i}.type', hook.get('type'))
    for key in ('optimizer_config', 'checkpoint_config'):
        value = cfg.get(key)
        if isinstance(value, dict) and 'type' in value:
            _check_type(cfg, f'{key}.type', value['type'])
    for key, suffix in (('lr_config', 'LrUpdaterHook'), ('momentum_config', 'MomentumUpdaterHook')):
        value = cfg.get(key)
        if isinstance(value, dict):
            if 'policy' not in value:
                raise ConfigError("needs a 'policy' (e.g. policy='step')", _filename(cfg), key)
            name = _policy_type(value['policy'], suffix)
            if name is not None and name not in HOOKS:
                policies = sorted(n[:-len(suffix)] for n in HOOKS.module_dict if n.endswith(suffix)
                                  and n != suffix)
                raise ConfigError(f"unknown policy {value['policy']!r} ({name} is not a hook); "
                                  f"known: {', '.join(policies)}", _filename(cfg), f'{key}.policy')
