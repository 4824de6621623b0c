"""Datasets and metrics: Digits splits, evaluate() against hand-computed values, ImageFolder."""
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fastrun.datasets import BaseDataset, Digits, ImageFolder, SyntheticClassification, metrics
from fastrun.registry import DATASETS, build_from_cfg

# ------------------------------------------------------------------ a hand-checkable case
# 3 classes, 6 samples. Arg-max predictions: 0, 1, 1, 0, 2, 1 against labels 0, 0, 1, 1, 2, 2.
# Confusion (row = true, col = pred): [[1, 1, 0], [1, 1, 0], [0, 1, 1]].
LABELS = np.array([0, 0, 1, 1, 2, 2])
SCORES = np.array([
    [0.70, 0.20, 0.10],   # true 0: top-1 right
    [0.20, 0.50, 0.30],   # true 0: ranked last -> wrong even at top-2
    [0.15, 0.80, 0.05],   # true 1: top-1 right
    [0.60, 0.30, 0.10],   # true 1: second -> right at top-2
    [0.10, 0.20, 0.70],   # true 2: top-1 right
    [0.25, 0.45, 0.30],   # true 2: second -> right at top-2
])
# top-1: 3/6; top-2: 5/6; top-3: 6/6.
# Per class precision TP/predicted: 1/2, 1/3, 1/1 -> macro (50 + 33.33 + 100) / 3 = 61.11
# Per class recall TP/actual: 1/2 each -> 50.
# Per class F1: 50, 2*33.33*50/83.33 = 40, 2*100*50/150 = 66.67 -> macro 52.22
PRECISION = (50 + 100 / 3 + 100) / 3
RECALL = 50.0
F1 = (50 + 40 + 200 / 3) / 3


class _Fixed(BaseDataset):
    """A six-sample dataset with the labels above (images irrelevant to evaluate)."""
    CLASSES = ('a', 'b', 'c')

    def __init__(self, labels=LABELS):
        super().__init__()
        self.gt_labels = torch.as_tensor(labels, dtype=torch.long)
        self.imgs = torch.zeros(len(labels), 1, 2, 2)


def test_evaluate_accuracy_topk_hand_computed():
    ds = _Fixed()
    res = ds.evaluate(list(SCORES), metric='accuracy', metric_options={'topk': (1, 2, 3)})
    assert res == pytest.approx({'accuracy_top-1': 50.0, 'accuracy_top-2': 500 / 6,
                                 'accuracy_top-3': 100.0})
    # an int topk gives the single mmcls key 'accuracy'
    assert ds.evaluate(SCORES, metric_options={'topk': 1}) == pytest.approx({'accuracy': 50.0})


def test_evaluate_top5_on_ten_classes_hand_computed():
    # 4 samples over 10 classes: the label sits at rank 1, 3, 5 and 6 of its row.
    labels = np.array([0, 1, 2, 3])
    scores = np.zeros((4, 10))
    for row, (label, rank) in enumerate(zip(labels, (1, 3, 5, 6))):
        order = [c for c in range(10) if c != label]
        order.insert(rank - 1, label)
        scores[row, order] = np.linspace(1.0, 0.1, 10)   # decreasing scores by rank
    res = _Fixed(labels).evaluate(scores)                  # default topk (1, 5)
    assert res == pytest.approx({'accuracy_top-1': 25.0, 'accuracy_top-5': 75.0})


def test_evaluate_precision_recall_f1_support_hand_computed():
    ds = _Fixed()
    res = ds.evaluate(SCORES, metric=['precision', 'recall', 'f1_score', 'support'])
    assert res == pytest.approx({'precision': PRECISION, 'recall': RECALL, 'f1_score': F1,
                                 'support': 6.0})
    per_class = ds.evaluate(SCORES, metric=['precision', 'recall', 'f1_score', 'support'],
                            metric_options={'average_mode': 'none'})
    np.testing.assert_allclose(per_class['precision'], [50, 100 / 3, 100])
    np.testing.assert_allclose(per_class['recall'], [50, 50, 50])
    np.testing.assert_allclose(per_class['f1_score'], [50, 40, 200 / 3])
    np.testing.assert_array_equal(per_class['support'], [2, 2, 2])


