"""Loaders as mmcls's build_dataloader: cfg.data keys, per-split overrides, samplers, resume."""
import textwrap

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from fastrun.builder import build_dataloader, build_runner_from_cfg, loader_cfg_of
from fastrun.config import Config
from fastrun.datasets import RepeatAugSampler, SyntheticClassification
from fastrun.registry import PIPELINES
from fastrun.sampler import IterLoader, ResumableSampler, start_after
from tests import datagen


class _Index(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def _cfg(**data):
    return Config(dict(seed=3, data=dict(samples_per_gpu=4, workers_per_gpu=0, **data)))


def test_loader_cfg_of_merges_like_mmcls():
    cfg = _cfg(drop_last=True, pin_memory=True,
               train_dataloader=dict(samples_per_gpu=2),
               val_dataloader=dict(samples_per_gpu=16, shuffle=True))
    cfg.sampler = dict(type='RepeatAugSampler')
    train = loader_cfg_of(cfg, 'train', device='cpu')
    assert train['samples_per_gpu'] == 2 and train['drop_last'] is True and train['seed'] == 3
    assert train['shuffle'] is True and train['sampler_cfg'] == dict(type='RepeatAugSampler')
    assert train['pin_memory'] is True and train['persistent_workers'] is False
    val = loader_cfg_of(cfg, 'val', device='cpu')
    # val/test: no sampler, no dropped batch, no shuffle -- unless their own dict says so
    assert val['samples_per_gpu'] == 16 and val['shuffle'] is True
    assert val['sampler_cfg'] is None and val['drop_last'] is False
    test = loader_cfg_of(cfg, 'test', device='cpu')
    assert test['samples_per_gpu'] == 4 and test['shuffle'] is False
    assert not any(k in train for k in ('train', 'val', 'test', 'val_dataloader'))


def test_runner_uses_the_per_split_loaders():
    cfg = Config(dict(
        seed=0, model=dict(type='ImageClassifier',
                           backbone=dict(type='MLP', in_channels=16, hidden_channels=(8,)),
                           head=dict(type='LinearClsHead', num_classes=4, in_channels=8,
                                     topk=(1,))),
        data=dict(samples_per_gpu=4, train_dataloader=dict(samples_per_gpu=8),
                  val_dataloader=dict(samples_per_gpu=5),
                  val=dict(type='SyntheticClassification', num_samples=10, shape=(1, 4, 4),
                           num_classes=4)),
        evaluation=dict(interval=1, metric='accuracy', metric_options=dict(topk=(1,))),
        optimizer=dict(type='SGD', lr=0.1), optimizer_config=dict(),
        runner=dict(type='EpochBasedRunner', max_epochs=1), log_config=dict(interval=1, hooks=[])))
    from fastrun.builder import build_model
    train = SyntheticClassification(num_samples=16, shape=(1, 4, 4), num_classes=4)
    runner, loaders = build_runner_from_cfg(cfg, build_model(cfg.model), [train], device='cpu')
    assert loaders[0].loader.batch_size == 8 and len(loaders[0]) == 2
    hook = next(h for h in runner.hooks if type(h).__name__ == 'EvalHook')
    assert hook.dataloader.loader.batch_size == 5 and len(hook.dataloader) == 2


def test_repeat_aug_sampler_spreads_the_copies_over_ranks():
    n, world = 12, 3
    samplers = [RepeatAugSampler(_Index(n), num_replicas=world, rank=r, seed=7,
                                 selected_round=0) for r in range(world)]
    shares = [s.order() for s in samplers]
    assert all(len(s) == len(share) == 4 for s, share in zip(samplers, shares))  # ceil(12 / 3)
    # the shuffled order, each index 3 times in a row, dealt round-robin to the ranks
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(7)).tolist()
    dealt = [i for i in perm for _ in range(3)]
    assert shares == [dealt[r::world][:4] for r in range(world)]
    assert all(a == b == c for a, b, c in zip(*shares))  # a sample's copies on every rank
    samplers[0].set_epoch(1)
    assert samplers[0].order() != shares[0]
    with pytest.raises(ValueError, match='gives no sample per process'):
        RepeatAugSampler(_Index(10), num_replicas=1, rank=0)  # selected_round=256 > 10


def test_repeat_aug_sampler_from_config_resumes_mid_epoch_exactly():
    cfg = _cfg(train_dataloader=dict(samples_per_gpu=3))
    cfg.sampler = dict(type='RepeatAugSampler', selected_round=0)
    loader = build_dataloader(_Index(10), **loader_cfg_of(cfg, 'train', device='cpu'))
    assert isinstance(loader.sampler, RepeatAugSampler) and loader.sampler.seed == 3
    whole = [b.tolist() for b in loader]
    assert sum(len(b) for b in whole) == 10 and len(loader) == 4
    again = build_dataloader(_Index(10), **loader_cfg_of(cfg, 'train', device='cpu'))
    resumed, exact = start_after(again, 2)
    assert exact and [b.tolist() for b in resumed] == whole[2:]
    it = IterLoader(again, epoch=1, consumed=1)
    loader.sampler.set_epoch(1)
    assert next(it).tolist() == [b.tolist() for b in loader][1]


