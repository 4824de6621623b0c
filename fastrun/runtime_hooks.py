"""Hooks from mmcv's runtime configs: ``register_training_hooks`` and the ``register_*_hook`` family.

:class:`RuntimeHooksMixin` gives the Runner mmcv 1.x's way of registering hooks from config
dicts (``lr_config``, ``optimizer_config``, ``log_config``, ``custom_hooks``...), each built
from the ``HOOKS`` registry and registered at the spec's priority through the runner's
``register_hook``, and the report of the resulting hook order. The priorities and the
insertion rule are :mod:`fastrun.hook_order`'s; the dispatch stays in the runner.
"""
from .errors import ArgumentKeyError
from .hook import STAGES, stage_method
from .hook_order import priority_of
from .priority import Priority
from .registry import HOOKS, build_from_cfg


def policy_hook_type(policy, suffix):
    """mmcv's rule from a schedule's ``policy`` to its hook: ``'step'`` -> ``'StepLrUpdaterHook'``;
    names with capitals (``'CosineAnnealing'``) are kept; None for a policy that is not a str."""
    if not isinstance(policy, str):
        return None
    return (policy.title() if policy == policy.lower() else policy) + suffix


class HookList(list):
    """The runner's hook list; any change rebuilds the dispatch tables (never per call)."""

    def __init__(self, on_change):
        super().__init__()
        self._on_change = on_change

    def _changed(name):
        def method(self, *args, **kwargs):
            out = getattr(list, name)(self, *args, **kwargs)
            self._on_change()
            return out
        method.__name__ = name
        return method

    for _name in ('append', 'extend', 'insert', 'pop', 'remove', 'clear', 'sort', 'reverse',
                  '__setitem__', '__delitem__', '__iadd__'):
        locals()[_name] = _changed(_name)
    del _name, _changed


