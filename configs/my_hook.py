"""The spec's MyHook, written against fastrun (only the import differs from mmcv.runner)."""
from fastrun import HOOKS, Hook


@HOOKS.register_module()
class MyHook(Hook):
    """Counts what it sees at every stage; the counts are logged after the run."""

    def __init__(self, a, b):
        self.a = a
        self.b = b
        self.counts = {}

    def _count(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def before_run(self, runner):
        self._count('before_run')

    def after_run(self, runner):
        self._count('after_run')
        runner.logger.info('MyHook(a=%s, b=%s) saw %s', self.a, self.b, self.counts)

    def before_epoch(self, runner):
        self._count('before_epoch')

    def after_epoch(self, runner):
        self._count('after_epoch')

    def before_iter(self, runner):
        self._count('before_iter')

    def after_iter(self, runner):
        self._count('after_iter')