def test_macro_metrics_agree_with_sklearn():
    sk = pytest.importorskip('sklearn.metrics')
    rng = np.random.RandomState(3)
    labels = rng.randint(0, 5, 200)
    scores = rng.rand(200, 5) + np.eye(5)[labels] * 0.3   # better than chance, all classes hit
    p, r, f, _ = sk.precision_recall_fscore_support(labels, scores.argmax(1), average='macro')
    got = metrics.precision_recall_f1(scores, labels)
    assert got == pytest.approx((100 * p, 100 * r, 100 * f))
    assert metrics.accuracy(scores, labels, topk=1) == pytest.approx(
        100 * sk.accuracy_score(labels, scores.argmax(1)))


def test_class_never_predicted_scores_zero_precision():
    labels = np.array([0, 1, 2])
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.3, 0.1]])  # class 2 never
    prec, rec, f1 = metrics.precision_recall_f1(scores, labels, average_mode='none')
    np.testing.assert_allclose(prec, [50, 100, 0])
    np.testing.assert_allclose(rec, [100, 100, 0])
    np.testing.assert_allclose(f1, [200 / 3, 100, 0])


def test_evaluate_accepts_tensors_list_and_indices():
    ds = _Fixed()
    as_array = ds.evaluate(SCORES, metric_options={'topk': (1, 2)})
    as_tensors = ds.evaluate([torch.tensor(s) for s in SCORES], metric_options={'topk': (1, 2)})
    as_batches = ds.evaluate([torch.tensor(SCORES[:4]), torch.tensor(SCORES[4:])],
                             metric_options={'topk': (1, 2)})
    assert as_array == as_tensors == as_batches
    # a subset: samples 0, 2, 4 are all top-1 right
    sub = ds.evaluate(SCORES[[0, 2, 4]], metric_options={'topk': (1,)}, indices=[0, 2, 4])
    assert sub == {'accuracy_top-1': 100.0}


def test_evaluate_thresholds_like_mmcls():
    ds = _Fixed()
    # thr 0.65: only samples 0 (0.70), 2 (0.80) and 4 (0.70) are confident -> 3 right of 6;
    # thr 0.75: only sample 2.
    res = ds.evaluate(SCORES, metric=['accuracy', 'recall'],
                      metric_options={'topk': (1,), 'thrs': (0.65, 0.75)})
    assert res == pytest.approx({'accuracy_top-1_thr_0.65': 50.0,
                                 'accuracy_top-1_thr_0.75': 100 / 6,
                                 'recall_thr_0.65': 50.0,
                                 'recall_thr_0.75': (0 + 50 + 0) / 3})


def test_evaluate_errors_name_the_problem():
    ds = _Fixed()
    with pytest.raises(ValueError, match=r"mAP.*allowed metrics are \['accuracy', 'precision'"):
        ds.evaluate(SCORES, metric=['accuracy', 'mAP'])
    with pytest.raises(ValueError, match='topk=5 is larger than the number of classes'):
        ds.evaluate(SCORES)   # default topk (1, 5) on 3 classes: mmcls fails here too
    with pytest.raises(ValueError, match='5 results for 6'):
        ds.evaluate(SCORES[:5], metric_options={'topk': (1,)})
    with pytest.raises(ValueError, match='top_k'):
        ds.evaluate(SCORES, metric_options={'top_k': (1,)})


