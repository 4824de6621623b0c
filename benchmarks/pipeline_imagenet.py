"""The ImageNet train pipeline: fastrun's transforms against mmcls 0.25's, images per second.

Run it in an environment that has mmcls (without, it says so and exits 0)::

    OMP_NUM_THREADS=1 python benchmarks/pipeline_imagenet.py --images 64 --rounds 7

The pipeline is the one of mmcls's ``_base_/datasets/imagenet_bs32.py``: LoadImageFromFile,
RandomResizedCrop(224), RandomFlip(0.5), Normalize, ImageToTensor, ToTensor, Collect, built
once from the same list of dicts by each library, on the same generated JPEGs (about
500x375, quality 90, a smooth image plus noise so that the files are the size of ImageNet's,
~75 KB). Both run with opencv's default threads and the same seeds.

- ``one process``: each file through both pipelines in turn (which goes first alternating),
  so that drift in the machine's speed hits both; the images/s of each (median over rounds)
  and the ratio fastrun / mmcls (above 1: fastrun faster). ``--clock cpu`` times the
  process's CPU time instead of the wall clock (steadier on a busy shared machine).
- ``2 workers``: a torch DataLoader (``num_workers=2``, batches of 32, the samples returned
  as a list so that collation is not measured) over a data set calling the pipeline; wall
  clock, after the first batch (worker start) is out of the count.

Before timing, the two pipelines' outputs are compared on every file with the same seeds:
fastrun's exact mode (the default, the only one) gives the same tensors, bit for bit.
"""
import argparse
import os
import os.path as osp
import random
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=224),
    dict(type='RandomFlip', flip_prob=0.5, direction='horizontal'),
    dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label']),
]


def make_jpegs(folder, n, seed=0):
    """``n`` ~500x375 JPEGs (some portrait) in ``folder``; their names."""
    import cv2
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        h, w = (375, 500) if i % 4 else (500, 375)
        h, w = h + int(rng.integers(-20, 20)), w + int(rng.integers(-20, 20))
        base = rng.integers(0, 256, (h // 25, w // 25, 3), dtype=np.uint8)
        img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        names.append(f'{i:05d}.jpg')
        cv2.imwrite(osp.join(folder, names[-1]), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return names


def samples(folder, names):
    return [dict(img_prefix=folder, img_info=dict(filename=n),
                 gt_label=np.array(i % 1000, dtype=np.int64)) for i, n in enumerate(names)]


def build(which):
    import copy
    if which == 'fastrun':
        from fastrun.datasets.pipelines import Compose
    else:
        from mmcls.datasets.pipelines import Compose
    return Compose(copy.deepcopy(PIPELINE))


def check_same(pipelines, items):
    """The two pipelines give the same tensors with the same seeds (else exit 1)."""
    import torch
    for seed, item in enumerate(items):
        outs = []
        for p in pipelines.values():
            random.seed(seed)
            np.random.seed(seed)
            outs.append(p(dict(item, img_info=dict(item['img_info']))))
        a, b = outs
        if not (torch.equal(a['img'], b['img']) and torch.equal(a['gt_label'], b['gt_label'])):
            sys.exit(f'{item["img_info"]["filename"]}: fastrun and mmcls give different images')


def one_process(pipelines, items, rounds, clock):
    """Seconds per image of each pipeline, per round: the two timed on each file in turn
    (which goes first alternating), so that a busy moment of the machine hits both."""
    timer = time.process_time if clock == 'cpu' else time.perf_counter
    names = list(pipelines)
    spent = {k: [] for k in names}
    for r in range(rounds):
        total = dict.fromkeys(names, 0.)
        for i, item in enumerate(items):
            for name in (names if (i + r) % 2 else names[::-1]):
                sample = dict(item, img_info=dict(item['img_info']))
                start = timer()
                pipelines[name](sample)
                total[name] += timer() - start
        for name in names:
            spent[name].append(total[name] / len(items))
    return spent


class _Data:
    def __init__(self, which, items):
        self.which, self.items, self.pipeline = which, items, None

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        if self.pipeline is None:  # built in the worker
            self.pipeline = build(self.which)
        item = self.items[i]
        return self.pipeline(dict(item, img_info=dict(item['img_info'])))


def with_workers(which, items, workers, epochs):
    import torch
    loader = torch.utils.data.DataLoader(_Data(which, items), batch_size=32, shuffle=False,
                                         num_workers=workers, collate_fn=list,
                                         persistent_workers=True)
    rates = []
    for _ in range(epochs):
        it = iter(loader)
        first = next(it)  # the workers' start (and the first batch) out of the count
        start, n = time.perf_counter(), 0
        for batch in it:
            n += len(batch)
        rates.append(n / (time.perf_counter() - start))
        del first
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=64, help='JPEGs per round')
    parser.add_argument('--rounds', type=int, default=7, help='alternating rounds (one process)')
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--worker-images', type=int, default=320,
                        help='JPEGs per epoch with workers (0: skip that part)')
    parser.add_argument('--epochs', type=int, default=3)
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import mmcls.datasets.pipelines  # noqa: F401
    except ImportError as e:
        print(f'mmcls is not importable ({e}): this benchmark compares with it; skipped')
        return 0
    with tempfile.TemporaryDirectory() as folder:
        names = make_jpegs(folder, max(args.images, args.worker_images))
        items = samples(folder, names)
        pipelines = {'fastrun': build('fastrun'), 'mmcls': build('mmcls')}
        check_same(pipelines, items[:args.images])
        print(f'same images from both on {args.images} files with the same seeds')
        spent = one_process(pipelines, items[:args.images], args.rounds, args.clock)
        med = {k: 1 / statistics.median(v) for k, v in spent.items()}
        print(f'one process ({args.clock} clock, median of {args.rounds} rounds of '
              f'{args.images} images, the two timed on each image in turn):')
        for k in spent:
            print(f'  {k:8s} {med[k]:8.1f} images/s  (best round {1 / min(spent[k]):.1f})')
        ratios = [b / a for a, b in zip(spent['fastrun'], spent['mmcls'])]
        print(f'  ratio fastrun / mmcls: {med["fastrun"] / med["mmcls"]:.2f}x '
              f'(per round: {min(ratios):.2f} to {max(ratios):.2f})')
        if args.worker_images and args.workers:
            wr = {k: statistics.median(with_workers(k, items[:args.worker_images], args.workers,
                                                    args.epochs)) for k in ('fastrun', 'mmcls')}
            print(f'{args.workers} workers (wall clock, median of {args.epochs} epochs of '
                  f'{args.worker_images} images):')
            for k in wr:
                print(f'  {k:8s} {wr[k]:8.1f} images/s')
            print(f'  ratio fastrun / mmcls: {wr["fastrun"] / wr["mmcls"]:.2f}x')
    return 0


if __name__ == '__main__':
    # mmcv's runner imports torchvision, which this project's environments may lack: the
    # interop tests' stand-in is enough for mmcls's pipelines.
    stubs = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tests', 'interop', 'stubs')
    try:
        import torchvision  # noqa: F401
    except Exception:
        sys.modules.pop('torchvision', None)
        sys.path.insert(0, stubs)
        os.environ['PYTHONPATH'] = os.pathsep.join(
            [stubs] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])
    sys.exit(main())
