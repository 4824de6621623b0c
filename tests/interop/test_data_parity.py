"""fastrun's data sets, metrics and samplers against mmcls 0.25's on the same generated files."""
import warnings

import numpy as np
import pytest

import fastrun.datasets as F
from fastrun.datasets import metrics as FM
from tests import datagen

warnings.filterwarnings('ignore', category=UserWarning, module='mmcv')
import mmcls.datasets as C  # noqa: E402
from mmcls.core.evaluation import average_performance, mAP  # noqa: E402


def _same_infos(ours, theirs):
    assert len(ours.data_infos) == len(theirs.data_infos)
    for a, b in zip(ours.data_infos, theirs.data_infos):
        assert sorted(a) == sorted(b)
        for key in a:
            if isinstance(a[key], np.ndarray):
                assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
                assert np.array_equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


def _same(ours, theirs):
    assert list(ours.CLASSES) == list(theirs.CLASSES)
    assert len(ours) == len(theirs)
    a, b = ours.get_gt_labels(), theirs.get_gt_labels()
    assert a.dtype == b.dtype and np.array_equal(a, b)
    assert [ours.get_cat_ids(i) for i in range(len(ours))] == \
        [theirs.get_cat_ids(i) for i in range(len(theirs))]


@pytest.fixture
def folders(tmp_path):
    root = str(tmp_path / 'train')
    datagen.class_folders(root, {
        'n01': ['b.png', 'a.JPG', 'sub/z/c.jpeg', 'x.txt', '.h.png'],
        'n02': ['q.bmp', 'p.png'],
        'n03': ['deep/er/r.tif', 'deep/s.ppm'],
        'n04': ['none.gif'],
    })
    return root


def test_custom_and_imagenet_from_folders(folders, tmp_path):
    with pytest.warns(UserWarning), warnings.catch_warnings():
        ours = F.CustomDataset(data_prefix=folders)
        theirs = C.CustomDataset(data_prefix=folders)
    _same(ours, theirs)
    _same_infos(ours, theirs)
    classes = ['a', 'b', 'c', 'd']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        _same_infos(F.ImageNet(data_prefix=folders, classes=classes),
                    C.ImageNet(data_prefix=folders, classes=classes))
        with pytest.raises(ValueError, match='4 class sub-folders'):
            F.ImageNet(data_prefix=folders)
        with pytest.raises(AssertionError):
            C.ImageNet(data_prefix=folders)


