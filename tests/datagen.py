"""Tiny on-disk data sets in the published layouts (a few 8x8 images), for the data set tests."""
import gzip
import os
import pickle

import numpy as np


def write_image(path, seed=0, size=(8, 8)):
    """An RGB PNG (or JPEG by extension) of ``size`` (h, w) with seeded random pixels."""
    from PIL import Image
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.random.RandomState(seed).randint(0, 256, size + (3,), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def class_folders(root, layout):
    """``layout``: {class folder: [relative image paths]}; returns the written files, sorted."""
    written = []
    for i, (folder, files) in enumerate(sorted(layout.items())):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for j, name in enumerate(files):
            path = os.path.join(root, folder, name)
            if name.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')):
                write_image(path, seed=100 * i + j)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, 'w') as f:
                    f.write('not an image')
            written.append(path)
    return written


def cifar(root, base_folder='cifar-10-batches-py',
          train=tuple(f'data_batch_{i}' for i in range(1, 6)), test=('test_batch',), per_batch=2, num_classes=10, label_key='labels',
          meta=('batches.meta', 'label_names'), seed=0):
    """CIFAR python batches under ``root/base_folder``; returns {file: (data N x 3072, labels)}."""
    rng = np.random.RandomState(seed)
    folder = os.path.join(root, base_folder)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for name in tuple(train) + tuple(test):
        data = rng.randint(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.randint(0, num_classes, per_batch).tolist()
        with open(os.path.join(folder, name), 'wb') as f:
            pickle.dump({'data': data, label_key: labels, 'batch_label': name}, f)
        out[name] = (data, labels)
    if meta is not None:
        with open(os.path.join(folder, meta[0]), 'wb') as f:
            pickle.dump({meta[1]: [f'class{i}' for i in range(num_classes)]}, f)
    return out


def idx_file(path, array, compress=False):
    """Write ``array`` (uint8) as an idx file (gzipped when ``compress``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(
        int(s).to_bytes(4, 'big') for s in array.shape)
    opener = gzip.open if compress else open
    with opener(path, 'wb') as f:
        f.write(header + array.tobytes())


def mnist(root, n=5, compress=False, seed=0):
    """The four MNIST idx files in ``root``; returns {split: (images, labels)}."""
    rng = np.random.RandomState(seed)
    os.makedirs(root, exist_ok=True)
    out = {}
    suffix = '.gz' if compress else ''
    for split, prefix in (('train', 'train'), ('test', 't10k')):
        imgs = rng.randint(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.randint(0, 10, n).astype(np.uint8)
        idx_file(os.path.join(root, f'{prefix}-images-idx3-ubyte{suffix}'), imgs, compress)
        idx_file(os.path.join(root, f'{prefix}-labels-idx1-ubyte{suffix}'), labels, compress)
        out[split] = (imgs, labels)
    return out


def voc(root, objects):
    """A VOC2007 folder: ``objects`` = {image id: [(class name, difficult 0/1), ...]}.

    Writes ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg`` and ``ImageSets/Main/trainval.txt``;
    returns the path of that list.
    """
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for i, (img_id, objs) in enumerate(objects.items()):
        xml = ['<annotation>', f'  <filename>{img_id}.jpg</filename>']
        for name, difficult in objs:
            xml += ['  <object>', f'    <name>{name}</name>', '    <pose>Unspecified</pose>',
                    f'    <difficult>{difficult}</difficult>', '  </object>']
        xml.append('</annotation>')
        with open(os.path.join(root, 'Annotations', f'{img_id}.xml'), 'w') as f:
            f.write('\n'.join(xml) + '\n')
        write_image(os.path.join(root, 'JPEGImages', f'{img_id}.jpg'), seed=i)
    listing = os.path.join(root, 'ImageSets', 'Main', 'trainval.txt')
    with open(listing, 'w') as f:
        f.write(''.join(f'{i}\n' for i in objects))
    return listing


def cub(root, samples):
    """CUB's three index files in ``root``: ``samples`` = [(path, label from 1, is_train)]."""
    os.makedirs(os.path.join(root, 'images'), exist_ok=True)
    names = ('images.txt', 'image_class_labels.txt', 'train_test_split.txt')
    with open(os.path.join(root, names[0]), 'w') as a, \
            open(os.path.join(root, names[1]), 'w') as b, \
            open(os.path.join(root, names[2]), 'w') as c:
        for i, (path, label, is_train) in enumerate(samples, 1):
            a.write(f'{i} {path}\n')
            b.write(f'{i} {label}\n')
            c.write(f'{i} {int(is_train)}\n')
            write_image(os.path.join(root, 'images', path), seed=i)
    return [os.path.join(root, n) for n in names]
