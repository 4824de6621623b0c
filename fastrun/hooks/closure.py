"""ClosureHook: run a plain function at one stage."""
from ..errors import ArgumentError, ArgumentTypeError
from ..hook import DISPATCH_NAMES, Hook
from ..registry import HOOKS


@HOOKS.register_module()
class ClosureHook(Hook):
    """Calls ``fn(runner)`` at stage ``fn_name`` (``'after_train_iter'``, ``'before_epoch'``, ...).

    The function is stored on the instance, so the dispatch tables list this hook at that stage
    (and, for a generic name such as ``after_epoch``, at its train and val stages) only.
    """

    def __init__(self, fn_name, fn):
        if fn_name not in DISPATCH_NAMES:
            raise ArgumentError(f'ClosureHook: fn_name must be one of {", ".join(DISPATCH_NAMES)}; '
                                f'got {fn_name!r}')
        if not callable(fn):
            raise ArgumentTypeError(f'ClosureHook: fn must be callable, got {type(fn).__name__}')
        setattr(self, fn_name, fn)
