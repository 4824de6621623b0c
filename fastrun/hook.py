"""The hook base class and the stage vocabulary every other part derives from."""
import sys

#: The stages the runner calls, in the order of one train epoch followed by one val epoch.
STAGES = ('before_run', 'before_train_epoch', 'before_train_iter', 'after_train_iter',
          'after_train_epoch', 'before_val_epoch', 'before_val_iter', 'after_val_iter',
          'after_val_epoch', 'after_run')

#: Phase-specific stage -> the generic method its default calls ('before_train_iter' -> 'before_iter').
GENERIC_OF = {s: s.replace('_train', '').replace('_val', '') for s in STAGES
              if '_train' in s or '_val' in s}

#: Every name ``call_hook`` has a precomputed table for: the stages, then the generic methods
#: (the iter-based runner calls ``before_epoch`` / ``after_epoch`` directly, as mmcv does).
DISPATCH_NAMES = STAGES + tuple(dict.fromkeys(GENERIC_OF.values()))


class Hook:
    """Base class of all hooks; override the stages you need.

    A phase-specific stage (``before_train_iter``) calls the generic one (``before_iter``) by
    default, exactly as in mmcv 1.x, so overriding ``before_iter`` runs before train and val iters.
    """

    def before_run(self, runner):
        pass

    def after_run(self, runner):
        pass

    def before_epoch(self, runner):
        pass

    def after_epoch(self, runner):
        pass

    def before_iter(self, runner):
        pass

    def after_iter(self, runner):
        pass

    def before_train_epoch(self, runner):
        self.before_epoch(runner)

    def before_val_epoch(self, runner):
        self.before_epoch(runner)

    def after_train_epoch(self, runner):
        self.after_epoch(runner)

    def after_val_epoch(self, runner):
        self.after_epoch(runner)

    def before_train_iter(self, runner):
        self.before_iter(runner)

    def before_val_iter(self, runner):
        self.before_iter(runner)

    def after_train_iter(self, runner):
        self.after_iter(runner)

    def after_val_iter(self, runner):
        self.after_iter(runner)

    def every_n_epochs(self, runner, n):
        return (runner.epoch + 1) % n == 0 if n > 0 else False

    def every_n_inner_iters(self, runner, n):
        return (runner.inner_iter + 1) % n == 0 if n > 0 else False

    def every_n_iters(self, runner, n):
        return (runner.iter + 1) % n == 0 if n > 0 else False

    def end_of_epoch(self, runner):
        return runner.inner_iter + 1 == len(runner.data_loader)

    def is_last_epoch(self, runner):
        return runner.epoch + 1 == runner._max_epochs

    def is_last_iter(self, runner):
        return runner.iter + 1 == runner._max_iters

    def get_triggered_stages(self):
        """The stages (of ``STAGES``) at which this hook does something, in stage order."""
        return [s for s in STAGES if stage_method(self, s) is not None]


def _mmcv_hook_class():
    # mmcv's Hook, if (and only if) mmcv's runner is imported already: never imported here.
    module = sys.modules.get('mmcv.runner.hooks.hook')
    return getattr(module, 'Hook', None) if module is not None else None


def base_hook_class(hook):
    """The hook base ``hook`` derives from: fastrun's :class:`Hook`, or mmcv 1.x's ``Hook``
    (a hook written against mmcv runs on fastrun's runner); None for anything else."""
    if isinstance(hook, Hook):
        return Hook
    mmcv_hook = _mmcv_hook_class()
    if mmcv_hook is not None and isinstance(hook, mmcv_hook):
        return mmcv_hook
    return None


def is_hook(obj):
    """Whether ``obj`` is a fastrun hook or an mmcv 1.x hook (both are registered and run)."""
    return base_hook_class(obj) is not None


def _overrides(hook, name):
    """Whether ``hook`` does its own thing at ``name``: its class overrides it, or the instance.

    An instance attribute counts (ClosureHook stores its function on the instance). It is found
    by comparing what ``getattr`` returns with the class attribute, never through the instance's
    ``__dict__``: on CPython 3.11+ reading ``__dict__`` (``vars()``, ``copy.copy`` too) turns
    the object's inline attribute values into a real dict, and every later ``self.x`` of that
    hook takes a slower path (``self.n += 1`` costs 40-75 % more per call).
    """
    cls_attr = getattr(type(hook), name, None)
    attr = getattr(hook, name, None)
    if getattr(attr, '__func__', None) is cls_attr and getattr(attr, '__self__', None) is hook:
        # The class's method, bound to this hook: does it differ from its base's default?
        base = Hook if isinstance(hook, Hook) else (base_hook_class(hook) or Hook)
        return cls_attr is not getattr(base, name, None)
    return attr is not None  # set on the instance, or a class attribute that is no function


def stage_method(hook, name):
    """The callable that runs ``hook`` at stage ``name``, or None if the hook does nothing there.

    The mmcv default chaining is resolved here: a hook that overrides only ``before_epoch`` gets
    its bound ``before_epoch`` for ``before_train_epoch``, skipping the forwarding call.
    """
    if _overrides(hook, name):
        return getattr(hook, name)
    generic = GENERIC_OF.get(name)
    if generic is not None and _overrides(hook, generic):
        return getattr(hook, generic)
    return None
