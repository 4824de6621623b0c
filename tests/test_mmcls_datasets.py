"""mmcls 0.x's data sets read natively: layouts, data_infos, labels, classes, errors, wrappers."""
import os
import pickle

import numpy as np
import pytest

from fastrun.datasets import (CIFAR10, CIFAR100, CUB, MNIST, VOC, BaseDataset,
                              ClassBalancedDataset, ConcatDataset, CustomDataset, FashionMNIST,
                              ImageNet, ImageNet21k, KFoldDataset, RepeatDataset, StanfordCars,
                              build_dataset)
from fastrun.datasets import metrics as M
from fastrun.registry import PIPELINES
from tests import datagen


@PIPELINES.register_module(name='Data22Tag', force=True)
class _Tag:
    """A transform of the tests: adds a key and changes the label, to see copies are taken."""

    def __call__(self, results):
        results['tagged'] = True
        results['gt_label'] = results['gt_label'] + 100
        return results


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / 'train'
    datagen.class_folders(str(root), {
        'cat': ['b.png', 'a.JPG', 'sub/c.jpeg', 'notes.txt', '.hidden.png'],
        'dog': ['x.bmp'],
        'empty': ['readme.md'],
    })
    return str(root)


# ------------------------------------------------------------------ CustomDataset / ImageNet

def test_custom_dataset_from_class_folders(folders):
    with pytest.warns(UserWarning, match='no image in the folder.*empty'):
        ds = CustomDataset(data_prefix=folders)
    assert ds.CLASSES == ('cat', 'dog', 'empty')
    assert ds.class_to_idx == {'cat': 0, 'dog': 1, 'empty': 2}
    # sorted relative paths; case-insensitive extensions; hidden files and non-images skipped
    assert [i['img_info']['filename'] for i in ds.data_infos] == [
        'cat/a.JPG', 'cat/b.png', 'cat/sub/c.jpeg', 'dog/x.bmp']
    info = ds.data_infos[0]
    assert info['img_prefix'] == folders
    assert info['gt_label'].dtype == np.int64 and info['gt_label'].shape == ()
    assert ds.get_gt_labels().tolist() == [0, 0, 0, 1] and ds.get_gt_labels().dtype == np.int64
    assert ds.get_cat_ids(3) == [1] and len(ds) == 4


def test_getitem_runs_the_pipeline_on_a_copy(folders):
    with pytest.warns(UserWarning):
        ds = CustomDataset(data_prefix=folders, pipeline=[dict(type='Data22Tag')])
    item = ds[3]
    assert item['tagged'] and int(item['gt_label']) == 101
    assert item['img_info'] == {'filename': 'dog/x.bmp'}
    assert 'tagged' not in ds.data_infos[3] and int(ds.data_infos[3]['gt_label']) == 1
    assert int(ds[3]['gt_label']) == 101  # the same again: data_infos untouched


def test_custom_dataset_from_ann_file_with_spaces_and_class_file(tmp_path):
    ann = tmp_path / 'ann.txt'
    ann.write_text('a dir/my img.png 1\nb.png 0\n\n')
    names = tmp_path / 'classes.txt'
    names.write_text('zero\none\n')
    ds = CustomDataset(data_prefix=str(tmp_path), ann_file=str(ann), classes=str(names))
    assert [(i['img_info']['filename'], int(i['gt_label'])) for i in ds.data_infos] == [
        ('a dir/my img.png', 1), ('b.png', 0)]
    assert ds.CLASSES == ('zero', 'one')
    ann.write_text('b.png zero\n')
    with pytest.raises(ValueError, match=r"line 1: expected '<image path> <integer label>'"):
        CustomDataset(data_prefix=str(tmp_path), ann_file=str(ann))


def test_custom_dataset_errors_name_path_and_layout(tmp_path, folders):
    with pytest.raises(FileNotFoundError, match=r"data_prefix '.*nowhere' is not a directory; "
                                                r"expected data_prefix/<class_name>/\*\*/<image>"):
        CustomDataset(data_prefix=str(tmp_path / 'nowhere'))
    (tmp_path / 'bare' / 'a').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='found no image in the sub-folders'):
        CustomDataset(data_prefix=str(tmp_path / 'bare'))
    with pytest.raises(FileNotFoundError, match="annotation file '.*missing.txt' not found"):
        CustomDataset(data_prefix=folders, ann_file=str(tmp_path / 'missing.txt'))
    with pytest.raises(ValueError, match="backend 'petrel' is not supported"):
        CustomDataset(data_prefix=folders, file_client_args=dict(backend='petrel'))