# ------------------------------------------------------------------ Digits
def test_digits_splits_sizes_disjoint_cover_everything():
    splits = {s: Digits(s) for s in ('train', 'val', 'test')}
    sizes = {s: len(d) for s, d in splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes == {'train': 1259, 'val': 269, 'test': 269}
    idx = {s: set(d.indices.tolist()) for s, d in splits.items()}
    assert not idx['train'] & idx['val'] and not idx['train'] & idx['test']
    assert not idx['val'] & idx['test']
    assert idx['train'] | idx['val'] | idx['test'] == set(range(1797))
    # stratified: every class is in every split, in about the same proportion
    for d in splits.values():
        counts = np.bincount(d.get_gt_labels(), minlength=10)
        assert counts.min() > 0
        assert counts.max() - counts.min() <= 0.05 * len(d) + 2


def test_digits_items_and_normalisation():
    train = Digits('train')
    item = train[0]
    assert item['img'].shape == (1, 8, 8) and item['img'].dtype == torch.float32
    assert item['gt_label'].dtype == torch.long and item['gt_label'].dim() == 0
    assert train.CLASSES == tuple('0123456789')
    # fixed whole-set constants: the train split ends up close to zero mean, unit std
    assert abs(float(train.imgs.mean())) < 0.05
    assert abs(float(train.imgs.std()) - 1) < 0.05
    # value check against scikit-learn's own pixels
    from sklearn.datasets import load_digits
    raw = load_digits().images[train.indices[0]]
    np.testing.assert_allclose(item['img'][0].numpy(), (raw / 16 - Digits.MEAN) / Digits.STD,
                               rtol=1e-5, atol=1e-6)
    batch = next(iter(DataLoader(train, batch_size=5)))
    assert batch['img'].shape == (5, 1, 8, 8) and batch['gt_label'].shape == (5,)


def test_digits_split_is_deterministic_per_seed():
    a, b = Digits('val', seed=7), Digits('val', seed=7)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert torch.equal(a.imgs, b.imgs)
    assert not np.array_equal(a.indices, Digits('val', seed=8).indices)
    # pinned: seed 0 must give this split on every machine (head and index sum per split)
    for split, (head, total) in PINNED_SEED0.items():
        idx = Digits(split, seed=0).indices
        assert idx[:5].tolist() == head and int(idx.sum()) == total


PINNED_SEED0 = {'train': ([0, 1, 2, 4, 6], 1141975), 'val': ([5, 16, 22, 26, 33], 241181),
                'test': ([3, 7, 13, 19, 36], 230550)}


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'val', 'test'\]"):
        Digits('validation')
    with pytest.raises(ValueError, match='val_ratio \\+ test_ratio'):
        Digits(val_ratio=0.5, test_ratio=0.5)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    # None in sys.modules makes `import sklearn...` raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, 'sklearn', None)
    monkeypatch.setitem(sys.modules, 'sklearn.datasets', None)
    with pytest.raises(ImportError, match=r'pip install fastrun\[digits\]'):
        Digits()


