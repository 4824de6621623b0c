"""The runner's log buffer: mmcv's LogBuffer, with tensor values kept on their device until logged."""
from collections import OrderedDict

import torch
import torch.distributed as dist

from .dist import collective_device
from .errors import ArgumentError, ArgumentTypeError

_Tensor = torch.Tensor


class LogBuffer:
    """Histories of logged values and their weighted averages (``output``), as mmcv 1.x.

    ``update`` only appends: a tensor value stays a tensor on its device. ``average`` turns every
    tensor logged since the last ``average`` into a Python float with one host-device sync per
    device, so iterations that do not log never sync. In a distributed run ``average`` also
    averages over the ranks, with one all-reduce (see :meth:`average`).
    """

    #: Pending tensors are materialised anyway after this many updates, bounding device memory
    #: when no logger ever averages.
    MAX_PENDING = 4096
    #: Average over all ranks in a distributed run (set False for this process's values only).
    reduce_ranks = True

    def __init__(self):
        self.val_history = OrderedDict()
        self.n_history = OrderedDict()
        self.output = OrderedDict()
        self.ready = False
        self._synced = {}   # key -> length of val_history[key] already free of tensors
        self._updates = 0
        self._layout = None  # the keys the ranks last agreed on (distributed averaging)

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
            raise ArgumentTypeError(f'log_vars must be a dict, got {type(vars).__name__}')
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
        """Set ``output[key]`` to the count-weighted mean of the last ``n`` values (all if 0).

        In a distributed run (torch.distributed initialised, world size > 1, ``reduce_ranks``)
        each mean is taken over every rank's last ``n`` values, weighted by their counts: one
        all-reduce of all the keys at once. It is a collective: every rank calls ``average``
        at the same points (the logger hooks do) and logs the same keys, or every rank raises
        a RuntimeError naming each rank's keys.
        """
        if n < 0:
            raise ArgumentError(f'n must be >= 0, got {n}')
        self.materialize()
        totals = {}
        for key, hist in self.val_history.items():
            values = hist[-n:]
            nums = self.n_history[key][-n:]
            totals[key] = (sum(float(v) * c for v, c in zip(values, nums)), float(sum(nums)))
        if self.reduce_ranks and dist.is_available() and dist.is_initialized() \
                and dist.get_world_size() > 1:
            totals = self._reduce_across_ranks(totals)
        for key, (weighted, total) in totals.items():
            self.output[key] = weighted / total if total else float('nan')
        self.ready = True

    def _reduce_across_ranks(self, totals):
        """``totals`` ({key: (weighted sum, count)}) summed over the ranks.

        One all-reduce of ``[agree, sum_1, count_1, sum_2, count_2, ...]`` laid out by the keys
        the ranks last agreed on; ``agree`` is 1 on a rank whose keys are still those. Keys
        that change on every rank alike (train then val) cost one ``all_gather_object`` to
        agree again and a second all-reduce; keys that differ between ranks raise on every
        rank (the sizes of an all-reduce must match, or NCCL and gloo mix up or hang).
        """
        keys = tuple(sorted(totals))
        world_size = dist.get_world_size()
        device = collective_device()
        for attempt in range(2):
            layout = self._layout if self._layout is not None else ()
            agree = keys == layout
            flat = torch.zeros(1 + 2 * len(layout), dtype=torch.float64)
            flat[0] = float(agree)
            if agree:
                flat[1:] = torch.tensor([x for k in layout for x in totals[k]], dtype=torch.float64)
            flat = flat.to(device)
            dist.all_reduce(flat)
            # note: the host-device sync of the reduced log values, once per log interval
            flat = flat.cpu().tolist()
            if int(flat[0]) == world_size:
                pos = {k: 1 + 2 * i for i, k in enumerate(layout)}
                return {k: (flat[pos[k]], flat[pos[k] + 1]) for k in totals}
            if attempt:
                break
            gathered = [None] * world_size
            dist.all_gather_object(gathered, keys)
            if any(g != keys for g in gathered):
                lines = '; '.join(f'rank {r}: {list(g)}' for r, g in enumerate(gathered))
                raise RuntimeError('LogBuffer.average: the logged keys differ across ranks, so '
                                   'they cannot be averaged over the ranks (every rank must log '
                                   f'the same log_vars and hook values): {lines}')
            self._layout = keys
        raise RuntimeError('LogBuffer.average: the ranks could not agree on the logged keys')