class RuntimeHooksMixin:
    """mmcv's config-driven hook registration, for a class with ``register_hook`` and ``hooks``.

    ``runtime_hooks_by_epoch``: False makes ``register_training_hooks`` default the lr,
    momentum, checkpoint and logger hooks to ``by_epoch=False`` (mmcv's iter-based rule).
    """

    runtime_hooks_by_epoch = True

    def _close_loggers(self):
        """Flush and close every hook that has ``flush_and_close`` (a failing run's loggers)."""
        for hook in self.hooks:
            close = getattr(hook, 'flush_and_close', None)
            if callable(close):
                try:
                    close(self)
                except Exception as e:  # the original error matters more
                    self.logger.error('%s.flush_and_close failed: %s', type(hook).__name__, e)

    def register_hook_from_cfg(self, hook_cfg):
        """Build a hook from ``dict(type=..., priority=..., **kwargs)`` and register it."""
        hook_cfg = dict(hook_cfg)
        priority = hook_cfg.pop('priority', priority_of('custom'))
        self.register_hook(build_from_cfg(hook_cfg, HOOKS), priority=priority)

    def get_hook_info(self):
        """The hooks of each stage, in call order with their priorities (printed before a run)."""
        infos = []
        for stage in STAGES:
            hooks = [h for h in self.hooks if stage_method(h, stage) is not None]
            if hooks:
                lines = []
                for h in hooks:
                    try:
                        pri = Priority(h.priority).name
                    except ValueError:
                        pri = h.priority
                    lines.append(f'({pri:<12}) {type(h).__name__:<35}')
                infos.append(f'{stage}:\n' + '\n'.join(lines) + '\n -------------------- ')
        return '\n'.join(infos)

    def _register(self, config, default_type, priority, default_args=None):
        if config is None:
            return
        if isinstance(config, dict):
            cfg = dict(config)
            cfg.setdefault('type', default_type)
            hook = build_from_cfg(cfg, HOOKS, default_args)
        else:
            hook = config
        self.register_hook(hook, priority=priority)

    @staticmethod
    def _policy_type(config, suffix):
        # 'step' -> 'StepLrUpdaterHook'; names with capitals ('CosineAnnealing') are kept.
        if not isinstance(config, dict):
            return config
        if 'policy' not in config:
            raise ArgumentKeyError(f'{suffix} config needs a "policy" key, got {config}')
        cfg = dict(config)
        cfg['type'] = policy_hook_type(cfg.pop('policy'), suffix)
        return cfg

    def register_lr_hook(self, lr_config):
        """``lr_config=dict(policy='step', ...)`` -> ``StepLrUpdaterHook`` at VERY_HIGH."""
        self._register(self._policy_type(lr_config, 'LrUpdaterHook'), None, priority_of('lr'))

    def register_momentum_hook(self, momentum_config):
        """``momentum_config=dict(policy=...)`` -> ``<Policy>MomentumUpdaterHook`` at HIGH."""
        self._register(self._policy_type(momentum_config, 'MomentumUpdaterHook'), None,
                       priority_of('momentum'))

    def register_optimizer_hook(self, optimizer_config):
        """``optimizer_config`` -> ``OptimizerHook`` (or its ``type``) at ABOVE_NORMAL.

        ``amp=dict(...)`` without a ``type`` (or with ``type='OptimizerHook'``) builds an
        ``AmpOptimizerHook``: the type is named here, where the hook is built.
        """
        if isinstance(optimizer_config, dict) and optimizer_config.get('amp') is not None \
                and optimizer_config.get('type', 'OptimizerHook') == 'OptimizerHook':
            optimizer_config = dict(optimizer_config, type='AmpOptimizerHook')
        self._register(optimizer_config, 'OptimizerHook', priority_of('optimizer'))

    def register_checkpoint_hook(self, checkpoint_config):
        """``checkpoint_config`` -> ``CheckpointHook`` at NORMAL."""
        self._register(checkpoint_config, 'CheckpointHook', priority_of('checkpoint'))

    def register_timer_hook(self, timer_config):
        """``timer_config`` -> ``IterTimerHook`` at LOW."""
        self._register(timer_config, 'IterTimerHook', priority_of('timer'))

    def register_profiler_hook(self, profiler_config):
        """``profiler_config`` -> ``ProfilerHook`` at NORMAL."""
        self._register(profiler_config, 'ProfilerHook', priority_of('profiler'))

    def register_logger_hooks(self, log_config):
        """Each of ``log_config['hooks']`` at VERY_LOW, with ``log_config['interval']``."""
        if log_config is None:
            return
        for info in log_config['hooks']:
            self._register(info, None, priority_of('logger'),
                           default_args=dict(interval=log_config['interval']))

    def register_custom_hooks(self, custom_config):
        """``custom_hooks``: hook configs (priority NORMAL unless given) or Hook objects."""
        if custom_config is None:
            return
        for item in custom_config if isinstance(custom_config, (list, tuple)) else [custom_config]:
            if isinstance(item, dict):
                self.register_hook_from_cfg(item)
            else:
                self.register_hook(item, priority=priority_of('custom'))

    def register_training_hooks(self, lr_config, optimizer_config=None, checkpoint_config=None,
                                log_config=None, momentum_config=None,
                                timer_config=dict(type='IterTimerHook'), custom_hooks_config=None):
        """Register the default runtime hooks at their priorities, then the custom hooks (the
        order of :data:`fastrun.hook_order.REGISTRATION_SEQUENCE`, which settles ties)."""
        if not self.runtime_hooks_by_epoch:
            lr_config, checkpoint_config, momentum_config = (
                _iterwise(lr_config), _iterwise(checkpoint_config), _iterwise(momentum_config))
            if log_config is not None:
                log_config = dict(log_config, hooks=[_iterwise(h) for h in log_config['hooks']])
        self.register_lr_hook(lr_config)
        self.register_momentum_hook(momentum_config)
        self.register_optimizer_hook(optimizer_config)
        self.register_checkpoint_hook(checkpoint_config)
        self.register_timer_hook(timer_config)
        self.register_logger_hooks(log_config)
        self.register_custom_hooks(custom_hooks_config)


def _iterwise(cfg):
    # A config dict defaulting to by_epoch=False; hooks given as objects are kept.
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        cfg.setdefault('by_epoch', False)
    return cfg
