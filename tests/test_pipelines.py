"""The mmcls-named transforms: what each does to a results dict, and the errors a config meets.

(Bit-for-bit parity with mmcls itself is in tests/interop/test_pipeline_parity.py.)
"""
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

cv2 = pytest.importorskip('cv2')

from fastrun.datasets.pipelines import Compose, Normalize, RandomResizedCrop  # noqa: E402
from fastrun.registry import PIPELINES, build_from_cfg  # noqa: E402

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
ISSUE_TYPES = ['Collect', 'ImageToTensor', 'Normalize', 'ToTensor', 'RandomFlip',
               'LoadImageFromFile', 'RandomResizedCrop', 'CenterCrop', 'Resize', 'AutoAugment',
               'RandAugment', 'AutoContrast', 'ColorTransform', 'Contrast', 'Equalize', 'Invert',
               'Posterize', 'Rotate', 'Sharpness', 'Shear', 'Solarize', 'Brightness',
               'SolarizeAdd', 'Translate', 'RandomErasing', 'ColorJitter', 'RandomCrop',
               'Lighting', 'Cutout', 'ToHalf', 'ToPIL', 'ToNumpy', 'Transpose', 'RandomGrayscale',
               'Pad']


@pytest.fixture
def jpeg(tmp_path):
    rng = np.random.default_rng(1)
    img = cv2.resize(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8), (100, 75))
    cv2.imwrite(str(tmp_path / 'a.jpg'), img)
    return tmp_path, 'a.jpg'


def _sample(folder, name):
    return dict(img_prefix=str(folder), img_info=dict(filename=name),
                gt_label=np.array(5, dtype=np.int64))


def test_every_transform_the_mmcls_configs_use_is_registered():
    missing = [t for t in ISSUE_TYPES if PIPELINES.get(t) is None]
    assert not missing


def test_importing_the_data_sets_does_not_import_opencv():
    code = 'import sys, fastrun.datasets; from fastrun.registry import PIPELINES; ' \
           'PIPELINES.get("Resize"); print("cv2" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'


def test_load_sets_mmcls_keys(jpeg):
    folder, name = jpeg
    r = Compose([dict(type='LoadImageFromFile')])(_sample(folder, name))
    assert r['img'].shape == (75, 100, 3) and r['img'].dtype == np.uint8
    assert r['filename'] == str(folder / name) and r['ori_filename'] == name
    assert r['img_shape'] == r['ori_shape'] == (75, 100, 3)
    assert r['img_norm_cfg']['mean'].tolist() == [0, 0, 0] and not r['img_norm_cfg']['to_rgb']
    gray = Compose([dict(type='LoadImageFromFile', color_type='grayscale', to_float32=True)])(
        dict(img_prefix=None, img_info=dict(filename=str(folder / name))))
    assert gray['img'].shape == (75, 100) and gray['img'].dtype == np.float32
    assert gray['img_norm_cfg']['mean'].shape == (1,)


def test_the_two_decoders_read_the_same_jpeg_pixels(jpeg):
    folder, name = jpeg
    imgs = [Compose([dict(type='LoadImageFromFile', imdecode_backend=b)])(_sample(folder, name))['img']
            for b in ('cv2', 'pillow')]
    np.testing.assert_array_equal(imgs[0], imgs[1])


def test_a_missing_or_broken_image_names_its_path(jpeg):
    folder, _ = jpeg
    load = Compose([dict(type='LoadImageFromFile')])
    with pytest.raises(FileNotFoundError, match=r'LoadImageFromFile: no image file .*nope\.jpg'):
        load(_sample(folder, 'nope.jpg'))
    (folder / 'bad.jpg').write_bytes(b'not an image')
    for backend in ('cv2', 'pillow'):
        with pytest.raises(ValueError, match=r'bad\.jpg is not an image'):
            Compose([dict(type='LoadImageFromFile', imdecode_backend=backend)])(
                _sample(folder, 'bad.jpg'))


