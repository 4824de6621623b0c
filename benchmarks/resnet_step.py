"""ResNet-50 training steps: fastrun's runner against a hand-written loop, and fastrun's model
against mmcls 0.25's.

::

    OMP_NUM_THREADS=1 python benchmarks/resnet_step.py --batch 4 --size 64 --steps 4 --rounds 5

The model is the model section of the mmcls config ``resnet/resnet50_8xb32_in1k.py``
(ResNet-50, global average pooling, a 1000-class linear head), the optimizer its SGD
(lr 0.1, momentum 0.9, weight decay 1e-4); a step is ``train_step``, backward and the SGD
update, on the same fixed batches everywhere.

- ``runner / by hand``: fastrun's ``EpochBasedRunner`` (optimizer hook, iteration timer, text
  logger, as a config registers them) trains one epoch of ``--steps`` batches; the hand-written
  loop does the same steps on the same model and data. Per-step time, ratio runner / by hand
  (1.0: the runner costs nothing beyond the step).
- ``fastrun / mmcls``: the same step for fastrun's ResNet-50 and mmcls's, with the same
  weights (only where mmcls is installed; skipped otherwise). Ratio fastrun / mmcls (below 1:
  fastrun faster).
- ``channels_last``: fastrun's ResNet-50 built with ``channels_last=True`` next to the default
  layout, ratio channels_last / default.

Runs alternate between the contenders so drift in the machine's speed hits all of them; the
median over ``--rounds`` (and the best) is reported. On a busy shared CPU, ``--clock cpu``
times the process's CPU time instead of the wall clock.
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

MODEL = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3,), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))


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


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def hand_loop(model, batches, device):
    optimizer = sgd(model)

    def run():
        for data in batches:
            out = model.train_step(data, optimizer)
            optimizer.zero_grad(set_to_none=True)
            out['loss'].backward()
            optimizer.step()
        _sync(device)
    return run


def runner_loop(model, batches, device):
    import fastrun
    from fastrun import EpochBasedRunner

    logger = fastrun.get_logger('resnet_step')
    logger.setLevel('WARNING')
    runner = EpochBasedRunner(model, optimizer=sgd(model), logger=logger)
    runner.register_training_hooks(
        lr_config=None, optimizer_config=dict(grad_clip=None),
        log_config=dict(interval=10 ** 6, hooks=[dict(type='TextLoggerHook')]))

    def run():
        runner.run([batches], [('train', 1)], max_epochs=runner.epoch + 1)  # one more epoch
        _sync(device)
    return run


def time_rounds(contenders, rounds, steps, clock):
    """Median and best seconds per step of each contender, alternating, after one warm-up."""
    for run in contenders.values():
        run()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            t0 = clock()
            run()
            times[name].append((clock() - t0) / steps)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def report(title, stats, num, den):
    line = ', '.join(f'{k} {med * 1000:.0f} ms/step (best {best * 1000:.0f})'
                     for k, (med, best) in stats.items())
    if den in stats:
        line += (f'; ratio {num}/{den} {stats[num][0] / stats[den][0]:.3f} '
                 f'(best {stats[num][1] / stats[den][1]:.3f})')
    print(f'{title}: {line}', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--steps', type=int, default=4, help='steps per timed round')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help="cpu: the process's CPU time, steadier than wall time on a shared "
                             'machine (CPU device, one thread)')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['runner', 'mmcls', 'channels_last'])
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == 'cpu' else time.perf_counter
    if args.clock == 'cpu' and (args.device != 'cpu' or torch.get_num_threads() != 1):
        parser.error('--clock cpu measures one CPU thread: use --device cpu and OMP_NUM_THREADS=1')
    logging.disable(logging.INFO)  # mmcv's init_weights logs every parameter
    warnings.simplefilter('ignore')
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    gen = torch.Generator().manual_seed(0)
    batches = [dict(img=torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device),
                    gt_label=torch.randint(0, 1000, (args.batch,), generator=gen).to(device))
               for _ in range(args.steps)]
    print(f'ResNet-50 step, device {device}, batch {args.batch}x3x{args.size}x{args.size}, '
          f'{args.steps} steps x {args.rounds} rounds, torch threads {torch.get_num_threads()}, '
          f'{args.clock} clock', flush=True)

    torch.manual_seed(0)
    ours = build_fastrun(MODEL)
    ours.init_weights()
    ours.to(device).train()
    state = copy.deepcopy(ours.state_dict())

    if 'runner' not in args.skip:
        twin = build_fastrun(MODEL)
        twin.load_state_dict(state)
        twin.to(device).train()
        stats = time_rounds({'runner': runner_loop(ours, batches, device),
                             'by hand': hand_loop(twin, batches, device)},
                            args.rounds, args.steps, clock)
        report('fastrun runner vs hand-written loop', stats, 'runner', 'by hand')
        del twin
        ours.load_state_dict(state)

    if 'mmcls' not in args.skip:
        theirs = build_mmcls(MODEL)
        if theirs is None:
            print('fastrun vs mmcls: skipped (mmcls is not installed)')
        else:
            theirs.load_state_dict(state, strict=True)
            theirs.to(device).train()
            stats = time_rounds({'fastrun': hand_loop(ours, batches, device),
                                 'mmcls': hand_loop(theirs, batches, device)},
                                args.rounds, args.steps, clock)
            report('fastrun ResNet-50 vs mmcls ResNet-50', stats, 'fastrun', 'mmcls')
            del theirs
            ours.load_state_dict(state)

    if 'channels_last' not in args.skip:
        cl_cfg = copy.deepcopy(MODEL)
        cl_cfg['backbone']['channels_last'] = True
        cl = build_fastrun(cl_cfg)
        cl.load_state_dict(state)
        cl.to(device).train()
        stats = time_rounds({'channels_last': hand_loop(cl, batches, device),
                             'default': hand_loop(ours, batches, device)},
                            args.rounds, args.steps, clock)
        report('fastrun ResNet-50 channels_last vs default layout', stats, 'channels_last',
               'default')


if __name__ == '__main__':
    main()
