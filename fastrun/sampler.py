"""Data positions a run can resume from: a sampler whose order is a pure function of (seed,
epoch), a way to start a loader mid-epoch, and the iter-based runner's endless loader."""
import itertools
import math

import torch
from torch.utils.data import Sampler

from .dist import get_dist_info

__all__ = ['ResumableSampler', 'IterLoader', 'sampler_of', 'start_after']


class ResumableSampler(Sampler):
    """Dataset indices in an order fixed by ``(seed, epoch)``; the next pass can start mid-epoch.

    With ``shuffle`` the order of epoch ``e`` is ``torch.randperm(len(dataset))`` drawn from a
    generator seeded with ``seed + e`` (the global RNGs are never touched), else ``0..n-1``.
    ``num_replicas`` / ``rank`` split it as ``torch.utils.data.DistributedSampler`` does, index
    for index: the order is padded by repeating its head to a multiple of ``num_replicas``
    (``drop_last`` trims instead) and rank ``r`` takes every ``num_replicas``-th index from
    ``r``; ``len()`` is the number of indices per rank. Both default to the process's
    ``get_dist_info()``. ``round_up=False`` (mmcls's ``DistributedSampler`` argument) pads
    nothing: rank ``r`` takes every ``num_replicas``-th index from ``r`` of the order itself,
    so the ranks' shares may differ by one.

    ``seed=None`` draws a seed from torch's global RNG once, here; it is part of
    :meth:`state_dict`, so a resumed run sees the order of the run it continues.

    ``set_epoch(e)`` picks the epoch (the runner and ``DistSamplerSeedHook`` call it);
    ``set_start(k)`` makes the next pass skip the first ``k`` indices of this rank (once: the
    pass after it starts at 0 again).
    """

    def __init__(self, dataset, shuffle=True, seed=None, num_replicas=None, rank=None,
                 drop_last=False, round_up=True):
        if num_replicas is None or rank is None:
            dist_rank, dist_world = get_dist_info()
            num_replicas = dist_world if num_replicas is None else num_replicas
            rank = dist_rank if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f'num_replicas must be a positive int, got {num_replicas!r}')
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f'rank must be in [0, {num_replicas - 1}], got {rank!r}')
        if seed is None:
            seed = int(torch.randint(0, 2 ** 31 - 1, ()).item())
        self.dataset_len = len(dataset)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = bool(drop_last)
        self.round_up = bool(round_up)
        if self.drop_last and self.dataset_len % num_replicas:
            self.num_samples = math.ceil((self.dataset_len - num_replicas) / num_replicas)
        elif not self.round_up:
            # mmcls's round_up=False: no padding, the last ranks may get one index fewer.
            self.num_samples = len(range(rank, self.dataset_len, num_replicas))
        else:
            self.num_samples = math.ceil(self.dataset_len / num_replicas)
        self.total_size = (self.dataset_len if not self.round_up and not self.drop_last
                           else self.num_samples * num_replicas)
        self.epoch = 0
        self._start = 0

    def order(self, epoch=None):
        """This rank's indices for ``epoch`` (default: the current one), from the beginning."""
        epoch = self.epoch if epoch is None else epoch
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + epoch)
            indices = torch.randperm(self.dataset_len, generator=g).tolist()
        else:
            indices = list(range(self.dataset_len))
        if self.drop_last:
            indices = indices[:self.total_size]
        else:
            pad = self.total_size - len(indices)
            if pad and indices:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        return indices[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        start, self._start = self._start, 0
        return iter(self.order()[start:])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use the order of ``epoch`` from the next pass on."""
        self.epoch = int(epoch)

    def set_start(self, index):
        """Skip the first ``index`` indices of this rank in the next pass only."""
        if not 0 <= index <= self.num_samples:
            raise ValueError(f'start index {index} is outside [0, {self.num_samples}]')
        self._start = int(index)

    def state_dict(self):
        """``{'seed', 'epoch'}``: what fixes the order (plain ints, for checkpoints)."""
        return {'seed': self.seed, 'epoch': self.epoch}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`."""
        self.seed = int(state['seed'])
        self.epoch = int(state['epoch'])


def sampler_of(loader):
    """The index sampler of a data loader (``loader.sampler``, or its batch sampler's), or None."""
    sampler = getattr(loader, 'sampler', None)
    if not hasattr(sampler, 'set_epoch'):
        inner = getattr(getattr(loader, 'batch_sampler', None), 'sampler', None)
        if inner is not None:
            sampler = inner
    return sampler


def start_after(loader, batches):
    """An iterable over ``loader`` that skips its first ``batches`` batches, and how it skips.

    Returns ``(iterable, exact)``. A loader over a :class:`ResumableSampler` with a fixed
    ``batch_size`` starts its sampler there: nothing is loaded twice and ``exact`` is True.
    Any other loader is iterated and the first batches thrown away (``exact`` False): the
    same batches only if the loader's order does not depend on when it is iterated.
    """
    if batches <= 0:
        return loader, True
    sampler = sampler_of(loader)
    batch_size = getattr(loader, 'batch_size', None)
    if isinstance(sampler, ResumableSampler) and batch_size:
        sampler.set_start(min(batches * batch_size, len(sampler)))
        return loader, True
    return itertools.islice(iter(loader), batches, None), False


class IterLoader:
    """An endless iterator over a data loader that counts epochs (``set_epoch`` on its sampler).

    ``epoch`` / ``consumed`` start it where a checkpoint left it: in loader epoch ``epoch``,
    after its first ``consumed`` batches (see :func:`start_after`).
    """

    def __init__(self, dataloader, epoch=0, consumed=0):
        self._dataloader = dataloader
        self._epoch = epoch
        #: Batches drawn in the current loader epoch (a checkpoint records it).
        self.consumed = consumed
        sampler = sampler_of(dataloader)
        if epoch and hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(epoch)
        self.iter_loader = iter(start_after(dataloader, consumed)[0])

    @property
    def epoch(self):
        """Index of the loader epoch being drawn from (0 first; a new pass increments it)."""
        return self._epoch

    @property
    def dataloader(self):
        """The data loader it iterates."""
        return self._dataloader

    def __next__(self):
        try:
            batch = next(self.iter_loader)
        except StopIteration:
            self._epoch += 1
            self.consumed = 0
            sampler = sampler_of(self._dataloader)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self._epoch)
            self.iter_loader = iter(self._dataloader)
            batch = next(self.iter_loader)
        self.consumed += 1
        return batch

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._dataloader)