@pytest.mark.parametrize('cfg, words', [
    (dict(type='RandomFlip', flip_prob=2), ['RandomFlip', 'flip_prob']),
    (dict(type='RandomFlip', direction='diagonal'), ['RandomFlip', 'direction']),
    (dict(type='Resize', size=224, backend='skimage'), ['Resize', 'backend']),
    (dict(type='Resize', size=224, interpolation='box'), ['Resize', 'interpolation', 'cv2']),
    (dict(type='Resize', size=(224, -2)), ['Resize', 'size']),
    (dict(type='CenterCrop', crop_size=(224, 224), efficientnet_style=True), ['CenterCrop', 'int']),
    (dict(type='RandomResizedCrop', size=224, scale=(1.0, 0.08)), ['RandomResizedCrop', 'scale']),
    (dict(type='RandomCrop', size=32, padding_mode='wrap'), ['RandomCrop', 'padding_mode']),
    (dict(type='RandomErasing', erase_prob=1), ['RandomErasing', 'erase_prob']),
    (dict(type='LoadImageFromFile', color_type='rgb'), ['LoadImageFromFile', 'color_type']),
    (dict(type='LoadImageFromFile', file_client_args=dict(backend='petrel')),
     ['LoadImageFromFile', 'petrel']),
    (dict(type='RandAugment', policies=[dict(type='Invert')], num_policies=1,
          magnitude_level=3, magnitude_std='gauss'), ['RandAugment', 'magnitude_std']),
    (dict(type='RandAugment', policies=[dict(type='Shear', magnitude_key='magnitude')],
          num_policies=1, magnitude_level=3), ['RandAugment', 'magnitude_range']),
    (dict(type='AutoAugment', policies=[]), ['AutoAugment', 'policies']),
    (dict(type='Shear', magnitude=0.3, pad_val=(1, 2)), ['Shear', 'pad_val']),
    (dict(type='Rotate', angle=30), ['Rotate', 'angle']),
    (dict(type='Posterize', bits=9), ['Posterize', 'bits']),
    (dict(type='Lighting', eigval=[1., 2.], eigvec=[[1., 2.]]), ['Lighting', 'eigvec']),
])
def test_a_bad_argument_names_the_transform_and_the_argument(cfg, words):
    with pytest.raises((ValueError, TypeError)) as info:
        Compose([cfg])
    assert all(w in str(info.value) for w in words), str(info.value)
    assert isinstance(info.value, AssertionError)  # what code written for mmcls catches


def test_resize_adaptive_side_keeps_the_ratio_and_sets_img_shape():
    img = np.zeros((300, 400, 3), np.uint8)
    r = build_from_cfg(dict(type='Resize', size=(150, -1)), PIPELINES)({'img': img})
    assert r['img'].shape == (150, 200, 3) and r['img_shape'] == (150, 200, 3)
    r = build_from_cfg(dict(type='Resize', size=(150, -1), adaptive_side='long'), PIPELINES)(
        {'img': img})
    assert r['img'].shape == (112, 150, 3)
    same = {'img': np.zeros((150, 90, 3), np.uint8)}
    assert build_from_cfg(dict(type='Resize', size=(90, -1)), PIPELINES)(same)['img'] is same['img']


def test_center_crop_of_a_small_image_keeps_it_whole():
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    r = build_from_cfg(dict(type='CenterCrop', crop_size=(10, 50)), PIPELINES)({'img': img})
    np.testing.assert_array_equal(r['img'], img[5:15])
    assert r['img_shape'] == (10, 30, 3)


def test_random_resized_crop_draws_from_pythons_random():
    img = np.zeros((375, 500, 3), np.uint8)
    crop = RandomResizedCrop(224)
    random.seed(3)
    first = [crop.get_params(img, crop.scale, crop.ratio) for _ in range(200)]
    np.random.seed(0)  # np.random plays no part
    random.seed(3)
    assert first == [crop.get_params(img, crop.scale, crop.ratio) for _ in range(200)]
    areas = [(b[2] - b[0] + 1) * (b[3] - b[1] + 1) / (375 * 500) for b in first]
    assert 0.07 < min(areas) and max(areas) <= 1.0
    assert 0.3 < np.mean(areas) < 0.7  # uniform in [0.08, 1] less the crops that did not fit
    assert crop({'img': img})['img'].shape == (224, 224, 3)


def test_random_flip_draws_from_numpy_and_flips_about_half():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    flip = build_from_cfg(dict(type='RandomFlip', flip_prob=0.5), PIPELINES)
    np.random.seed(0)
    flags = []
    for _ in range(400):
        r = flip({'img': img})
        flags.append(r['flip'])
        np.testing.assert_array_equal(r['img'], img[:, ::-1] if r['flip'] else img)
        assert r['flip_direction'] == 'horizontal'
    assert 150 < sum(flags) < 250


@pytest.mark.parametrize('to_rgb', [True, False])
def test_normalize_table_gives_the_same_numbers_as_the_arithmetic(to_rgb):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    norm = Normalize(MEAN, STD, to_rgb)
    fast = norm({'img': img[:, ::-1][5:35]})['img']  # a view: flipped then cropped
    exact = norm({'img': img[:, ::-1][5:35].astype(np.float32)})['img']  # cv2's arithmetic
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(fast, exact)
    ref = (img[:, ::-1][5:35].astype(np.float64)[..., ::-1 if to_rgb else 1] - MEAN) / STD
    np.testing.assert_allclose(fast, ref, atol=1e-5)


def test_train_pipeline_sample_is_a_chw_tensor_with_mmcls_metas(jpeg):
    folder, name = jpeg
    pipeline = Compose([dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', size=32),
                        dict(type='RandomFlip', flip_prob=1.0),
                        dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True),
                        dict(type='ImageToTensor', keys=['img']),
                        dict(type='ToTensor', keys=['gt_label']),
                        dict(type='Collect', keys=['img', 'gt_label'])])
    out = pipeline(_sample(folder, name))
    assert sorted(out) == ['gt_label', 'img', 'img_metas']
    assert out['img'].shape == (3, 32, 32) and out['img'].dtype == torch.float32
    assert out['gt_label'].dtype == torch.int64 and out['gt_label'].item() == 5
    metas = out['img_metas']
    assert isinstance(metas, dict)
    assert sorted(metas) == ['filename', 'flip', 'flip_direction', 'img_norm_cfg', 'img_shape',
                             'ori_filename', 'ori_shape']
    assert metas['ori_shape'] == (75, 100, 3) and metas['flip'] is True
    assert metas['img_shape'] == (75, 100, 3)  # mmcls's RandomResizedCrop leaves it as loaded


