"""The samplers a config's ``sampler=dict(type=...)`` names (mmcls 0.x's ``SAMPLERS``), as
:class:`~fastrun.sampler.ResumableSampler` subclasses: their order is a function of (seed,
epoch) and a resumed run can start them mid-epoch."""
import math

import torch

from ..dist import get_dist_info, sync_random_seed
from ..registry import SAMPLERS
from ..sampler import ResumableSampler

__all__ = ['DistributedSampler', 'RepeatAugSampler']


@SAMPLERS.register_module()
class DistributedSampler(ResumableSampler):
    """mmcls's ``DistributedSampler``: :class:`ResumableSampler` with its argument order and
    ``seed=0`` default (``round_up`` pads the order to a multiple of the world size)."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, round_up=True, seed=0):
        super().__init__(dataset, shuffle=shuffle, seed=sync_random_seed(seed),
                         num_replicas=num_replicas, rank=rank, round_up=round_up)


@SAMPLERS.register_module()
class RepeatAugSampler(ResumableSampler):
    """Repeated augmentation (DeiT): each index of the epoch's order appears ``num_repeats``
    times in a row and the ranks take every ``num_replicas``-th of that list, so the copies of
    a sample go to different processes, each with its own augmentation.

    The epoch's order is ``torch.randperm`` from a generator seeded with ``seed + epoch``
    (``shuffle``), else ``0..n-1``; the repeated list is padded with its head to a multiple of
    ``num_replicas``; each rank keeps the first ``num_selected_samples`` of its share:
    ``floor(n // selected_round * selected_round / selected_ratio)`` (``selected_ratio``
    default: the world size), or ``ceil(n / selected_ratio)`` with ``selected_round=0``, so an
    epoch still has about ``n`` samples in all. For ``num_replicas > 1`` this is mmcls's
    sequence index for index; mmcls draws a one-process order from torch's global RNG instead.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, num_repeats=3,
                 selected_round=256, selected_ratio=0, seed=0):
        default_rank, default_world = get_dist_info()
        rank = default_rank if rank is None else rank
        num_replicas = default_world if num_replicas is None else num_replicas
        super().__init__(dataset, shuffle=shuffle, seed=sync_random_seed(seed),
                         num_replicas=num_replicas, rank=rank)
        if not isinstance(num_repeats, int) or num_repeats < 1:
            raise ValueError(f'RepeatAugSampler: num_repeats must be a positive int, '
                             f'got {num_repeats!r}')
        n = self.dataset_len
        self.num_repeats = num_repeats
        self.num_samples = int(math.ceil(n * num_repeats / num_replicas))
        self.total_size = self.num_samples * num_replicas
        ratio = selected_ratio or num_replicas
        if selected_round:
            self.num_selected_samples = int(math.floor(n // selected_round * selected_round
                                                       / ratio))
        else:
            self.num_selected_samples = int(math.ceil(n / ratio))
        self.num_selected_samples = min(self.num_selected_samples, self.num_samples)
        if self.num_selected_samples == 0:
            raise ValueError(f'RepeatAugSampler: a data set of {n} samples gives no sample per '
                             f'process with selected_round={selected_round} (it keeps a multiple '
                             'of selected_round samples); use a smaller selected_round, or 0')

    def order(self, epoch=None):
        epoch = self.epoch if epoch is None else epoch
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + epoch)
            base = torch.randperm(self.dataset_len, generator=g).tolist()
        else:
            base = list(range(self.dataset_len))
        indices = [i for i in base for _ in range(self.num_repeats)]
        indices += indices[:self.total_size - len(indices)]
        return indices[self.rank:self.total_size:self.num_replicas][:self.num_selected_samples]

    def __len__(self):
        return self.num_selected_samples

    def set_start(self, index):
        if not 0 <= index <= self.num_selected_samples:
            raise ValueError(f'start index {index} is outside [0, {self.num_selected_samples}]')
        self._start = int(index)
