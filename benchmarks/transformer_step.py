"""ViT-B/16 and Swin-T training steps: fastrun's models against mmcls 0.25's, and ``with_cp`` memory.

Run it in an environment that has mmcls (without, only fastrun's times are printed)::

    OMP_NUM_THREADS=1 python benchmarks/transformer_step.py --batch 2 --iters 3

Both models are built from the model section of the mmcls configs
``vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py`` and
``swin_transformer/swin-tiny_16xb64_in1k.py`` (with ``CrossEntropyLoss`` for their label
smoothing and without their batch mixup), fastrun's with mmcls's weights, and
run the same step on the same batch: ``train_step``, backward, AdamW. Runs alternate between
the two implementations so that drift in the machine's speed hits both; the median (and the
best) is reported with the ratio fastrun / mmcls (below 1: fastrun faster). On a busy shared
CPU, ``--clock cpu`` times the process's CPU time instead of the wall clock.

Memory of ``with_cp``: on a GPU the peak of allocated memory over a step; on a CPU the bytes
of the tensors autograd keeps for backward (the activations ``with_cp`` is there to drop),
counted once per storage with saved-tensor hooks, which is deterministic where the process's
resident size is not.
"""
import argparse
import copy
import logging
import os.path as osp
import statistics
import sys
import time
import warnings

import torch

IMG = 224
VIT = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', arch='b', img_size=IMG, patch_size=16, drop_rate=0.1,
                  init_cfg=[dict(type='Kaiming', layer='Conv2d', mode='fan_in',
                                 nonlinearity='linear')]),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=768,
              hidden_dim=3072, loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
SWIN = dict(
    type='ImageClassifier',
    backbone=dict(type='SwinTransformer', arch='tiny', img_size=IMG, drop_path_rate=0.2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768, init_cfg=None,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
MODELS = {'vit-b16': VIT, 'swin-t': SWIN}


def build_fastrun(cfg):
    from fastrun.registry import MODELS as REGISTRY
    return REGISTRY.build(copy.deepcopy(cfg))


def build_mmcls(cfg):
    try:
        import mmcls  # noqa: F401
    except ImportError:
        return None
    try:
        import torchvision  # noqa: F401
    except Exception:  # mmcv imports it; the interop tests' stand-in where the wheel cannot load
        sys.modules.pop('torchvision', None)
        sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                                    'tests', 'interop', 'stubs'))
    from mmcls.models import build_classifier
    return build_classifier(copy.deepcopy(cfg))


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()  # the timed region ends when the GPU is done


def make_step(model, data, device):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = model.train_step(data, optimizer)
        out['loss'].backward()
        optimizer.step()
        _sync(device)
    return step


def time_steps(steps, iters, clock=time.perf_counter):
    """Median and best seconds of each step, run alternately after one warm-up each."""
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(iters):
        for name, step in steps.items():
            t0 = clock()
            step()
            times[name].append(clock() - t0)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def saved_bytes(model, data):
    """Bytes autograd holds for backward after the forward of one training step."""
    storages = {}

    def pack(t):
        try:
            s = t.untyped_storage()
            storages[s.data_ptr()] = s.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model.train_step(data)['loss']
    del loss
    return sum(storages.values())


def peak_cuda_bytes(step):
    torch.cuda.reset_peak_memory_stats()
    step()
    return torch.cuda.max_memory_allocated()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='cpu: the process\'s CPU time, steadier than wall time on a shared '
                             'machine (CPU device, one thread)')
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == 'cpu' else time.perf_counter
    if args.clock == 'cpu' and (args.device != 'cpu' or torch.get_num_threads() != 1):
        parser.error('--clock cpu measures one CPU thread: use --device cpu and OMP_NUM_THREADS=1')
    logging.disable(logging.INFO)  # mmcv's init_weights logs every parameter
    warnings.simplefilter('ignore')
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    data = dict(img=torch.randn(args.batch, 3, IMG, IMG, generator=gen).to(device),
                gt_label=torch.randint(0, 1000, (args.batch,), generator=gen).to(device))
    print(f'device {device}, batch {args.batch}, {args.iters} timed steps each, '
          f'torch threads {torch.get_num_threads()}, {args.clock} clock')
    for name in args.models:
        cfg = MODELS[name]
        torch.manual_seed(0)
        ours = build_fastrun(cfg)
        theirs = build_mmcls(cfg)
        if theirs is not None:
            theirs.init_weights()
            ours.load_state_dict(theirs.state_dict(), strict=True)
            theirs.to(device).train()
        else:
            ours.init_weights()
        ours.to(device).train()
        steps = {'fastrun': make_step(ours, data, device)}
        if theirs is not None:
            steps['mmcls'] = make_step(theirs, data, device)
        stats = time_steps(steps, args.iters, clock)
        line = ', '.join(f'{k} {med * 1000:.0f} ms (best {best * 1000:.0f})'
                         for k, (med, best) in stats.items())
        if 'mmcls' in stats:
            line += (f'; ratio fastrun/mmcls {stats["fastrun"][0] / stats["mmcls"][0]:.3f} '
                     f'(best {stats["fastrun"][1] / stats["mmcls"][1]:.3f})')
        print(f'{name} step: {line}')
        del steps, theirs

        # with_cp: the same model with gradient checkpointing in every block
        cp_cfg = copy.deepcopy(cfg)
        cp_cfg['backbone']['with_cp'] = True
        checkpointed = build_fastrun(cp_cfg)
        checkpointed.load_state_dict(ours.state_dict())
        checkpointed.to(device).train()
        if device.type == 'cuda':
            plain = peak_cuda_bytes(make_step(ours, data, device))
            with_cp = peak_cuda_bytes(make_step(checkpointed, data, device))
            what = 'peak CUDA memory of a step'
        else:
            plain, with_cp = saved_bytes(ours, data), saved_bytes(checkpointed, data)
            what = 'tensors kept for backward'
        cp_time = time_steps({'with_cp': make_step(checkpointed, data, device),
                              'plain': make_step(ours, data, device)}, args.iters, clock)
        print(f'{name} with_cp: {what} {plain / 2**20:.0f} MiB -> {with_cp / 2**20:.0f} MiB '
              f'({with_cp / plain:.2f}x); step {cp_time["plain"][0] * 1000:.0f} ms -> '
              f'{cp_time["with_cp"][0] * 1000:.0f} ms')


if __name__ == '__main__':
    main()