def test_custom_imagenet_imagenet21k_from_ann_file(folders, tmp_path):
    ann = tmp_path / 'ann.txt'
    ann.write_text('n01/a.JPG 3\nn02/with space.png 1\nn03/deep/s.ppm 0\n')
    names = tmp_path / 'names.txt'
    names.write_text('w\nx\ny\nz\n')
    for ours, theirs in ((F.CustomDataset, C.CustomDataset), (F.ImageNet, C.ImageNet)):
        a = ours(data_prefix=folders, ann_file=str(ann), classes=str(names))
        b = theirs(data_prefix=folders, ann_file=str(ann), classes=str(names))
        _same(a, b)
        _same_infos(a, b)
    assert list(F.ImageNet(data_prefix=folders, ann_file=str(ann)).CLASSES) == \
        list(C.ImageNet(data_prefix=folders, ann_file=str(ann)).CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        a = F.ImageNet21k(data_prefix=folders, ann_file=str(ann), classes=str(names))
        b = C.ImageNet21k(data_prefix=folders, ann_file=str(ann), classes=str(names))
    assert len(a) == len(b) == 3
    for i in range(3):
        x, y = a.get_data_info(i), b.get_data_info(i)
        assert x['img_info'] == y['img_info'] and x['img_prefix'] == y['img_prefix']
        assert x['gt_label'].dtype == y['gt_label'].dtype and x['gt_label'] == y['gt_label']
        assert a.get_cat_ids(i) == b.get_cat_ids(i)


def _oracle_cifar(cls, monkeypatch, **kw):
    # mmcls checks the published md5 sums and downloads on a mismatch: let it read the files.
    import mmcls.datasets.cifar as mod
    monkeypatch.setattr(cls, '_check_integrity', lambda self: True)
    monkeypatch.setattr(mod, 'check_integrity', lambda *a, **k: True)
    return cls(**kw)


@pytest.mark.parametrize('test_mode', [False, True])
def test_cifar10_and_cifar100(tmp_path, monkeypatch, test_mode):
    datagen.cifar(str(tmp_path))
    datagen.cifar(str(tmp_path), base_folder='cifar-100-python', train=('train',),
                  test=('test',), num_classes=100, label_key='fine_labels',
                  meta=('meta', 'fine_label_names'), seed=1)
    for ours, theirs in ((F.CIFAR10, C.CIFAR10), (F.CIFAR100, C.CIFAR100)):
        a = ours(data_prefix=str(tmp_path), pipeline=[], test_mode=test_mode)
        b = _oracle_cifar(theirs, monkeypatch, data_prefix=str(tmp_path), pipeline=[],
                          test_mode=test_mode)
        _same(a, b)
        _same_infos(a, b)


@pytest.mark.parametrize('test_mode', [False, True])
def test_mnist_and_fashion_mnist(tmp_path, test_mode):
    datagen.mnist(str(tmp_path))  # mmcls reads the unpacked files
    for ours, theirs in ((F.MNIST, C.MNIST), (F.FashionMNIST, C.FashionMNIST)):
        a = ours(data_prefix=str(tmp_path), pipeline=[], test_mode=test_mode)
        b = theirs(data_prefix=str(tmp_path), pipeline=[], test_mode=test_mode)
        _same(a, b)
        _same_infos(a, b)


@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / 'VOCdevkit' / 'VOC2007'
    rng = np.random.RandomState(0)
    objects = {}
    for i in range(12):
        picks = rng.choice(len(F.VOC.CLASSES), size=rng.randint(1, 4), replace=False)
        objects[f'{i:06d}'] = [(F.VOC.CLASSES[c], int(rng.rand() < 0.3)) for c in picks]
    objects['000099'] = [('dog', 1), ('dog', 0), ('alien', 0)]
    return str(root) + '/', datagen.voc(str(root), objects)


@pytest.mark.parametrize('difficult', [None, True, False])
def test_voc_labels_and_multi_label_evaluate(voc_root, difficult):
    root, ann = voc_root
    a = F.VOC(data_prefix=root, ann_file=ann, pipeline=[], difficult_as_postive=difficult)
    b = C.VOC(data_prefix=root, ann_file=ann, pipeline=[], difficult_as_postive=difficult)
    _same(a, b)
    _same_infos(a, b)
    scores = list(np.random.RandomState(1).rand(len(a), 20))
    metrics = ['mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for options in (None, {'thr': 0.3}, {'k': 2}, {'thr': 0.6, 'k': 1}):
            ours = a.evaluate(scores, metric=metrics, metric_options=options)
            theirs = b.evaluate(scores, metric=metrics, metric_options=options)
            assert ours == pytest.approx(theirs, abs=1e-9)
        assert a.evaluate(scores[:5], indices=list(range(5))) == pytest.approx(
            b.evaluate(scores[:5], indices=list(range(5))))


def test_multi_label_metric_functions(tmp_path):
    rng = np.random.RandomState(2)
    scores = rng.rand(40, 6)
    targets = rng.choice([-1, 0, 1], size=(40, 6), p=[0.1, 0.5, 0.4])
    assert FM.mAP(scores, targets) == pytest.approx(mAP(scores, targets.copy()), abs=1e-9)
    for kw in (dict(thr=0.5), dict(thr=0.2), dict(k=1), dict(k=3)):
        assert FM.average_performance(scores, targets, **kw) == pytest.approx(
            average_performance(scores, targets.copy(), **kw), abs=1e-9)


def test_cub(tmp_path):
    samples = [(f'{c:03d}.X/{i}.jpg', c, (i + c) % 3 != 0) for c in (1, 2, 200) for i in range(3)]
    files = datagen.cub(str(tmp_path), samples)
    for test_mode in (False, True):
        kw = dict(data_prefix=str(tmp_path / 'images'), ann_file=files[0], pipeline=[],
                  image_class_labels_file=files[1], train_test_split_file=files[2],
                  test_mode=test_mode)
        a, b = F.CUB(**kw), C.CUB(**kw)
        _same(a, b)
        _same_infos(a, b)


def _load_labels(self):
    return [dict(img_info=dict(filename=str(i)), gt_label=np.array(label, np.int64))
            for i, label in enumerate(self.labels)]


class _Ours(F.BaseDataset):
    CLASSES = ('a', 'b', 'c', 'd', 'e')
    load_annotations = _load_labels

    def __init__(self, labels):
        self.labels = labels
        super().__init__(data_prefix='', pipeline=[])


class _Theirs(C.BaseDataset):
    CLASSES = ('a', 'b', 'c', 'd', 'e')
    load_annotations = _load_labels

    def __init__(self, labels):
        self.labels = labels
        super().__init__(data_prefix='', pipeline=[])


class _Pair:
    """The same labels as a fastrun and an mmcls data set (annotation form)."""

    @staticmethod
    def make(labels):
        return _Ours(labels), _Theirs(labels)


def test_single_label_evaluate_numbers_equal_mmcls():
    rng = np.random.RandomState(3)
    labels = rng.randint(0, 5, 50)
    ours, theirs = _Pair.make(labels)
    scores = list(rng.dirichlet(np.ones(5), size=50))
    metrics = ['accuracy', 'precision', 'recall', 'f1_score', 'support']
    for options in ({'topk': (1, 5)}, {'topk': 1}, {'topk': (1, 3), 'thrs': 0.3},
                    {'topk': (1, 2), 'thrs': (0.0, 0.25, 0.5)}, {'average_mode': 'none'},
                    {'topk': (1,), 'thrs': (0.1, 0.4), 'average_mode': 'none'}):
        a = ours.evaluate(scores, metric=metrics, metric_options=options)
        b = theirs.evaluate(scores, metric=metrics, metric_options=options)
        assert sorted(a) == sorted(b)
        for key in b:
            assert np.allclose(a[key], b[key], atol=1e-9), (options, key)
    idx = [3, 1, 4, 15, 9]
    assert ours.evaluate([scores[i] for i in idx], indices=idx) == pytest.approx(
        theirs.evaluate([scores[i] for i in idx], indices=idx))


def test_wrappers_equal_mmcls():
    labels = [0, 0, 1, 0, 2, 2, 0, 3, 0, 0, 1]
    ours, theirs = _Pair.make(labels)
    for thr in (0.1, 0.3, 0.9):
        assert F.ClassBalancedDataset(ours, thr).repeat_indices == \
            C.ClassBalancedDataset(theirs, thr).repeat_indices
    for seed in (None, 0, 5):
        for fold in range(3):
            for test_mode in (False, True):
                a = F.KFoldDataset(ours, fold=fold, num_splits=3, test_mode=test_mode, seed=seed)
                b = C.KFoldDataset(theirs, fold=fold, num_splits=3, test_mode=test_mode,
                                   seed=seed)
                assert a.indices == b.indices
                assert np.array_equal(a.get_gt_labels(), b.get_gt_labels())
    rep_a, rep_b = F.RepeatDataset(ours, 3), C.RepeatDataset(theirs, 3)
    assert [rep_a.get_cat_ids(i) for i in range(len(rep_a))] == \
        [rep_b.get_cat_ids(i) for i in range(len(rep_b))]
    second_a, second_b = _Pair.make([4, 3, 2])
    scores = list(np.random.RandomState(4).dirichlet(np.ones(5), size=len(labels) + 3))
    for separate in (True, False):
        a = F.ConcatDataset([ours, second_a], separate_eval=separate)
        b = C.ConcatDataset([theirs, second_b], separate_eval=separate)
        assert [a.get_cat_ids(i) for i in range(len(a))] == \
            [b.get_cat_ids(i) for i in range(len(b))]
        assert a.evaluate(scores, metric_options={'topk': (1, 2)}) == pytest.approx(
            b.evaluate(scores, metric_options={'topk': (1, 2)}))


def test_build_dataset_wrappers_equal_mmcls(folders):
    inner = dict(type='CustomDataset', data_prefix=folders)
    cfgs = [dict(type='RepeatDataset', times=2, dataset=inner),
            dict(type='KFoldDataset', dataset=inner, fold=1, num_splits=2, seed=3),
            [inner, dict(inner, test_mode=True)]]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for cfg in cfgs:
            a = F.build_dataset(cfg, dict(test_mode=True))
            b = C.build_dataset(cfg, dict(test_mode=True))
            assert type(a).__name__ == type(b).__name__ and len(a) == len(b)
            assert [a.get_cat_ids(i) for i in range(len(a))] == \
                [b.get_cat_ids(i) for i in range(len(b))]
            assert getattr(a, 'test_mode', None) == getattr(b, 'test_mode', None)


@pytest.mark.parametrize('n,world,kw', [
    (50, 2, {}), (37, 4, dict(num_repeats=2, selected_round=0)),
    (600, 3, {}), (600, 8, dict(selected_ratio=3)), (23, 2, dict(shuffle=False, selected_round=4)),
])
def test_repeat_aug_sampler_sequence_equals_mmcls(n, world, kw):
    from mmcls.datasets.samplers import RepeatAugSampler as Theirs
    if n < 256 and 'selected_round' not in kw:
        kw = dict(kw, selected_round=16)
    data = list(range(n))
    for rank in range(world):
        ours = F.RepeatAugSampler(data, num_replicas=world, rank=rank, seed=9, **kw)
        theirs = Theirs(data, num_replicas=world, rank=rank, seed=9, **kw)
        for epoch in (0, 1, 4):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs)
            assert len(ours) == len(theirs)


@pytest.mark.parametrize('round_up', [True, False])
def test_distributed_sampler_equals_mmcls(round_up):
    from mmcls.datasets.samplers import DistributedSampler as Theirs
    data = list(range(11))
    for rank in range(3):
        ours = F.DistributedSampler(data, num_replicas=3, rank=rank, round_up=round_up, seed=2)
        theirs = Theirs(data, num_replicas=3, rank=rank, round_up=round_up, seed=2)
        for epoch in (0, 2):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs)


