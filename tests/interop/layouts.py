"""Tiny data sets in the on-disk layouts MMClassification 0.x's configs point at.

Each ``make_*`` writes under ``root`` what a config's ``data_prefix`` names (``data/imagenet``,
``data/cifar10``, ``data/mnist``), with random pixels, so that a real config runs unchanged
from ``root`` as its working directory.
"""
import os
import os.path as osp
import pickle
import struct

import numpy as np
from PIL import Image


def _jpeg(path, rng, size=(80, 60)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def make_imagenet(root, num_classes=1000, filled=2, per_class=2, val=2, seed=0):
    """``data/imagenet/{train/<wnid>/*.JPEG, val/*.JPEG, meta/val.txt}`` (mmcls's layout):
    one folder per class of the 1000, images in the first ``filled`` of them."""
    rng = np.random.default_rng(seed)
    base = osp.join(root, 'data', 'imagenet')
    classes = [f'n{i:08d}' for i in range(num_classes)]
    for wnid in classes[filled:]:
        os.makedirs(osp.join(base, 'train', wnid), exist_ok=True)
    for wnid in classes[:filled]:
        for i in range(per_class):
            _jpeg(osp.join(base, 'train', wnid, f'{wnid}_{i}.JPEG'), rng)
    lines = []
    for i in range(val):
        name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
        _jpeg(osp.join(base, 'val', name), rng)
        lines.append(f'{name} {i % filled}')
    os.makedirs(osp.join(base, 'meta'), exist_ok=True)
    with open(osp.join(base, 'meta', 'val.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return base


def make_cifar10(root, per_batch=4, seed=0):
    """``data/cifar10/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``: the
    python pickle batches (rows of 3072 uint8, channel-major), with random pixels (so their
    md5 sums are not the published ones)."""
    rng = np.random.default_rng(seed)
    base = osp.join(root, 'data', 'cifar10', 'cifar-10-batches-py')
    os.makedirs(base, exist_ok=True)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        # String keys: the published batches are Python 2 pickles, read with latin1.
        batch = {'batch_label': name,
                 'labels': [int(x) for x in rng.integers(0, 10, per_batch)],
                 'data': rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 'filenames': [f'{name}_{i}.png' for i in range(per_batch)]}
        with open(osp.join(base, name), 'wb') as f:
            pickle.dump(batch, f)
    names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship',
             'truck']
    with open(osp.join(base, 'batches.meta'), 'wb') as f:
        pickle.dump({'label_names': names, 'num_cases_per_batch': per_batch, 'num_vis': 3072}, f)
    return osp.dirname(base)


def _idx(path, array):
    # The idx format: magic (0, 0, dtype 0x08 = uint8, ndim), big-endian sizes, then the bytes.
    with open(path, 'wb') as f:
        f.write(struct.pack('>BBBB', 0, 0, 0x08, array.ndim))
        f.write(struct.pack('>' + 'I' * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def make_mnist(root, train=8, test=4, seed=0):
    """``data/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (the idx files, unpacked)."""
    rng = np.random.default_rng(seed)
    base = osp.join(root, 'data', 'mnist')
    os.makedirs(base, exist_ok=True)
    for prefix, n in (('train', train), ('t10k', test)):
        _idx(osp.join(base, f'{prefix}-images-idx3-ubyte'),
             rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _idx(osp.join(base, f'{prefix}-labels-idx1-ubyte'), rng.integers(0, 10, n, dtype=np.uint8))
    return base
