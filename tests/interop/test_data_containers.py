"""DataContainer batches: fastrun's collate/scatter give what mmcv's give, on mmcv's own
DataContainers too, and an mmcls pipeline feeds fastrun's loader, wrapper and runner."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmcls.datasets import build_dataset as mmcls_build_dataset
from mmcv.parallel import DataContainer as MmcvDC
from mmcv.parallel import collate as mmcv_collate
from mmcv.parallel import scatter_kwargs as mmcv_scatter_kwargs

from fastrun import EpochBasedRunner
from fastrun.builder import build_dataloader
from fastrun.parallel import DataContainer, MMDataParallel, collate, scatter_kwargs
from fastrun.registry import MODELS


def _samples(dc):
    return [dict(img=dc(torch.arange(6.).view(1, 2, 3)[..., :3 - i % 2], stack=True, padding_value=7),
                 meta=dc(dict(i=i), cpu_only=True), pts=dc(torch.ones(i + 1, 2)),
                 flat=dc(torch.ones(4), stack=True, pad_dims=None), y=torch.tensor(i))
            for i in range(5)]


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, 'cpu_only'):
        return (a.cpu_only, a.stack, a.padding_value) == (b.cpu_only, b.stack, b.padding_value) \
            and _same(a.data, b.data)
    return a == b


@pytest.mark.parametrize('dc', [DataContainer, MmcvDC])
@pytest.mark.parametrize('per_gpu', [1, 2, 5])
def test_collate_and_cpu_scatter_match_mmcv(dc, per_gpu):
    ours, theirs = collate(_samples(dc), per_gpu), mmcv_collate(_samples(MmcvDC), per_gpu)
    assert _same(ours, theirs)
    assert _same(scatter_kwargs((ours,), dict(k=1), [-1]), mmcv_scatter_kwargs((theirs,), dict(k=1), [-1]))
    # mmcv's scatter reads what fastrun's collate made of mmcv's DataContainers
    if dc is MmcvDC:
        assert _same(mmcv_scatter_kwargs((ours,), {}, [-1]), mmcv_scatter_kwargs((theirs,), {}, [-1]))


def make_imagenet_layout(root, classes=('cat', 'dog'), per_class=3, size=12):
    """Folders of tiny PNGs and ``meta/train.txt`` / ``meta/val.txt`` (``path label`` lines)."""
    rng = np.random.default_rng(0)
    lines = []
    for label, name in enumerate(classes):
        folder = osp.join(root, 'train', name)
        os.makedirs(folder, exist_ok=True)
        for k in range(per_class):
            img = rng.integers(0, 255, (size, size + k, 3), dtype=np.uint8)
            cv2.imwrite(osp.join(folder, f'{k}.png'), img)
            lines.append(f'{name}/{k}.png {label}')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split in ('train', 'val'):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', size=(8, 8)),
            dict(type='Normalize', mean=[0.0] * 3, std=[255.0] * 3, to_rgb=True),
            dict(type='ImageToTensor', keys=['img']), dict(type='ToTensor', keys=['gt_label']),
            dict(type='Collect', keys=['img', 'gt_label'])]


def test_an_mmcls_pipeline_trains_on_fastrun_loader_wrapper_and_runner(tmp_path):
    root = make_imagenet_layout(str(tmp_path / 'data'))
    dataset = mmcls_build_dataset(dict(type='CustomDataset', data_prefix=osp.join(root, 'train'),
                                       ann_file=osp.join(root, 'meta', 'train.txt'),
                                       classes=['cat', 'dog'], pipeline=PIPELINE))
    assert isinstance(dataset[0]['img_metas'], MmcvDC)
    loader = build_dataloader(dataset, samples_per_gpu=4, shuffle=False, seed=0)
    batch = next(iter(loader))
    assert isinstance(batch['img_metas'], MmcvDC) and len(batch['img_metas'].data[0]) == 4
    model = MODELS.build(dict(type='mmcls.ImageClassifier',
                              backbone=dict(type='mmcls.ResNet_CIFAR', depth=18, num_stages=1,
                                            out_indices=(0,), strides=(1,), dilations=(1,)),
                              neck=dict(type='mmcls.GlobalAveragePooling'),
                              head=dict(type='mmcls.LinearClsHead', num_classes=2, in_channels=64)))
    wrapped = MMDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    runner = EpochBasedRunner(wrapped, optimizer=opt, work_dir=str(tmp_path / 'work'), max_epochs=1)
    from fastrun.hooks import OptimizerHook
    runner.register_hook(OptimizerHook(), priority='ABOVE_NORMAL')
    runner.run([loader], [('train', 1)])
    assert runner.iter == 2 and 'loss' in runner.outputs
    with torch.no_grad():
        scores = wrapped(return_loss=False, img=batch['img'], img_metas=batch['img_metas'])
    assert len(scores) == 4 and scores[0].shape == (2,)
