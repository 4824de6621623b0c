"""DataContainer batches: mmcv 1.x's collate and scatter rules, fastrun's loaders and wrappers."""
import pickle

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from fastrun.builder import build_dataloader
from fastrun.parallel import DataContainer as DC
from fastrun.parallel import MMDataParallel, collate, scatter, scatter_kwargs


def _samples():
    return [dict(img=DC(torch.ones(3, 2, 4 - i), stack=True, padding_value=-1),
                 meta=DC(dict(name=f's{i}'), cpu_only=True),
                 boxes=DC(torch.zeros(i + 1, 4)),
                 label=torch.tensor(i)) for i in range(3)]


def test_collate_pads_stacks_and_keeps_lists_per_chunk():
    batch = collate(_samples(), samples_per_gpu=2)
    img, meta, boxes = batch['img'], batch['meta'], batch['boxes']
    assert [t.shape for t in img.data] == [(2, 3, 2, 4), (1, 3, 2, 2)]
    assert img.data[0][1, 0, 0].tolist() == [1, 1, 1, -1]  # padded right with padding_value
    assert meta.cpu_only and meta.data == [[{'name': 's0'}, {'name': 's1'}], [{'name': 's2'}]]
    assert [[b.shape[0] for b in chunk] for chunk in boxes.data] == [[1, 2], [3]]
    assert torch.equal(batch['label'], torch.tensor([0, 1, 2]))


def test_stack_without_padding_needs_equal_shapes_and_pad_dims_is_checked():
    same = [DC(torch.ones(2, 3), stack=True, pad_dims=None) for _ in range(2)]
    assert collate(same, 2).data[0].shape == (2, 2, 3)
    with pytest.raises(RuntimeError):
        collate([DC(torch.ones(2, 3), stack=True, pad_dims=None),
                 DC(torch.ones(2, 4), stack=True, pad_dims=None)], 2)
    with pytest.raises(ValueError, match='first 1 dims'):
        collate([DC(torch.ones(2, 3), stack=True, pad_dims=1), DC(torch.ones(3, 3), stack=True, pad_dims=1)], 2)
    with pytest.raises(ValueError, match='pad_dims'):
        DC(torch.ones(1), pad_dims=4)


def test_scatter_to_the_cpu_unwraps_and_keeps_structure():
    batch = collate(_samples(), samples_per_gpu=3)
    (args,), (kwargs,) = scatter_kwargs((batch,), dict(flag=True), [-1])
    assert kwargs == dict(flag=True)
    assert args[0]['img'].shape == (3, 3, 2, 4)
    assert args[0]['meta'] == [{'name': 's0'}, {'name': 's1'}, {'name': 's2'}]
    assert isinstance(args[0]['boxes'], list) and len(args[0]['boxes']) == 3
    assert scatter([1, 'a'], [-1]) == [[1, 'a']]


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 1)
        self.seen = None

    def forward(self, img, meta, **kwargs):
        self.seen = meta
        return self.fc(img.amax((1, 2, 3))[:, None]).sum()

    def train_step(self, data, optimizer=None):
        loss = self(**data)
        return dict(loss=loss, log_vars=dict(loss=loss.item()), num_samples=len(data['meta']))


class Pictures(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return dict(img=DC(torch.full((3, 2, 2 + i % 3), float(i)), stack=True),
                    meta=DC(dict(index=i), cpu_only=True))


def test_loader_collates_data_containers_and_the_cpu_wrapper_unwraps_them():
    loader = build_dataloader(Pictures(), samples_per_gpu=2, shuffle=False, seed=0)
    batches = list(loader)
    assert [len(b['meta'].data[0]) for b in batches] == [2, 2, 1]
    assert batches[0]['img'].data[0].shape == (2, 3, 2, 3)
    model = MMDataParallel(Model())
    out = model.train_step(batches[0])
    assert out['num_samples'] == 2 and model.module.seen == [dict(index=0), dict(index=1)]
    model(**batches[1])  # forward scatters too
    assert model.module.seen == [dict(index=2), dict(index=3)]


def test_plain_batches_are_default_collated_as_before():
    loader = build_dataloader(torch.utils.data.Subset(torch.arange(6.), range(6)), 3, shuffle=False, seed=0)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    pickle.dumps(loader.collate_fn)  # workers receive it