def test_imagenet_class_count_check(folders):
    assert len(ImageNet.CLASSES) == 1000 and ImageNet.CLASSES[0] == 'tench, Tinca tinca'
    with pytest.raises(ValueError, match='has 3 class sub-folders but there are 1000 class names'):
        ImageNet(data_prefix=folders)
    with pytest.warns(UserWarning):
        ds = ImageNet(data_prefix=folders, classes=['c', 'd', 'e'])
    assert ds.CLASSES == ('c', 'd', 'e') and ds.get_gt_labels().tolist() == [0, 0, 0, 1]
    assert ds.extensions == tuple(sorted(ImageNet.IMG_EXTENSIONS))


def test_imagenet21k_serialized_infos_equal_the_plain_ones(tmp_path, folders):
    ann = tmp_path / 'val.txt'
    ann.write_text('cat/a.JPG 0\ndog/x.bmp 1\ncat/b.png 0\n')
    with pytest.warns(UserWarning, match='no class names'):
        plain = ImageNet21k(data_prefix=folders, ann_file=str(ann), serialize_data=False)
    with pytest.warns(UserWarning, match='no class names'):
        packed = ImageNet21k(data_prefix=folders, ann_file=str(ann),
                             pipeline=[dict(type='Data22Tag')])
    assert packed.data_infos == [] and len(packed) == 3
    for i in range(3):
        a, b = plain.get_data_info(i), packed.get_data_info(i)
        assert a['img_info'] == b['img_info'] and int(a['gt_label']) == int(b['gt_label'])
    assert packed.get_gt_labels().tolist() == [0, 1, 0] and packed.get_cat_ids(1) == [1]
    assert int(packed[1]['gt_label']) == 101 and int(packed[1]['gt_label']) == 101
    with pytest.raises(NotImplementedError):
        ImageNet21k(data_prefix=folders, ann_file=str(ann), classes=['a'], multi_label=True)


# ------------------------------------------------------------------ CIFAR

def test_cifar10_reads_the_pickle_batches(tmp_path):
    batches = datagen.cifar(str(tmp_path))
    ds = CIFAR10(data_prefix=str(tmp_path))
    assert len(ds) == 10 and ds.CLASSES == tuple(f'class{i}' for i in range(10))  # batches.meta
    data, labels = batches['data_batch_2']
    info = ds.data_infos[3]  # batch 2, second image
    planes = data[1].reshape(3, 32, 32)
    assert info['img'].shape == (32, 32, 3) and info['img'].dtype == np.uint8
    assert np.array_equal(info['img'][..., 0], planes[0])  # red plane first, HWC
    assert np.array_equal(info['img'][..., 2], planes[2])
    assert info['gt_label'].dtype == np.int64 and int(info['gt_label']) == labels[1]
    test = CIFAR10(data_prefix=str(tmp_path), test_mode=True)
    assert test.get_gt_labels().tolist() == batches['test_batch'][1]
    named = CIFAR10(data_prefix=str(tmp_path), classes=[str(i) for i in range(10)])
    assert named.CLASSES[3] == '3'


def test_cifar100_fine_labels_and_missing_meta(tmp_path):
    batches = datagen.cifar(str(tmp_path), base_folder='cifar-100-python', train=('train',),
                            test=('test',), num_classes=100, label_key='fine_labels', meta=None)
    ds = CIFAR100(data_prefix=str(tmp_path))
    assert ds.get_gt_labels().tolist() == batches['train'][1]
    assert ds.CLASSES[0] == 'apple' and len(ds.CLASSES) == 100  # no meta file: built-in names


