"""fastrun's transforms against mmcls 0.25's on generated JPEG and PNG files.

Deterministic transforms (load, resize, crops, normalize, to-tensor, collect) must give the
same arrays bit for bit with the same backend. The random ones, with Python's ``random`` and
``np.random`` seeded alike, must give the same images too: fastrun draws from the same
generators in the same order. Real configs' pipelines (their policies included) are read from
the installed mmcls.
"""
import copy
import os.path as osp
import random

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmcls.datasets.pipelines import Compose as MMCompose
from mmcv.parallel import DataContainer

from fastrun.datasets.pipelines import Compose

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
NORM = dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True)


def _smooth(rng, h, w, c=3):
    base = rng.integers(0, 256, (max(h // 30, 2), max(w // 30, 2), c), dtype=np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    img = img.reshape(h, w, c) if c == 1 else img
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """(folder, names): colour JPEGs of a few sizes, a gray JPEG, colour and gray PNGs."""
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    names = []
    for i, (h, w) in enumerate([(375, 500), (500, 333), (97, 131)]):
        names.append(f'c{i}.jpg')
        cv2.imwrite(str(folder / names[-1]), _smooth(rng, h, w), [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(folder / 'g.jpg'), _smooth(rng, 120, 90, 1)[:, :, 0])
    cv2.imwrite(str(folder / 'c.png'), _smooth(rng, 64, 80))
    cv2.imwrite(str(folder / 'g.png'), _smooth(rng, 70, 50, 1)[:, :, 0])
    names += ['g.jpg', 'c.png', 'g.png']
    return str(folder), names


def _sample(folder, name, label=3):
    return dict(img_prefix=folder, img_info=dict(filename=name),
                gt_label=np.array(label, dtype=np.int64))


def _same(a, b, where=''):
    """Deep equality: arrays and tensors bit for bit (dtype and shape too)."""
    if isinstance(b, DataContainer):
        assert not isinstance(a, DataContainer)
        return _same(a, b.data, where)
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), (where, sorted(a), sorted(b))
        for k in a:
            _same(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)) and a and isinstance(a[0], (np.ndarray, dict)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f'{where}[{i}]')
    else:
        assert a == b, (where, a, b)


def _run_both(pipeline, sample, seed=None, mmcls_pipeline=None):
    outs = []
    for compose, p in ((Compose, pipeline), (MMCompose, mmcls_pipeline or pipeline)):
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)
        outs.append(compose(copy.deepcopy(p))(copy.deepcopy(sample)))
    return outs


@pytest.fixture
def mmcv_backend():
    """Sets mmcv's global image backend (mmcls 0.25's LoadImageFromFile reads it)."""
    yield mmcv.use_backend
    mmcv.use_backend('cv2')


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('color_type', ['color', 'grayscale', 'unchanged'])
def test_load_gives_mmcls_arrays_and_keys(images, backend, color_type, mmcv_backend):
    folder, names = images
    for name in names:
        mmcv_backend(backend)
        ours, theirs = _run_both([dict(type='LoadImageFromFile', color_type=color_type,
                                       imdecode_backend=backend)], _sample(folder, name),
                                 mmcls_pipeline=[dict(type='LoadImageFromFile',
                                                      color_type=color_type)])
        # mmcls 0.25's has no imdecode_backend argument: the global backend above stands for it.
        _same(ours, theirs, name)


@pytest.mark.parametrize('to_float32', [False, True])
def test_load_to_float32(images, to_float32):
    folder, names = images
    ours, theirs = _run_both([dict(type='LoadImageFromFile', to_float32=to_float32)],
                             _sample(folder, names[0]))
    _same(ours, theirs)


RESIZES = [dict(size=224), dict(size=(100, 150)), dict(size=(256, -1)),
           dict(size=(256, -1), adaptive_side='long'), dict(size=(97, -1)),
           dict(size=(120, -1), adaptive_side='height'),
           dict(size=(120, -1), adaptive_side='width'),
           dict(size=(256, -1), interpolation='bicubic'),
           dict(size=(256, -1), interpolation='area'),
           dict(size=(256, -1), interpolation='lanczos'),
           dict(size=(64, 64), interpolation='nearest'),
           dict(size=(256, -1), backend='pillow'),
           dict(size=(256, -1), backend='pillow', interpolation='bicubic'),
           dict(size=(200, 100), backend='pillow', interpolation='box'),
           dict(size=(200, 100), backend='pillow', interpolation='hamming')]


@pytest.mark.parametrize('args', RESIZES, ids=str)
def test_resize(images, args):
    folder, names = images
    for name in names:
        ours, theirs = _run_both([dict(type='LoadImageFromFile'), dict(type='Resize', **args)],
                                 _sample(folder, name))
        _same(ours, theirs, name)


CENTER_CROPS = [dict(crop_size=224), dict(crop_size=(100, 60)), dict(crop_size=600),
                dict(crop_size=224, efficientnet_style=True),
                dict(crop_size=224, efficientnet_style=True, interpolation='bicubic',
                     backend='pillow'),
                dict(crop_size=380, efficientnet_style=True, crop_padding=0)]


@pytest.mark.parametrize('args', CENTER_CROPS, ids=str)
def test_center_crop(images, args):
    folder, names = images
    for name in names:
        ours, theirs = _run_both([dict(type='LoadImageFromFile'), dict(type='CenterCrop', **args)],
                                 _sample(folder, name))
        _same(ours, theirs, name)


@pytest.mark.parametrize('to_rgb', [True, False])
@pytest.mark.parametrize('to_float32', [False, True])
def test_normalize_is_bit_exact(images, to_rgb, to_float32):
    folder, names = images
    for name in names:
        if name.startswith('g'):
            continue
        ours, theirs = _run_both([dict(type='LoadImageFromFile', to_float32=to_float32),
                                  dict(type='Normalize', mean=MEAN, std=STD, to_rgb=to_rgb)],
                                 _sample(folder, name))
        _same(ours, theirs, name)


def _config_pipelines(mmcls_configs, name):
    cfg = mmcv.Config.fromfile(osp.join(mmcls_configs, '_base_', 'datasets', name))
    return cfg


@pytest.mark.parametrize('config', ['imagenet_bs32.py', 'imagenet_bs64_pil_resize.py',
                                    'imagenet_bs32_pil_bicubic.py', 'imagenet_bs64_swin_224.py'])
def test_real_test_pipelines_give_mmcls_samples(images, mmcls_configs, config):
    folder, names = images
    pipeline = _config_pipelines(mmcls_configs, config).data.test.pipeline
    for name in names:
        if name.startswith('g'):
            continue
        ours, theirs = _run_both(pipeline, _sample(folder, name))
        assert isinstance(theirs['img_metas'], DataContainer) and theirs['img_metas'].cpu_only
        assert isinstance(ours['img_metas'], dict)
        _same(ours, theirs, name)


@pytest.mark.parametrize('config', ['imagenet_bs32.py', 'imagenet_bs64_pil_resize.py',
                                    'imagenet_bs64_swin_224.py',
                                    'imagenet_bs256_rsb_a12.py', 'cifar10_bs16.py',
                                    'imagenet_bs64_pil_resize_autoaug.py'])
def test_real_train_pipelines_give_mmcls_samples_with_the_same_seeds(images, mmcls_configs,
                                                                     config):
    # (imagenet_bs64_autoaug.py is left out: it names a policy its base does not define, and
    # loads in neither.)
    folder, names = images
    pipeline = _config_pipelines(mmcls_configs, config).data.train.pipeline
    if config.startswith('cifar'):
        pipeline = [dict(type='LoadImageFromFile')] + list(pipeline)
    for seed in range(6):
        for name in names:
            if name.startswith('g'):
                continue
            ours, theirs = _run_both(pipeline, _sample(folder, name), seed=seed)
            _same(ours, theirs, f'{name} seed {seed}')


RANDOM = [
    dict(type='RandomResizedCrop', size=224),
    dict(type='RandomResizedCrop', size=(100, 150), scale=(0.5, 1.0), ratio=(0.5, 2.0)),
    dict(type='RandomResizedCrop', size=224, max_attempts=0),
    dict(type='RandomResizedCrop', size=64, scale=(0.99, 1.0), ratio=(3.0, 4.0)),
    dict(type='RandomResizedCrop', size=224, efficientnet_style=True),
    dict(type='RandomResizedCrop', size=224, efficientnet_style=True, max_attempts=1,
         min_covered=0.9),
    dict(type='RandomResizedCrop', size=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomCrop', size=64),
    dict(type='RandomCrop', size=(60, 70), padding=4),
    dict(type='RandomCrop', size=(60, 70), padding=(3, 5, 7, 9), pad_val=7),
    dict(type='RandomCrop', size=(400, 600), pad_if_needed=True, padding_mode='reflect'),
    dict(type='RandomCrop', size=(400, 600), pad_if_needed=True, pad_val=(1, 2, 3)),
    dict(type='RandomFlip', flip_prob=0.5),
    dict(type='RandomFlip', flip_prob=0.7, direction='vertical'),
    dict(type='RandomGrayscale', gray_prob=0.5),
    dict(type='RandomErasing', erase_prob=0.9),
    dict(type='RandomErasing', erase_prob=0.9, mode='rand'),
    dict(type='RandomErasing', erase_prob=0.9, mode='rand', fill_std=(10, 20, 30), aspect_range=0.5),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='Lighting', eigval=[55.46, 4.794, 1.148],
         eigvec=[[-0.5836, -0.6948, 0.4203], [-0.5808, -0.0045, -0.814],
                 [-0.5675, 0.7192, 0.4009]], alphastd=0.1),
    dict(type='Pad', size=(600, 600)),
    dict(type='Pad', pad_to_square=True, padding_mode='symmetric'),
    dict(type='Shear', magnitude=0.3, pad_val=(1, 2, 3)),
    dict(type='Shear', magnitude=0.3, direction='vertical', interpolation='bilinear'),
    dict(type='Translate', magnitude=0.2),
    dict(type='Translate', magnitude=0.2, direction='vertical', prob=0.8),
    dict(type='Rotate', angle=30.),
    dict(type='Rotate', angle=30., center=(10., 20.), scale=0.8, interpolation='bilinear'),
    dict(type='AutoContrast'), dict(type='Invert'), dict(type='Equalize'),
    dict(type='Solarize', thr=100), dict(type='SolarizeAdd', magnitude=80, thr=120),
    dict(type='Posterize', bits=3.5),
    dict(type='Contrast', magnitude=0.5), dict(type='ColorTransform', magnitude=0.7),
    dict(type='Brightness', magnitude=0.5), dict(type='Sharpness', magnitude=0.9),
    dict(type='Cutout', shape=40), dict(type='Cutout', shape=(20.5, 60), pad_val=(9, 8, 7)),
]


@pytest.mark.parametrize('transform', RANDOM, ids=lambda t: str(t))
def test_random_transforms_match_with_the_same_seeds(images, transform):
    folder, names = images
    pipeline = [dict(type='LoadImageFromFile'), transform]
    for seed in range(8):
        for name in names:
            if name.startswith('g'):
                continue
            ours, theirs = _run_both(pipeline, _sample(folder, name), seed=seed)
            _same(ours, theirs, f'{name} seed {seed}')


@pytest.mark.parametrize('magnitude_std', [0., 0.5, 'inf'])
def test_rand_augment_policies_match(images, mmcls_configs, magnitude_std):
    folder, names = images
    cfg = mmcv.Config.fromfile(osp.join(mmcls_configs, '_base_', 'datasets', 'pipelines',
                                        'rand_aug.py'))
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='RandAugment', policies=cfg.rand_increasing_policies, num_policies=3,
                     total_level=10, magnitude_level=7, magnitude_std=magnitude_std,
                     hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic'))]
    for seed in range(10):
        ours, theirs = _run_both(pipeline, _sample(folder, names[seed % 3]), seed=seed)
        _same(ours, theirs, f'seed {seed}')


def test_auto_augment_policies_match(images, mmcls_configs):
    folder, names = images
    cfg = mmcv.Config.fromfile(osp.join(mmcls_configs, '_base_', 'datasets', 'pipelines',
                                        'auto_aug.py'))
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='AutoAugment', policies=cfg.policy_imagenet)]
    for seed in range(20):
        ours, theirs = _run_both(pipeline, _sample(folder, names[seed % 3]), seed=seed)
        _same(ours, theirs, f'seed {seed}')
