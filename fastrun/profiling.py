"""Annotated dispatch tables, swapped in only when asked: NVTX ranges and per-hook times.

When neither is on nothing here runs: the runner's plain tables hold the hooks' bound methods.
With NVTX, each table entry becomes a closure that pushes a range named ``<stage>/<HookClass>``
(event attributes made once per hook, not per call), and each stage is bracketed by a
``<stage>`` range; the step's data fetch and forward get ranges too. With hook times
(:class:`HookTimer`), each entry becomes a closure that adds its call's wall time to a total.
"""
import functools
import itertools
import os
import time

_DOMAIN = 'fastrun'


def nvtx_requested(cfg=None):
    """True when ``FASTRUN_NVTX=1`` or the config has ``profiling=dict(nvtx=True)``."""
    if os.environ.get('FASTRUN_NVTX', '') not in ('', '0'):
        return True
    return bool(((cfg or {}).get('profiling') or {}).get('nvtx', False))


def _domain():
    try:
        import nvtx
    except ImportError as e:
        raise ImportError('NVTX ranges need the nvtx package: pip install fastrun[nvtx]') from e
    return nvtx.get_domain(_DOMAIN)


def _owner_name(fn):
    owner = getattr(fn, '__self__', None)
    return type(owner).__name__ if owner is not None else getattr(fn, '__qualname__', 'fn')


def hook_times_requested(cfg=None):
    """True when the config has ``profiling=dict(hook_times=True)``."""
    return bool(((cfg or {}).get('profiling') or {}).get('hook_times', False))


class HookTotal:
    """What :class:`HookTimer` adds up for one hook at one stage."""

    __slots__ = ('stage', 'name', 'calls', 'seconds', 'owner', 'place')

    def __init__(self, stage, name, owner):
        self.stage = stage
        #: The hook's class name (a plain function's qualified name).
        self.name = name
        self.calls = 0
        self.seconds = 0.0
        #: The hook (or function) itself: held, so its id stays unique while it is counted.
        self.owner = owner
        #: Orders the rows as the newest tables call them.
        self.place = 0


class HookTimer:
    """An annotator (``runner.set_annotation(timer, 'hook_times')``): each hook's time per stage.

    Each table entry becomes a closure that adds the wall time of its call (``perf_counter``)
    and one call to the :class:`HookTotal` of its ``(stage, hook)``; tables rebuilt later (a
    hook registered, a profiler switched on) keep adding to the same totals. The runner's plain
    tables, used when no timer is set, are not touched: off costs nothing.
    """

    def __init__(self):
        #: ``(stage, id of the hook)`` -> its :class:`HookTotal`.
        self.totals = {}
        self._places = itertools.count()

    def __call__(self, stage, fn):
        """The table entry for ``fn`` at ``stage``: ``fn``, timed."""
        inner = fn
        while getattr(inner, '__self__', None) is None and getattr(inner, '__wrapped__', None):
            inner = inner.__wrapped__  # through other annotators' wrappers, to the hook
        owner = getattr(inner, '__self__', None)
        name = type(owner).__name__ if owner is not None else getattr(inner, '__qualname__', 'fn')
        owner = inner if owner is None else owner
        total = self.totals.get((stage, id(owner)))
        if total is None:
            total = self.totals[(stage, id(owner))] = HookTotal(stage, name, owner)
        # Tables are built stage by stage, entry by entry: the newest build gives the order
        # (the run state's checkpoint writer joins a table at before_run, amid the hooks).
        total.place = next(self._places)
        clock = time.perf_counter

        def timed(runner):
            start = clock()
            fn(runner)
            total.seconds += clock() - start
            total.calls += 1
        timed.__wrapped__ = fn  # errors raised inside still name the hook
        return timed

    def rows(self):
        """``(stage, hook name, calls, seconds)`` of every hook called at least once, in
        dispatch order: stages in run order, entries as their table calls them."""
        from .hook import DISPATCH_NAMES  # here: the instruction-count gate loads this file alone
        order = {name: i for i, name in enumerate(DISPATCH_NAMES)}
        totals = sorted((t for t in self.totals.values() if t.calls),
                        key=lambda t: (order.get(t.stage, len(order)), t.place))
        return [(t.stage, t.name, t.calls, t.seconds) for t in totals]


class NvtxAnnotator:
    """Builds annotated table entries and step wrappers on one NVTX domain."""

    def __init__(self):
        self.domain = _domain()

    def range(self, name):
        """A ``(push, pop)`` pair of zero-argument callables for a range called ``name``."""
        attrs = self.domain.get_event_attributes(message=name)
        push, pop = self.domain.push_range, self.domain.pop_range
        return (lambda: push(attrs)), pop

    def __call__(self, stage, fn):
        """The table entry for ``fn`` at ``stage``: ``fn`` inside a ``<stage>/<HookClass>`` range."""
        attrs = self.domain.get_event_attributes(message=f'{stage}/{_owner_name(fn)}')
        push, pop = self.domain.push_range, self.domain.pop_range

        @functools.wraps(fn)
        def annotated(runner):
            push(attrs)
            try:
                fn(runner)
            finally:
                pop()
        annotated.__wrapped__ = fn
        return annotated

    def bracket(self, stage, table):
        """``table`` with a ``<stage>`` range around all of it (empty tables stay empty)."""
        if not table:
            return table
        push, pop = self.range(stage)
        return (lambda runner: push(),) + tuple(table) + (lambda runner: pop(),)

    def wrap_step(self, step, name='forward'):
        push, pop = self.range(name)

        def annotated(batch):
            push()
            try:
                step(batch)
            finally:
                pop()
        return annotated

    def wrap_loader(self, loader, name='data'):
        return _RangedLoader(loader, self.range(name))


class _RangedLoader:
    """Iterates ``loader`` with each batch fetch inside a ``data`` range."""

    def __init__(self, loader, push_pop):
        self.loader = loader
        self.push, self.pop = push_pop

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        if name == 'loader':
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        it = iter(self.loader)
        push, pop = self.push, self.pop
        while True:
            push()
            try:
                batch = next(it)
            except StopIteration:
                return
            finally:
                pop()
            yield batch

    def __next__(self):  # endless loaders of iter-based runs
        self.push()
        try:
            return next(self.loader)
        finally:
            self.pop()