def test_cifar_missing_file_is_one_line_and_never_downloads(tmp_path, monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError('a data set tried to open a connection')
    monkeypatch.setattr(socket, 'create_connection', no_network)
    monkeypatch.setattr(socket.socket, 'connect', no_network)
    datagen.cifar(str(tmp_path), train=('data_batch_1',))
    with pytest.raises(FileNotFoundError) as e:
        CIFAR10(data_prefix=str(tmp_path))
    msg = str(e.value)
    assert '\n' not in msg
    assert "data_batch_2' not found; expected data_prefix/cifar-10-batches-py/" in msg
    assert 'fastrun downloads nothing' in msg
    # a corrupted (or checksum-mismatching) file is read as it is, never fetched again
    with open(tmp_path / 'cifar-10-batches-py' / 'test_batch', 'ab') as f:
        f.write(b'trailing bytes change the md5')
    assert len(CIFAR10(data_prefix=str(tmp_path), test_mode=True)) == 2
    (tmp_path / 'cifar-10-batches-py' / 'test_batch').write_bytes(b'garbage')
    with pytest.raises(ValueError, match='is not a CIFAR python pickle batch'):
        CIFAR10(data_prefix=str(tmp_path), test_mode=True)


# ------------------------------------------------------------------ MNIST

@pytest.mark.parametrize('compress', [False, True])
def test_mnist_idx_files(tmp_path, compress):
    arrays = datagen.mnist(str(tmp_path), compress=compress)
    ds = MNIST(data_prefix=str(tmp_path))
    imgs, labels = arrays['train']
    assert len(ds) == 5 and ds.data_infos[2]['img'].shape == (28, 28)
    assert np.array_equal(ds.data_infos[2]['img'], imgs[2])
    assert ds.get_gt_labels().tolist() == labels.tolist()
    test = FashionMNIST(data_prefix=str(tmp_path), test_mode=True)
    assert test.get_gt_labels().tolist() == arrays['test'][1].tolist()
    assert test.CLASSES[0] == 'T-shirt/top' and ds.CLASSES[0] == '0 - zero'


def test_mnist_needs_only_its_split_and_names_missing_files(tmp_path):
    datagen.mnist(str(tmp_path))
    os.remove(tmp_path / 't10k-images-idx3-ubyte')
    assert len(MNIST(data_prefix=str(tmp_path))) == 5
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte' \(or "
                                                r"t10k-images-idx3-ubyte.gz\) not found"):
        MNIST(data_prefix=str(tmp_path), test_mode=True)
    (tmp_path / 'train-labels-idx1-ubyte').write_bytes(b'\x01\x02\x03\x04')
    with pytest.raises(ValueError, match='not an idx file'):
        MNIST(data_prefix=str(tmp_path))


# ------------------------------------------------------------------ VOC (multi-label)

@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / 'VOCdevkit' / 'VOC2007'
    ann = datagen.voc(str(root), {
        '000001': [('dog', 0), ('person', 1)],
        '000002': [('cat', 0), ('cat', 1), ('unicorn', 0)],
        '000003': [('person', 0)],
    })
    return str(root), ann


def test_voc_labels_with_difficult_objects(voc_root):
    root, ann = voc_root
    ds = VOC(data_prefix=root, ann_file=ann)
    idx = ds.class_to_idx
    labels = ds.get_gt_labels()
    assert labels.dtype == np.int8 and labels.shape == (3, 20)
    assert labels[0, idx['dog']] == 1 and labels[0, idx['person']] == -1
    assert labels[1, idx['cat']] == 1  # a non-difficult object wins over a difficult one
    assert labels[2].tolist() == [int(c == 'person') for c in VOC.CLASSES]
    assert ds.get_cat_ids(0) == [idx['dog']]
    assert ds.data_infos[0]['img_info'] == {'filename': 'JPEGImages/000001.jpg'}
    pos = VOC(data_prefix=root, ann_file=ann, difficult_as_postive=True).get_gt_labels()
    neg = VOC(data_prefix=root, ann_file=ann, difficult_as_postive=False).get_gt_labels()
    assert pos[0, idx['person']] == 1 and neg[0, idx['person']] == 0
    with pytest.raises(ValueError, match='VOC2007 folder'):
        VOC(data_prefix=root.replace('VOC2007', 'VOC2012'), ann_file=ann)


def test_voc_evaluate_hand_checked(voc_root):
    root, ann = voc_root
    ds = VOC(data_prefix=root, ann_file=ann, difficult_as_postive=False)
    scores = np.full((3, 20), 0.1)
    idx = ds.class_to_idx
    # dog: positive in image 0 only, ranked first -> AP 1. cat: positive in image 1, but
    # image 2 scores higher -> precision at it 1/2 -> AP 0.5. person: positive in image 2
    # (image 0's is difficult, mapped negative); it ranks second after image 0 -> AP 0.5.
    scores[0, idx['dog']] = 0.9
    scores[2, idx['cat']], scores[1, idx['cat']] = 0.8, 0.7
    scores[0, idx['person']], scores[2, idx['person']] = 0.9, 0.6
    res = ds.evaluate(scores, metric=['mAP', 'OP', 'OR', 'CP'])
    aps = [1.0, 0.5, 0.5] + [0.0] * 17  # classes without positives score 0
    assert res['mAP'] == pytest.approx(np.mean(aps) * 100)
    # thr 0.5: predicted dog@0, cat@2, cat@1, person@0, person@2 -> tp 3 (dog0, cat1, person2)
    assert res['OP'] == pytest.approx(60.0) and res['OR'] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="allowed metrics are \\['mAP'"):
        ds.evaluate(scores, metric='accuracy')
    k1 = ds.evaluate(scores, metric=['OP'], metric_options={'k': 1})
    assert k1['OP'] == pytest.approx(100 / 3)  # top-1 of each image: dog0, cat2, cat1


