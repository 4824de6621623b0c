"""The cost of skip mode per iteration, and of a checkpoint save, on the main job's model.

Groups (compare within a group, in one run):

- ``skip mode``: a train iteration of the main job's SmallCNN (BatchNorm, SGD with momentum,
  a batch of 32 8x8 digits) with ``CheckInvalidLossHook`` checking the loss every 50
  iterations (``raise``, the default) or undoing non-finite steps (``skip``: a copy of the
  state before each step, a finite check after it, one sync).
- ``checkpoint save``: the main job's checkpoint (weights, optimizer state, run state) written
  by ``runner.save_checkpoint`` (atomic write, fsync, checksums, run state), next to a plain
  ``torch.save`` of the same weights and optimizer state, and to a ``best_*.pth`` saved at the
  same epoch end as ``epoch_N.pth`` (a hard link to it).
"""
import os
import os.path as osp

import pytest
import torch

import fastrun
import fastrun.hooks.invalid_loss  # noqa: F401
from fastrun import OptimizerHook, Runner
from fastrun.builder import build_model
from fastrun.checkpoint import link_checkpoint
from fastrun.hooks.invalid_loss import CheckInvalidLossHook

N_ITERS = 50
MAIN_JOB_MODEL = dict(
    type='ImageClassifier',
    backbone=dict(type='SmallCNN', in_channels=1, channels=(32, 64)),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss', label_smooth_val=0.1), topk=(1, 5)))


def main_job_runner(work_dir=None, max_iters=10 ** 9):
    torch.manual_seed(0)
    model = build_model(MAIN_JOB_MODEL)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    runner = Runner(model, optimizer=optimizer, work_dir=work_dir, max_iters=max_iters,
                    logger=fastrun.get_logger('bench'))
    runner.logger.setLevel('ERROR')
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    return runner


def batches(n):
    g = torch.Generator().manual_seed(0)
    return [dict(img=torch.randn(32, 1, 8, 8, generator=g),
                 gt_label=torch.randint(0, 10, (32,), generator=g)) for _ in range(n)]


@pytest.mark.parametrize('action', ['raise', 'skip'])
def test_skip_mode_per_iteration(benchmark, action):
    torch.set_num_threads(1)
    runner = main_job_runner()
    runner.register_hook(CheckInvalidLossHook(interval=50, action=action))
    runner.call_hook('before_run')
    runner.call_hook('before_epoch')
    loader = fastrun.IterLoader(batches(N_ITERS))
    benchmark.group = f'skip mode (main job SmallCNN, {N_ITERS} iterations)'
    benchmark.pedantic(lambda: runner._run_iters('train', loader, N_ITERS), rounds=15,
                       warmup_rounds=2)


@pytest.mark.parametrize('how', ['torch.save', 'runner.save_checkpoint', 'best_*.pth beside it'])
def test_checkpoint_save(benchmark, tmp_path, how):
    runner = main_job_runner(str(tmp_path), max_iters=4)
    runner.run([batches(4)], [('train', 4)])  # optimizer state (momentum) and counters exist
    benchmark.group = 'checkpoint save (main job SmallCNN)'
    work = str(tmp_path)
    if how == 'torch.save':
        path = osp.join(work, 'plain.pth')
        benchmark.pedantic(lambda: torch.save({'state_dict': runner.model.state_dict(),
                                               'optimizer': runner.optimizer.state_dict()}, path),
                           rounds=30, warmup_rounds=3)
    elif how == 'runner.save_checkpoint':
        benchmark.pedantic(lambda: runner.save_checkpoint(work), rounds=30, warmup_rounds=3)
    else:
        src = runner.save_checkpoint(work)
        dst = osp.join(work, 'best_acc_iter_4.pth')
        benchmark.pedantic(lambda: link_checkpoint(src, dst), rounds=30, warmup_rounds=3)
        assert os.path.samefile(src, dst)
