"""Feeding the step: batches moved to the device, prefetched on a side CUDA stream."""
import torch


def to_device(data, device, non_blocking=False, channels_last=False):
    """``data`` (tensors in dicts/lists/tuples) with every tensor on ``device``.

    With ``channels_last``, 4-D floating-point tensors (image batches) also take that layout.
    """
    if torch.is_tensor(data):
        if channels_last and data.dim() == 4 and data.is_floating_point():
            return data.to(device, non_blocking=non_blocking, memory_format=torch.channels_last)
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, dict):
        return type(data)((k, to_device(v, device, non_blocking, channels_last)) for k, v in data.items())
    if isinstance(data, (list, tuple)) and not hasattr(data, '_fields'):
        return type(data)(to_device(v, device, non_blocking, channels_last) for v in data)
    return data


def _record(data, stream):
    if torch.is_tensor(data):
        data.record_stream(stream)
    elif isinstance(data, dict):
        for v in data.values():
            _record(v, stream)
    elif isinstance(data, (list, tuple)):
        for v in data:
            _record(v, stream)


class DeviceLoader:
    """Wraps a data loader so its batches arrive on ``device``.

    On the CPU it adds nothing (iteration is the wrapped loader's own, unless ``channels_last``
    asks for a layout change). On CUDA, the next batch
    is copied from pinned memory on a side stream while the current step runs; the compute
    stream waits on that copy (an event wait, not a host sync) and the tensors are recorded on
    the compute stream so the allocator never reuses them early.
    """

    def __init__(self, loader, device, channels_last=False):
        self.loader = loader
        self.device = torch.device(device)
        self.channels_last = channels_last

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):  # dataset, sampler, batch_sampler ... of the wrapped loader
        if name == 'loader':
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        if self.device.type == 'cuda':
            return self._prefetch()
        if self.channels_last:
            return (to_device(b, self.device, channels_last=True) for b in self.loader)
        return iter(self.loader)

    def _prefetch(self):
        stream = torch.cuda.Stream(self.device)
        it = iter(self.loader)

        def load():
            try:
                batch = next(it)
            except StopIteration:
                return None
            with torch.cuda.stream(stream):
                return to_device(batch, self.device, non_blocking=True, channels_last=self.channels_last)

        nxt = load()
        while nxt is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(stream)
            batch = nxt
            _record(batch, current)
            nxt = load()  # the copy of the next batch overlaps the caller's step on this one
            yield batch
