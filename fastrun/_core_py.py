"""Pure-Python twin of the compiled core (``csrc/_core.pyx``): identical behaviour, no build needed.

The core knows tables of callables and a runner-like object with ``_iter`` / ``_inner_iter``
counters; it imports nothing of fastrun.
"""


def _where(stage, fn):
    owner = getattr(fn, '__self__', None)
    if owner is None:
        owner = getattr(getattr(fn, '__wrapped__', None), '__self__', None)
    name = type(owner).__name__ if owner is not None else getattr(fn, '__qualname__', repr(fn))
    return f'{stage} of {name}'


def annotate_error(err, where):
    """Prefix ``err``'s message with where it was raised (once; the innermost place wins)."""
    if getattr(err, '_fastrun_where', None) is not None or not isinstance(err, Exception):
        return
    try:
        err._fastrun_where = where
    except AttributeError:  # exceptions with __slots__
        return
    if (type(err).__str__ is BaseException.__str__ and len(err.args) == 1
            and isinstance(err.args[0], str)):
        err.args = (f'{where}: {err.args[0]}',)
    else:
        err.add_note(f'raised in {where}')


class Dispatcher:
    """Per-stage tables of callables, and the loops that call them."""

    def __init__(self, names):
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.tables = [()] * len(self.names)

    def set_tables(self, tables):
        """Replace every table at once (a sequence of tuples, one per name)."""
        tables = [tuple(t) for t in tables]
        if len(tables) != len(self.names):
            raise ValueError(f'expected {len(self.names)} tables, got {len(tables)}')
        self.tables = tables

    def table(self, name):
        return self.tables[self.index[name]]

    def call(self, name, runner):
        """Call every callable of stage ``name`` with ``runner``; KeyError for an unknown name."""
        self.call_index(self.index[name], runner)

    def call_index(self, i, runner):
        fn = None
        try:
            for fn in self.tables[i]:
                fn(runner)
        except BaseException as e:
            annotate_error(e, _where(self.names[i], fn))
            raise

    def run_epoch(self, runner, loader, before, after, step, count_iter, start=0):
        """One pass over ``loader``: per batch, stage ``before``, ``step(batch)``, stage ``after``.

        Sets ``runner.data_batch`` and ``runner._inner_iter`` (counted from ``start``: a resumed
        epoch whose loader yields only its remaining batches); increments ``runner._iter`` after
        each batch when ``count_iter``; stops early once ``runner.stop_training`` is true.
        Returns the index after the last batch run (``start`` + the number of batches).
        """
        i = start
        stage = -1
        fn = None
        try:
            for batch in loader:
                runner.data_batch = batch
                runner._inner_iter = i
                stage = before
                for fn in self.tables[before]:
                    fn(runner)
                stage = -1
                step(batch)
                stage = after
                for fn in self.tables[after]:
                    fn(runner)
                stage = -1
                del runner.data_batch
                if count_iter:
                    runner._iter += 1
                i += 1
                if runner.stop_training:
                    break
        except BaseException as e:
            if stage >= 0:
                annotate_error(e, _where(self.names[stage], fn))
            raise
        return i

    def run_iters(self, runner, loader, n, before, after, step, train, max_iters):
        """Up to ``n`` iterations drawn with ``next(loader)`` (an endless loader with ``.epoch``).

        Train iterations stop at ``max_iters``, copy ``loader.epoch`` to ``runner._epoch`` and
        count ``runner._iter``; the model is put in ``train`` mode when a hook changed it. Every
        iteration counts
        ``runner._inner_iter`` (after the ``after`` stage, as mmcv's iter-based runner does).
        """
        stage = -1
        fn = None
        model = runner.model
        done = 0
        try:
            while done < n:
                if train:
                    if runner._iter >= max_iters:
                        break
                    runner._epoch = loader.epoch
                # A hook (an evaluation, say) may have switched the model's mode; mmcv's
                # iter-based runner resets it every iteration, this costs one flag read.
                if model.training is not train:
                    model.train(train)
                batch = next(loader)
                runner.data_batch = batch
                stage = before
                for fn in self.tables[before]:
                    fn(runner)
                stage = -1
                step(batch)
                stage = after
                for fn in self.tables[after]:
                    fn(runner)
                stage = -1
                del runner.data_batch
                runner._inner_iter += 1
                if train:
                    runner._iter += 1
                done += 1
                if runner.stop_training:
                    break
        except BaseException as e:
            if stage >= 0:
                annotate_error(e, _where(self.names[stage], fn))
            raise
        return done