def test_round_up_false_pads_nothing():
    shares = [ResumableSampler(_Index(7), shuffle=False, seed=0, num_replicas=3, rank=r,
                               round_up=False) for r in range(3)]
    assert [list(s) for s in shares] == [[0, 3, 6], [1, 4], [2, 5]]
    assert [len(s) for s in shares] == [3, 2, 2]
    padded = ResumableSampler(_Index(7), shuffle=False, seed=0, num_replicas=3, rank=2)
    assert list(padded) == [2, 5, 1]


class _Draws(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        info = torch.utils.data.get_worker_info()
        return torch.tensor([info.id, np.random.randint(1 << 30)])


def test_workers_are_seeded_from_the_config_seed():
    loader = build_dataloader(_Draws(), samples_per_gpu=1, workers_per_gpu=2, seed=11,
                              shuffle=False)
    firsts = {}
    for batch in loader:
        wid, value = batch[0].tolist()
        firsts.setdefault(wid, value)
    assert firsts == {w: np.random.RandomState(11 + w).randint(1 << 30) for w in (0, 1)}


def test_num_gpus_needs_one_process_per_gpu():
    with pytest.raises(ValueError, match='one process per GPU'):
        build_dataloader(_Index(4), samples_per_gpu=2, num_gpus=2)


@PIPELINES.register_module(name='Data22ToTensor', force=True)
class _ToTensor:
    """A transform of the tests: HWC uint8 -> CHW float tensor, label -> tensor."""

    def __call__(self, results):
        img = torch.from_numpy(np.ascontiguousarray(results['img'].transpose(2, 0, 1))).float()
        return dict(img=img / 255, gt_label=torch.as_tensor(results['gt_label']))


def test_fastrun_train_on_cifar_files_and_a_missing_folder(tmp_path, monkeypatch, capsys):
    from fastrun.cli import main
    datagen.cifar(str(tmp_path / 'cifar'), per_batch=4)
    monkeypatch.chdir(tmp_path)
    config = textwrap.dedent(f'''
        model = dict(type='ImageClassifier',
                     backbone=dict(type='MLP', in_channels=3072, hidden_channels=(8,)),
                     head=dict(type='LinearClsHead', num_classes=10, in_channels=8, topk=(1,)))
        train_pipeline = [dict(type='Data22ToTensor')]
        data = dict(samples_per_gpu=8, workers_per_gpu=0,
                    train=dict(type='CIFAR10', data_prefix={str(tmp_path / 'cifar')!r},
                               pipeline=train_pipeline),
                    val=dict(type='CIFAR10', data_prefix={str(tmp_path / 'cifar')!r},
                             pipeline=train_pipeline, test_mode=True),
                    val_dataloader=dict(samples_per_gpu=2))
        evaluation = dict(interval=1, metric='accuracy', metric_options=dict(topk=(1,)))
        optimizer = dict(type='SGD', lr=0.1)
        optimizer_config = dict()
        runner = dict(type='EpochBasedRunner', max_epochs=1)
        log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
        seed = 0
    ''')
    (tmp_path / 'cifar.py').write_text(config)
    assert main(['train', 'cifar.py', '--work-dir', 'work']) == 0
    assert 'accuracy_top-1' in capsys.readouterr().err + ''.join(
        p.read_text() for p in (tmp_path / 'work').glob('*.log'))
    (tmp_path / 'missing.py').write_text(config.replace("/ 'cifar'", '').replace(
        str(tmp_path / 'cifar'), str(tmp_path / 'nothere')))
    assert main(['train', 'missing.py', '--work-dir', 'work2']) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if 'error' in line]
    assert len(err) == 1 and err[0].startswith('fastrun: error: missing.py: data.train: CIFAR10: ')
    assert 'nothere/cifar-10-batches-py/data_batch_1' in err[0]
    assert 'expected data_prefix/cifar-10-batches-py/' in err[0]


def test_unknown_loader_keys():
    # a misspelt key of cfg.data is warned about by the config check and not passed on
    assert 'sample_per_gpu' not in loader_cfg_of(_cfg(sample_per_gpu=3), 'train', device='cpu')
    assert loader_cfg_of(_cfg(prefetch_factor=4), 'train', device='cpu')['prefetch_factor'] == 4
    with pytest.raises(ValueError, match="data.val_dataloader: 'batchsize' is not a data loader argument"):
        loader_cfg_of(_cfg(val_dataloader=dict(batchsize=2)), 'val', device='cpu')
