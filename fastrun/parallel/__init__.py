"""mmcv 1.x's ``mmcv.parallel``: the model wrappers ``MMDataParallel`` and
``MMDistributedDataParallel``, and the batches of DataContainers (``DataContainer``, ``collate``,
``scatter``, ``scatter_kwargs``) they scatter.

The runner calls ``model.train_step`` / ``model.val_step``; these wrappers provide both and run
the wrapped module's own. ``MMDistributedDataParallel`` lives in :mod:`fastrun.dist` (it is
what ``--launcher pytorch`` wraps models in); it is re-exported here under mmcv's module name.
"""
from itertools import chain

from torch.nn.parallel import DataParallel

from ..dist import MMDistributedDataParallel, is_module_wrapper
from ..errors import ArgumentError
from .collate import DataContainerCollate, collate
from .data_container import DataContainer, is_data_container
from .registry import MODULE_WRAPPERS
from .scatter_gather import scatter, scatter_kwargs

__all__ = ['MMDataParallel', 'MMDistributedDataParallel', 'is_module_wrapper', 'MODULE_WRAPPERS',
           'DataContainer', 'collate', 'scatter', 'scatter_kwargs', 'is_data_container',
           'DataContainerCollate']


class MMDataParallel(DataParallel):
    """``DataParallel`` with ``train_step`` / ``val_step``, for one GPU or the CPU (as mmcv's).

    Without CUDA (``device_ids`` empty) the step (and ``forward``) runs the module's own on the
    inputs scattered to the CPU (``scatter_kwargs(..., [-1])``: DataContainers unwrapped, the
    rest as it is). With ``device_ids=[i]`` the inputs are scattered to GPU ``i`` (tensors in
    tuples, lists, dicts and named tuples move, a DataContainer gives its chunk, moved unless
    ``cpu_only``; other objects are passed as they are) and the module, which must already be
    on that GPU, runs its step there. Several GPUs
    in one process are not supported: use ``MMDistributedDataParallel`` (one process per GPU).
    """

    def __init__(self, *args, dim=0, **kwargs):
        super().__init__(*args, dim=dim, **kwargs)
        self.dim = dim

    def scatter(self, inputs, kwargs, device_ids):
        """mmcv's :func:`~fastrun.parallel.scatter_kwargs` (DataContainers understood)."""
        return scatter_kwargs(inputs, kwargs, device_ids, dim=self.dim)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            inputs, kwargs = self.scatter(inputs, kwargs, [-1])
            return self.module(*inputs[0], **kwargs[0])
        return super().forward(*inputs, **kwargs)

    def train_step(self, *inputs, **kwargs):
        """The wrapped module's ``train_step`` on the inputs moved to this wrapper's GPU."""
        return self._step('train_step', inputs, kwargs)

    def val_step(self, *inputs, **kwargs):
        """The wrapped module's ``val_step`` on the inputs moved to this wrapper's GPU."""
        return self._step('val_step', inputs, kwargs)

    def _step(self, name, inputs, kwargs):
        step = getattr(self.module, name)
        if not self.device_ids:  # CPU: DataContainers unwrapped, the rest as it is
            inputs, kwargs = self.scatter(inputs, kwargs, [-1])
            return step(*inputs[0], **kwargs[0])
        if len(self.device_ids) != 1:
            raise ArgumentError(f'MMDataParallel trains on one GPU (device_ids={self.device_ids}); '
                                'for several GPUs run one process per GPU with '
                                'MMDistributedDataParallel (torchrun, --launcher pytorch)')
        for t in chain(self.module.parameters(), self.module.buffers()):
            if t.device != self.src_device_obj:
                raise RuntimeError(f'module must have its parameters and buffers on device '
                                   f'{self.src_device_obj} (device_ids[0]) but found one of them '
                                   f'on device: {t.device}')
        inputs, kwargs = self.scatter(inputs, kwargs, self.device_ids)
        return step(*inputs[0], **kwargs[0])
