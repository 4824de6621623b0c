"""Feeding the step: batches moved to the device, prefetched on a side CUDA stream."""
import torch


def to_device(data, device, non_blocking=False):
    """``data`` (tensors in dicts/lists/tuples) with every tensor on ``device``."""
    if torch.is_tensor(data):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, dict):
        return type(data)((k, to_device(v, device, non_blocking)) for k, v in data.items())
    if isinstance(data, (list, tuple)) and not hasattr(data, '_fields'):
        return type(data)(to_device(v, device, non_blocking) for v in data)
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

    On the CPU it adds nothing (iteration is the wrapped loader's own). On CUDA, the next batch
    is copied from pinned memory on a side stream while the current step runs; the compute
    stream waits on that copy (an event wait, not a host sync) and the tensors are recorded on
    the compute stream so the allocator never reuses them early.
    """

    def __init__(self, loader, device):
        self.loader = loader
        self.device = torch.device(device)

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):  # dataset, sampler, batch_sampler ... of the wrapped loader
        if name == 'loader':
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self):
        if self.device.type != 'cuda':
            return iter(self.loader)
        return self._prefetch()

    def _prefetch(self):
        stream = torch.cuda.Stream(self.device)
        it = iter(self.loader)

        def load():
            try:
                batch = next(it)
            except StopIteration:
                return None
            with torch.cuda.stream(stream):
                return to_device(batch, self.device, non_blocking=True)

        nxt = load()
        while nxt is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(stream)
            batch = nxt
            _record(batch, current)
            nxt = load()  # the copy of the next batch overlaps the caller's step on this one
            yield batch