def test_digits_reads_sklearns_file_without_importing_sklearn():
    import subprocess
    code = ('import sys\nfrom fastrun.datasets import Digits\nd = Digits("val")\n'
            'print(len(d), sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split(None, 1) == [str(len(Digits('val'))), '[]\n']


def test_digits_file_holds_exactly_what_sklearns_loader_gives(monkeypatch):
    from sklearn.datasets import load_digits

    from fastrun.datasets import digits
    images, labels = digits._digits_arrays(digits.bundled_digits_file())
    ref = load_digits()
    np.testing.assert_array_equal(images, ref.images.astype(np.float32))
    np.testing.assert_array_equal(labels, ref.target)
    # no file where scikit-learn keeps it (another layout): scikit-learn's own loader, same data
    fast = Digits('test', seed=3)
    monkeypatch.setattr(digits, 'bundled_digits_file', lambda: None)
    slow = Digits('test', seed=3)
    assert torch.equal(fast.imgs, slow.imgs) and torch.equal(fast.gt_labels, slow.gt_labels)


def test_digits_from_registry_and_evaluate_perfect_scores():
    ds = build_from_cfg(dict(type='Digits', split='test'), DATASETS)
    onehot = np.eye(10)[ds.get_gt_labels()]
    assert ds.evaluate(onehot, metric=['accuracy', 'f1_score']) == pytest.approx(
        {'accuracy_top-1': 100.0, 'accuracy_top-5': 100.0, 'f1_score': 100.0})


# ------------------------------------------------------------------ SyntheticClassification
def test_synthetic_is_deterministic_and_learnable_by_construction():
    a = SyntheticClassification(num_samples=64, shape=(2, 4, 4), num_classes=5, seed=1)
    b = SyntheticClassification(num_samples=64, shape=(2, 4, 4), num_classes=5, seed=1)
    assert torch.equal(a.imgs, b.imgs) and torch.equal(a.gt_labels, b.gt_labels)
    assert not torch.equal(a.imgs, SyntheticClassification(64, (2, 4, 4), 5, seed=2).imgs)
    item = a[3]
    assert item['img'].shape == (2, 4, 4) and item['gt_label'].dtype == torch.long
    assert len(a) == 64 and a.CLASSES == ('0', '1', '2', '3', '4')
    assert set(a.get_gt_labels().tolist()) <= set(range(5))
    # learnable: a least-squares linear fit of one-hot labels separates them well
    x = a.imgs.flatten(1).double()
    y = torch.nn.functional.one_hot(a.gt_labels, 5).double()
    w = torch.linalg.lstsq(x, y).solution
    assert float(((x @ w).argmax(1) == a.gt_labels).double().mean()) > 0.9
    noise = SyntheticClassification(num_samples=64, num_classes=5, learnable=False)
    assert noise.gt_labels.max() < 5


# ------------------------------------------------------------------ ImageFolder
def _write_png(path, array):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_rgb_labels_values_and_resize(tmp_path):
    red = np.zeros((4, 6, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((4, 6, 3), np.uint8)
    blue[..., 2] = 51
    # folder names sort to the labels: cat -> 0, dog -> 1
    _write_png(tmp_path / 'dog' / 'b.png', blue)
    _write_png(tmp_path / 'dog' / 'a.PNG', blue)
    _write_png(tmp_path / 'cat' / 'x.png', red)
    (tmp_path / 'cat' / 'notes.txt').write_text('not an image')
    ds = ImageFolder(str(tmp_path))
    assert ds.CLASSES == ('cat', 'dog') and len(ds) == 3
    assert ds.get_gt_labels().tolist() == [0, 1, 1]
    item = ds[0]
    assert item['img'].shape == (3, 4, 6) and item['img'].dtype == torch.float32
    assert torch.allclose(item['img'][0], torch.ones(4, 6)) and float(item['img'][1:].abs().max()) == 0
    assert torch.allclose(ds[1]['img'][2], torch.full((4, 6), 0.2))
    assert int(ds[1]['gt_label']) == 1
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch['img'].shape == (3, 3, 4, 6) and batch['gt_label'].tolist() == [0, 1, 1]
    resized = ImageFolder(tmp_path, img_size=(2, 3))
    assert resized[0]['img'].shape == (3, 2, 3)
    assert torch.allclose(resized[0]['img'][0], torch.ones(2, 3))
    # explicit classes pick and order the folders
    only_dog = ImageFolder(tmp_path, classes=['dog'])
    assert only_dog.CLASSES == ('dog',) and only_dog.get_gt_labels().tolist() == [0, 0]


def test_image_folder_grayscale_is_one_channel(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    _write_png(tmp_path / 'digits' / 'g.png', gray)
    ds = ImageFolder(tmp_path, img_size=5)
    assert ds[0]['img'].shape == (1, 5, 5)
    raw = ImageFolder(tmp_path)[0]['img']
    assert raw.shape == (1, 3, 4)
    np.testing.assert_allclose(raw[0].numpy(), gray / 255.0, rtol=1e-6)


def test_image_folder_missing_and_empty_folders(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError, match='nowhere'):
        ImageFolder(missing)
    with pytest.raises(ValueError, match='no class'):
        ImageFolder(tmp_path)
    (tmp_path / 'empty_class').mkdir()
    with pytest.raises(ValueError, match='empty_class'):
        ImageFolder(tmp_path)
    _write_png(tmp_path / 'full' / 'a.png', np.zeros((2, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match='ghost'):
        ImageFolder(tmp_path, classes=['full', 'ghost'])


# ------------------------------------------------------------------ batches by one tensor index
def _plain_loader(ds, batch_size, seed, drop_last):
    """What build_dataloader gave before in-memory batching: per-sample __getitem__ + collate."""
    from fastrun.sampler import ResumableSampler
    sampler = ResumableSampler(ds, shuffle=True, seed=seed, num_replicas=1, rank=0)
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                      generator=torch.Generator().manual_seed(seed))


def _assert_same_batch(a, b):
    assert type(a) is type(b)
    pairs = [(a[k], b[k]) for k in a] if isinstance(a, dict) else list(zip(a, b, strict=True))
    if isinstance(a, dict):
        assert list(a) == list(b)
    for x, y in pairs:
        assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
        assert x.is_contiguous()


IN_MEMORY = {
    'digits': lambda: Digits('train'),
    'synthetic': lambda: SyntheticClassification(num_samples=70, shape=(2, 3, 3), num_classes=3),
    'tensors': lambda: torch.utils.data.TensorDataset(torch.randn(70, 5), torch.arange(70) % 4),
}


@pytest.mark.parametrize('drop_last', [False, True])
@pytest.mark.parametrize('kind', list(IN_MEMORY))
def test_in_memory_loader_gives_the_batches_of_a_per_sample_loader(kind, drop_last):
    from fastrun.builder import build_dataloader
    from fastrun.datasets.loader import InMemoryLoader
    from fastrun.state import loader_state
    from fastrun.sampler import start_after
    ds = IN_MEMORY[kind]()
    fast = build_dataloader(ds, 16, seed=5, drop_last=drop_last)
    assert isinstance(fast, InMemoryLoader)
    assert not isinstance(build_dataloader(ds, 16, workers_per_gpu=1, seed=5), InMemoryLoader)
    plain = _plain_loader(ds, 16, 5, drop_last)
    assert len(fast) == len(plain)
    for epoch in (0, 1, 1):
        fast.sampler.set_epoch(epoch)
        plain.sampler.set_epoch(epoch)
        got, want = list(fast), list(plain)
        assert len(got) == len(want) == len(fast)
        for a, b in zip(got, want):
            _assert_same_batch(a, b)
    # a run resumed 3 batches into an epoch draws the rest of that epoch's batches
    fast.sampler.set_epoch(2)
    plain.sampler.set_epoch(2)
    rest_fast, exact = start_after(fast, 3)
    rest_plain, _ = start_after(plain, 3)
    assert exact
    got, want = list(rest_fast), list(rest_plain)
    assert len(got) == len(fast) - 3
    for a, b in zip(got, want, strict=True):
        _assert_same_batch(a, b)
    # checkpoints keep the loader's sampler and generator state: both moved alike
    sa, sb = loader_state(fast), loader_state(plain)
    assert sa['sampler'] == sb['sampler'] and torch.equal(sa['generator'], sb['generator'])


class _PerSampleSynthetic(SyntheticClassification):
    """The same data set, but with its own __getitem__: it goes through the per-sample path."""

    def __getitem__(self, idx):
        return dict(img=self.imgs[idx], gt_label=self.gt_labels[idx])


def test_training_on_in_memory_batches_equals_per_sample_and_resumes_exactly(tmp_path):
    from fastrun.registry import DATASETS
    from tests.test_resume import Crash, assert_same_run, make_cfg, scramble_rngs, train
    DATASETS.register_module(module=_PerSampleSynthetic, force=True)
    try:
        per_sample_cfg = make_cfg(tmp_path / 'per_sample')
        per_sample_cfg.data.train.type = '_PerSampleSynthetic'
        per_sample = train(per_sample_cfg, 'per_sample')
    finally:
        DATASETS._module_dict.pop('_PerSampleSynthetic', None)
    straight = train(make_cfg(tmp_path / 'a'), 'straight')
    assert_same_run(per_sample, straight, tmp_path / 'per_sample', tmp_path / 'a')
    # interrupted 3 batches into epoch 2 (an iteration checkpoint every 5), then resumed
    cfg = make_cfg(tmp_path / 'b', kind='iter')
    straight_iter = train(make_cfg(tmp_path / 'c', kind='iter'), 'straight')
    with pytest.raises(RuntimeError, match='simulated crash'):
        train(cfg, 'first', hooks=[Crash(13)])
    scramble_rngs()
    resumed = train(cfg, 'second', resume_from=str(tmp_path / 'b' / 'iter_10.pth'))
    assert_same_run(straight_iter, resumed, tmp_path / 'c', tmp_path / 'b')