# ------------------------------------------------------------------ CUB, Stanford Cars

def test_cub_splits_and_zero_based_labels(tmp_path):
    files = datagen.cub(str(tmp_path), [('001.A/a.jpg', 1, True), ('002.B/b.jpg', 2, False),
                                        ('002.B/c.jpg', 2, True)])
    kw = dict(data_prefix=str(tmp_path / 'images'), ann_file=files[0],
              image_class_labels_file=files[1], train_test_split_file=files[2])
    train, test = CUB(**kw), CUB(**kw, test_mode=True)
    assert [i['img_info']['filename'] for i in train.data_infos] == ['001.A/a.jpg', '002.B/c.jpg']
    assert train.get_gt_labels().tolist() == [0, 1] and test.get_gt_labels().tolist() == [1]
    assert len(CUB.CLASSES) == 200
    with open(files[2], 'a') as f:
        f.write('4 1\n')
    with pytest.raises(ValueError, match='3 images, 3 labels and 4 split flags'):
        CUB(**kw)


def test_stanford_cars_reads_the_devkit_mat(tmp_path):
    scipy_io = pytest.importorskip('scipy.io')
    (tmp_path / 'devkit').mkdir()
    fields = [('bbox_x1', 'O'), ('bbox_y1', 'O'), ('bbox_x2', 'O'), ('bbox_y2', 'O'),
              ('class', 'O'), ('fname', 'O')]
    records = np.zeros((1, 2), dtype=fields)
    for j, (cls, name) in enumerate([(3, '00001.jpg'), (196, '00002.jpg')]):
        records[0, j] = (np.array([[1]]), np.array([[2]]), np.array([[5]]), np.array([[6]]),
                         np.array([[cls]], dtype=np.uint8), np.array([name]))
    scipy_io.savemat(str(tmp_path / 'devkit' / 'cars_train_annos.mat'), {'annotations': records})
    ds = StanfordCars(data_prefix=str(tmp_path), test_mode=False)
    assert ds.data_prefix == os.path.join(str(tmp_path), 'cars_train')
    assert [i['img_info']['filename'] for i in ds.data_infos] == ['00001.jpg', '00002.jpg']
    assert ds.get_gt_labels().tolist() == [2, 195] and len(ds.CLASSES) == 196
    with pytest.raises(FileNotFoundError, match='cars_test_annos_withlabels.mat'):
        StanfordCars(data_prefix=str(tmp_path), test_mode=True)


# ------------------------------------------------------------------ the subclass contract

def test_a_user_subclass_in_mmcls_style(tmp_path):
    class Listed(BaseDataset):
        CLASSES = ('x', 'y')

        def load_annotations(self):
            return [dict(img=np.zeros((2, 2, 3), np.uint8), gt_label=np.array(i % 2, np.int64))
                    for i in range(5)]

    ds = Listed(data_prefix=str(tmp_path), pipeline=[dict(type='Data22Tag')], test_mode=True)
    assert len(ds) == 5 and ds.test_mode and ds.get_gt_labels().tolist() == [0, 1, 0, 1, 0]
    assert int(ds[1]['gt_label']) == 101
    res = ds.evaluate(np.eye(2)[[0, 1, 1, 1, 0]], metric=['accuracy', 'precision'],
                      metric_options={'topk': (1,)})
    assert res['accuracy_top-1'] == pytest.approx(80.0)
    assert res['precision'] == pytest.approx((100 + 200 / 3) / 2)


# ------------------------------------------------------------------ wrappers and build_dataset

class _Labels(BaseDataset):
    CLASSES = ('a', 'b', 'c')

    def __init__(self, labels, test_mode=False):
        self._labels = labels
        super().__init__(data_prefix='', test_mode=test_mode)

    def load_annotations(self):
        return [dict(i=i, gt_label=np.array(l, np.int64)) for i, l in enumerate(self._labels)]