@pytest.mark.parametrize('kw', [
    # mmcls's default persistent_workers=True fails without workers; fastrun's ignores it there
    dict(samples_per_gpu=3, workers_per_gpu=0, shuffle=False, persistent_workers=False,
         pin_memory=False),
    dict(samples_per_gpu=4, workers_per_gpu=2, shuffle=False, drop_last=True, pin_memory=False,
         persistent_workers=True),
    dict(samples_per_gpu=5, workers_per_gpu=1, shuffle=False, persistent_workers=False,
         pin_memory=False, sampler_cfg=dict(type='RepeatAugSampler', selected_round=0)),
])
def test_build_dataloader_equals_mmcls(kw):
    from mmcls.datasets import build_dataloader as theirs_build

    from fastrun.builder import build_dataloader
    data = list(range(23))
    ours = build_dataloader(data, seed=4, **copy_kw(kw))
    theirs = theirs_build(data, dist=False, seed=4, **copy_kw(kw))
    for attr in ('batch_size', 'num_workers', 'pin_memory', 'persistent_workers', 'drop_last'):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert len(ours) == len(theirs)
    assert list(ours.batch_sampler) == list(theirs.batch_sampler)


def copy_kw(kw):
    import copy
    return copy.deepcopy(kw)


def test_worker_seeds_equal_mmcls():
    import random

    from mmcls.datasets.builder import worker_init_fn

    from fastrun.builder import _worker_init
    for rank, workers, worker_id in ((0, 2, 1), (3, 4, 2)):
        worker_init_fn(worker_id, num_workers=workers, rank=rank, seed=10)
        expected = (np.random.randint(1 << 30), random.random())
        _worker_init(10 + rank * workers)(worker_id)
        assert (np.random.randint(1 << 30), random.random()) == expected
