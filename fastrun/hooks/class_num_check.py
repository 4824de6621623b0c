"""mmcls 0.x's ``ClassNumCheckHook``: the head's ``num_classes`` against the data set's ``CLASSES``.

Before each train and val epoch (each iteration with an iter-based runner, where the loader is
an ``IterLoader``), every module of the model with a ``num_classes`` attribute must have as many
classes as ``runner.data_loader.dataset.CLASSES`` (a sequence of str); a data set without
``CLASSES`` is warned about. A mismatch raises before any step is taken on wrong labels.
"""
from ..errors import ArgumentError, ArgumentTypeError
from ..hook import Hook
from ..registry import HOOKS

__all__ = ['ClassNumCheckHook']


def _dataset_of(loader):
    inner = getattr(loader, '_dataloader', None)  # an IterLoader (iter-based runners)
    return (inner if inner is not None else loader).dataset


@HOOKS.register_module()
class ClassNumCheckHook(Hook):
    """Check that ``num_classes`` of the model's heads matches the data set's ``CLASSES``."""

    def _check_head(self, runner, dataset):
        classes = getattr(dataset, 'CLASSES', None)
        if classes is None:
            runner.logger.warning(f'Please set `CLASSES` in the {type(dataset).__name__} and check '
                                  f'if it is consistent with the `num_classes` of head')
            return
        if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
            raise ArgumentTypeError(f'`CLASSES` in {type(dataset).__name__} should be a tuple of str.')
        for _, module in runner.model.named_modules():
            if hasattr(module, 'num_classes') and module.num_classes != len(classes):
                raise ArgumentError(
                    f'The `num_classes` ({module.num_classes}) in {type(module).__name__} of '
                    f'{type(runner.model).__name__} does not matches the length of `CLASSES` '
                    f'{len(classes)}) in {type(dataset).__name__}')

    _runner_type = None
    _iterwise = False

    def _per_iter(self, runner):
        # Iter-based runners (fastrun's or mmcv's: by class name) check per iteration; decided
        # once per runner class, so an epoch-based run's iterations cost one comparison.
        if type(runner) is not self._runner_type:
            self._runner_type = type(runner)
            self._iterwise = not any(c.__name__ == 'EpochBasedRunner' for c in type(runner).__mro__)
        return self._iterwise

    def before_train_epoch(self, runner):
        if not self._per_iter(runner):
            self._check_head(runner, _dataset_of(runner.data_loader))

    def before_val_epoch(self, runner):
        if not self._per_iter(runner):
            self._check_head(runner, _dataset_of(runner.data_loader))

    def before_train_iter(self, runner):
        if self._per_iter(runner):
            self._check_head(runner, _dataset_of(runner.data_loader))

    def before_val_iter(self, runner):
        if self._per_iter(runner):
            self._check_head(runner, _dataset_of(runner.data_loader))
