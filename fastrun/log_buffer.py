"""The runner's log buffer: mmcv's LogBuffer, with tensor values kept on their device until logged."""
from collections import OrderedDict

import torch

_Tensor = torch.Tensor


class LogBuffer:
    """Histories of logged values and their weighted averages (``output``), as mmcv 1.x.

    ``update`` only appends: a tensor value stays a tensor on its device. ``average`` turns every
    tensor logged since the last ``average`` into a Python float with one host-device sync per
    device, so iterations that do not log never sync.
    """

    #: Pending tensors are materialised anyway after this many updates, bounding device memory
    #: when no logger ever averages.
    MAX_PENDING = 4096

    def __init__(self):
        self.val_history = OrderedDict()
        self.n_history = OrderedDict()
        self.output = OrderedDict()
        self.ready = False
        self._synced = {}   # key -> length of val_history[key] already free of tensors
        self._updates = 0

    def clear(self):
        self.val_history.clear()
        self.n_history.clear()
        self._synced.clear()
        self._updates = 0
        self.clear_output()

    def clear_output(self):
        self.output.clear()
        self.ready = False

    def update(self, vars, count=1):
        """Append each value of ``vars`` (numbers or tensors) with weight ``count``."""
        if not isinstance(vars, dict):
            raise TypeError(f'log_vars must be a dict, got {type(vars).__name__}')
        vh = self.val_history
        nh = self.n_history
        for key, var in vars.items():
            try:
                vh[key].append(var)
                nh[key].append(count)
            except KeyError:
                vh[key] = [var]
                nh[key] = [count]
                self._synced[key] = 0
        self._updates += 1
        if self._updates >= self.MAX_PENDING:
            self.materialize()

    def materialize(self):
        """Replace every tensor in the histories by a float: one sync per device for all of them."""
        self._updates = 0
        groups = {}
        for key, hist in self.val_history.items():
            for i in range(self._synced[key], len(hist)):
                v = hist[i]
                if isinstance(v, _Tensor):
                    groups.setdefault((v.device, v.dtype), []).append((hist, i, v))
            self._synced[key] = len(hist)
        if not groups:
            return
        with torch.no_grad():
            for group in groups.values():
                flat = torch.stack([t if t.dim() == 0 else t.float().mean().to(t.dtype)
                                    for _, _, t in group])
                # note: the CPU-GPU sync point of logging, once per device per log interval
                values = flat.double().tolist()
                for (hist, i, _), v in zip(group, values):
                    hist[i] = v

    def average(self, n=0):
        """Set ``output[key]`` to the count-weighted mean of the last ``n`` values (all if 0)."""
        if n < 0:
            raise ValueError(f'n must be >= 0, got {n}')
        self.materialize()
        for key, hist in self.val_history.items():
            values = hist[-n:]
            nums = self.n_history[key][-n:]
            total = sum(nums)
            self.output[key] = (sum(float(v) * c for v, c in zip(values, nums)) / total
                                if total else float('nan'))
        self.ready = True