def test_repeat_and_concat(tmp_path):
    a, b = _Labels([0, 1]), _Labels([2, 2, 1])
    rep = RepeatDataset(a, 3)
    assert len(rep) == 6 and rep[5]['i'] == 1 and rep.get_cat_ids(4) == [0]
    with pytest.raises(NotImplementedError):
        rep.evaluate([])
    cat = ConcatDataset([a, b])
    assert len(cat) == 5 and cat.get_cat_ids(2) == [2] and cat.get_cat_ids(-1) == [1]
    scores = list(np.eye(3)[[0, 0, 2, 2, 2]])
    sep = cat.evaluate(scores, metric='accuracy', metric_options={'topk': (1,)})
    assert sep == pytest.approx({'0_accuracy_top-1': 50.0, '1_accuracy_top-1': 200 / 3})
    joint = ConcatDataset([a, b], separate_eval=False)
    assert joint.evaluate(scores, metric_options={'topk': (1,)}) == pytest.approx(
        {'accuracy_top-1': 60.0})
    assert len(a.data_infos) == 2  # restored


def test_class_balanced_repeat_factors():
    # frequencies: class 0 in 4/5 samples, class 1 in 1/5; thr 0.5: r(1) = sqrt(2.5) -> 2 copies
    ds = ClassBalancedDataset(_Labels([0, 0, 1, 0, 0]), oversample_thr=0.5)
    assert ds.repeat_indices == [0, 1, 2, 2, 3, 4] and len(ds) == 6
    assert ds[3]['i'] == 2


def test_kfold_partitions_and_evaluates_its_fold():
    base = _Labels([0, 1, 2, 0, 1, 2, 0])
    folds = [KFoldDataset(base, fold=f, num_splits=3, test_mode=True, seed=1) for f in range(3)]
    test_indices = sorted(i for f in folds for i in f.indices)
    assert test_indices == list(range(7))
    train = KFoldDataset(base, fold=1, num_splits=3, seed=1)
    assert sorted(train.indices + folds[1].indices) == list(range(7))
    fold = folds[1]
    labels = fold.get_gt_labels()
    assert labels.tolist() == [base.get_gt_labels()[i] for i in fold.indices]
    res = fold.evaluate(np.eye(3)[labels], metric_options={'topk': (1,)})
    assert res == pytest.approx({'accuracy_top-1': 100.0})


def test_build_dataset_wrappers_and_default_args(tmp_path):
    datagen.mnist(str(tmp_path))
    mnist = dict(type='MNIST', data_prefix=str(tmp_path))
    ds = build_dataset(dict(type='RepeatDataset', times=2, dataset=dict(
        type='ConcatDataset', datasets=[mnist, mnist])))
    assert len(ds) == 20 and isinstance(ds.dataset, ConcatDataset)
    assert isinstance(build_dataset([mnist, mnist]), ConcatDataset)
    # val/test splits get test_mode=True from default_args, where the data set takes it
    val = build_dataset(mnist, dict(test_mode=True))
    assert val.test_mode
    assert build_dataset(dict(mnist, test_mode=False), dict(test_mode=True)).test_mode is False
    synth = build_dataset(dict(type='SyntheticClassification', num_samples=4), dict(test_mode=True))
    assert len(synth) == 4  # no test_mode argument: not passed
    kfold = build_dataset(dict(type='KFoldDataset', dataset=mnist, num_splits=5),
                          dict(test_mode=True))
    assert kfold.test_mode and len(kfold) == 1 and kfold.dataset.test_mode is False
    balanced = build_dataset(dict(type='ClassBalancedDataset', oversample_thr=0.0, dataset=mnist))
    assert len(balanced) == 5


def test_metrics_multi_label_difficult_excluded_from_ap():
    scores = np.array([[0.9], [0.8], [0.7]])
    targets = np.array([[-1], [0], [1]])
    # the difficult one ranked first is not counted: precision at the positive = 1/2
    assert M.mAP(scores, targets) == pytest.approx(50.0)
    assert M.average_precision(scores[:, 0], np.array([1, 0, 1])) == pytest.approx((1 + 2 / 3) / 2)
    kept = targets.copy()
    M.average_performance(scores, kept, thr=0.5)
    assert kept.tolist() == targets.tolist()  # not modified in place


def test_cifar_pickles_are_protocol_independent(tmp_path):
    # python 2's pickles (the published files) are latin1-encoded: read them as such
    folder = tmp_path / 'cifar-10-batches-py'
    folder.mkdir()
    data = np.zeros((1, 3072), np.uint8)
    for name in CIFAR10.train_list:
        (folder / name).write_bytes(pickle.dumps({'data': data, 'labels': [7]}, protocol=2))
    assert CIFAR10(data_prefix=str(tmp_path)).get_gt_labels().tolist() == [7] * 5