def test_image_to_tensor_shares_memory():
    img = np.zeros((4, 5, 3), np.float32)
    t = build_from_cfg(dict(type='ImageToTensor', keys=['img']), PIPELINES)({'img': img})['img']
    assert t.shape == (3, 4, 5)
    t[0, 0, 0] = 7
    assert img[0, 0, 0] == 7
    gray = build_from_cfg(dict(type='ImageToTensor', keys=['img']), PIPELINES)(
        {'img': np.zeros((4, 5), np.uint8)})['img']
    assert gray.shape == (1, 4, 5)


def test_collect_names_a_missing_key():
    with pytest.raises(KeyError, match="Collect: the results have no 'gt_label'"):
        build_from_cfg(dict(type='Collect', keys=['img', 'gt_label']), PIPELINES)({'img': 1})


def test_to_tensor_rules():
    tt = build_from_cfg(dict(type='ToTensor', keys=['a', 'b', 'c', 'd']), PIPELINES)
    r = tt(dict(a=np.array([1, 2]), b=3, c=1.5, d=[1, 2]))
    assert r['b'].dtype == torch.int64 and r['b'].tolist() == [3]
    assert r['c'].dtype == torch.float32 and r['d'].tolist() == [1, 2]
    with pytest.raises(TypeError, match='str cannot be made a tensor'):
        tt(dict(a='x', b=1, c=1., d=[1]))


class _Spy:
    seen = []

    def __init__(self, magnitude=None, pad_val=None, prob=0.5):
        _Spy.seen.append(dict(magnitude=magnitude, pad_val=pad_val))

    def __call__(self, results):
        return results


@pytest.fixture
def spy():
    PIPELINES.register_module('TestSpyOp', force=True, module=_Spy)
    _Spy.seen = []
    yield _Spy.seen
    PIPELINES.module_dict.pop('TestSpyOp', None)


def test_rand_augment_magnitude_and_hparams(spy):
    aug = build_from_cfg(dict(type='RandAugment', num_policies=2, magnitude_level=6,
                              total_level=10,
                              policies=[dict(type='TestSpyOp', magnitude_key='magnitude',
                                             magnitude_range=(0, 0.5))],
                              hparams=dict(pad_val=7, interpolation='bicubic')), PIPELINES)
    aug({'img': np.zeros((4, 4, 3), np.uint8)})
    assert [s['magnitude'] for s in spy] == [0.3, 0.3]  # 6 / 10 * (0.5 - 0) + 0
    assert all(s['pad_val'] == 7 for s in spy)  # interpolation is not an argument of the op
    spy.clear()
    noisy = build_from_cfg(dict(type='RandAugment', num_policies=1, magnitude_level=6,
                                total_level=10, magnitude_std='inf',
                                policies=[dict(type='TestSpyOp', magnitude_key='magnitude',
                                               magnitude_range=(10, 0))]), PIPELINES)
    random.seed(0)
    for _ in range(200):
        noisy({'img': None})
    values = [s['magnitude'] for s in spy]
    assert 4 - 1e-9 <= min(values) and max(values) <= 10 and np.std(values) > 1


def test_auto_augment_keeps_a_policys_own_pad_val(spy):
    aug = build_from_cfg(dict(type='AutoAugment', policies=[[dict(type='TestSpyOp', pad_val=3)],
                                                            [dict(type='TestSpyOp')]]), PIPELINES)
    assert [s['pad_val'] for s in spy] == [3, 128]
    assert len(aug.sub_policy) == 2


def test_operations_with_prob_one_change_the_image_and_keep_its_dtype():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    for cfg in [dict(type='Invert'), dict(type='Solarize', thr=0), dict(type='Posterize', bits=1),
                dict(type='Shear', magnitude=0.5), dict(type='Translate', magnitude=0.5),
                dict(type='Rotate', angle=45.), dict(type='Brightness', magnitude=0.5),
                dict(type='Cutout', shape=10, pad_val=0)]:
        out = build_from_cfg(dict(cfg, prob=1.0), PIPELINES)({'img': img.copy()})['img']
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert not np.array_equal(out, img), cfg
    np.testing.assert_array_equal(
        build_from_cfg(dict(type='Invert', prob=0.0), PIPELINES)({'img': img})['img'], img)


def test_random_erasing_does_not_write_into_a_shared_image():
    img = np.full((30, 30, 3), 9, np.uint8)
    view = img[5:25, 5:25]
    np.random.seed(0)
    out = build_from_cfg(dict(type='RandomErasing', erase_prob=1.0, fill_color=0), PIPELINES)(
        {'img': view})['img']
    assert (out == 0).any() and (img == 9).all()
