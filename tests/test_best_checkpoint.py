"""The best checkpoint across a stop: a run stopped anywhere and resumed keeps the same best.

Real processes (``python -m fastrun train``), stopped by a real SIGKILL or SIGTERM, resumed with
``--auto-resume``, compared with the run that was never stopped: the same ``best_*.pth`` files
(with the same weights), the same ``best_score`` and ``best_ckpt``. The hard case is the end of
an epoch, between the checkpoint hook (NORMAL) and the evaluation (LOW): the checkpoint of that
epoch must hold its evaluation, or the resumed run forgets that epoch's best.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from fastrun.checkpoint import read_checkpoint

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TIMEOUT = 180

HELPERS = '''
import os
import signal

from fastrun import HOOKS, Hook


@HOOKS.register_module()
class StopAt(Hook):
    """Sends ``signum`` to this process at ``stage`` when the epoch (iteration) ``at`` ends."""

    def __init__(self, at, stage='after_train_epoch', signum=int(signal.SIGKILL)):
        self.at, self.signum = at, signum
        setattr(self, stage, self._stop)
        self.by_iter = stage.endswith('iter')

    def _stop(self, runner):
        if (runner.iter if self.by_iter else runner.epoch) + 1 == self.at:
            os.kill(os.getpid(), self.signum)
'''

CONFIG = '''
custom_imports = dict(imports=['stop_helpers'])
model = dict(type='ImageClassifier',
             backbone=dict(type='MLP', in_channels=16, hidden_channels=(32,), dropout=0.3),
             head=dict(type='LinearClsHead', num_classes=4, in_channels=32))
data = dict(samples_per_gpu=8, workers_per_gpu=0,
            train=dict(type='SyntheticClassification', num_samples=48, shape=(1, 4, 4),
                       num_classes=4, seed=0),
            val=dict(type='SyntheticClassification', num_samples=40, shape=(1, 4, 4),
                     num_classes=4, seed=1))
optimizer = dict(type='SGD', lr=0.3, momentum=0.9)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='fixed')
runner = dict(type='EpochBasedRunner', max_epochs=8)
checkpoint_config = dict(interval=1, max_keep_ckpts=2)
evaluation = dict(interval=1, metric='accuracy', save_best='auto', metric_options=dict(topk=(1,)))
log_config = dict(interval=3, hooks=[dict(type='TextLoggerHook')])
workflow = [('train', 1)]
seed = 0
'''

EPOCH_LEN = 6  # 48 samples in batches of 8

VARIANTS = {
    'plain': '',
    'ema': "custom_hooks = [dict(type='EMAHook', momentum=0.3, warm_up=2, priority=49)]\n",
    # 4 does not divide the 6 iterations of an epoch: the epoch ends in the middle of a group
    'accumulation': "optimizer_config = dict(type='GradientCumulativeOptimizerHook', "
                    "cumulative_iters=4)\n",
    'iter_based': (f"runner = dict(type='IterBasedRunner', max_iters={8 * EPOCH_LEN})\n"
                   f"checkpoint_config = dict(interval={EPOCH_LEN}, max_keep_ckpts=2)\n"
                   f"evaluation = dict(interval={EPOCH_LEN}, metric='accuracy', save_best='auto', "
                   f"metric_options=dict(topk=(1,)))\n"),
}


def env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
                OMP_NUM_THREADS='1')


def train(cwd, work, *args):
    proc = subprocess.run([sys.executable, '-m', 'fastrun', 'train', 'cfg.py', '--work-dir',
                           str(work), *args], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=TIMEOUT)
    return proc.returncode, proc.stdout + proc.stderr


def val_scores(work):
    scores = []
    for path in sorted(glob.glob(osp.join(work, '*.log.json'))):
        with open(path) as f:
            scores += [json.loads(line)['accuracy_top-1'] for line in f
                       if json.loads(line).get('mode') == 'val']
    return scores


def outcome(work):
    """What the run left of its best: the best files' names and weights, best_score, best_ckpt."""
    best = sorted(glob.glob(osp.join(work, 'best_*.pth')))
    msgs = read_checkpoint(osp.join(work, 'latest.pth'))['meta']['hook_msgs']
    weights = [read_checkpoint(p)['state_dict'] for p in best]
    assert osp.dirname(msgs['best_ckpt']) == str(work)
    return ([osp.basename(p) for p in best], msgs['best_score'], osp.basename(msgs['best_ckpt']),
            weights)


def assert_same(a, b):
    assert a[:3] == b[:3]
    for wa, wb in zip(a[3], b[3]):
        for k, v in wa.items():
            assert torch.equal(v, wb[k]), k


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    """Each variant's uninterrupted run (shared by the tests): its folder and evaluations."""
    runs = {}

    def get(variant):
        if variant not in runs:
            cwd = tmp_path_factory.mktemp(variant)
            write_config(cwd, variant)
            code, out = train(cwd, cwd / 'straight')
            assert code == 0, out[-4000:]
            runs[variant] = (cwd / 'straight', val_scores(cwd / 'straight'))
        return runs[variant]
    return get


def write_config(cwd, variant, stop=None):
    (cwd / 'stop_helpers.py').write_text(HELPERS)
    extra = VARIANTS[variant]
    if stop is not None:
        hooks = "[dict(type='EMAHook', momentum=0.3, warm_up=2, priority=49)]" if variant == 'ema' else '[]'
        extra += f'custom_hooks = {hooks} + [{stop}]\n'
    (cwd / 'cfg.py').write_text(CONFIG + extra)


def boundary_to_stop_at(scores):
    """An evaluation that set a new best, not the last one: forgetting it leaves a stale file."""
    news, best = [], float('-inf')
    for i, s in enumerate(scores):
        if s > best:
            news.append(i + 1)
            best = s
    assert len(news) >= 2, scores
    return news[-2]


# Where the SIGKILL lands in the hooks of the stage that ends a best epoch (iteration):
# BELOW_NORMAL (60) is after CheckpointHook (NORMAL) and before the evaluation (LOW, 70); 80 is
# after the evaluation and before the loggers (VERY_LOW, 90).
KILLS = [('plain', 'BELOW_NORMAL'), ('plain', 80), ('ema', 80), ('accumulation', 'BELOW_NORMAL'),
         ('accumulation', 80), ('iter_based', 80)]


@pytest.mark.parametrize('variant, priority', KILLS)
def test_a_kill_at_the_end_of_a_best_epoch_keeps_the_best(tmp_path, straight, variant, priority):
    ref, scores = straight(variant)
    at = boundary_to_stop_at(scores)
    by_iter = variant == 'iter_based'
    stage = 'after_train_iter' if by_iter else 'after_train_epoch'
    number = at * EPOCH_LEN if by_iter else at
    write_config(tmp_path, variant, f"dict(type='StopAt', at={number}, stage='{stage}', "
                                    f"priority={priority!r})")
    work = tmp_path / 'stopped'
    code, out = train(tmp_path, work)
    assert code == -9, out[-4000:]
    write_config(tmp_path, variant)
    code, out = train(tmp_path, work, '--auto-resume')
    assert code == 0, out[-4000:]
    assert_same(outcome(work), outcome(ref))


def test_sigterm_in_the_last_iteration_of_a_best_epoch_keeps_the_best(tmp_path, straight):
    ref, scores = straight('plain')
    at = boundary_to_stop_at(scores)
    write_config(tmp_path, 'plain', f"dict(type='StopAt', at={at * EPOCH_LEN}, "
                                    f"stage='after_train_iter', signum=15)")
    work = tmp_path / 'stopped'
    code, out = train(tmp_path, work)
    assert code == 143, out[-4000:]
    # the epoch ended (its hooks ran) before the stop: its checkpoint is the one to resume from
    assert os.readlink(work / 'latest.pth') == f'epoch_{at}.pth'
    assert read_checkpoint(str(work / f'epoch_{at}.pth'))['meta']['hook_msgs']['best_score'] == \
        scores[at - 1]
    write_config(tmp_path, 'plain')
    code, out = train(tmp_path, work, '--auto-resume')
    assert code == 0, out[-4000:]
    assert_same(outcome(work), outcome(ref))


def test_a_best_saved_with_the_epoch_checkpoint_is_a_link_to_it(straight, tmp_path):
    ref, scores = straight('plain')
    at = boundary_to_stop_at(scores)
    write_config(tmp_path, 'plain')
    (tmp_path / 'cfg.py').write_text((tmp_path / 'cfg.py').read_text().replace(
        'max_epochs=8', f'max_epochs={at}'))
    code, out = train(tmp_path, tmp_path / 'w')
    assert code == 0, out[-4000:]
    epoch = tmp_path / 'w' / f'epoch_{at}.pth'
    [best] = glob.glob(str(tmp_path / 'w' / 'best_*.pth'))
    assert osp.samefile(best, epoch)  # one serialisation, two names
    ckpt = read_checkpoint(best)  # its checksums hold
    assert ckpt['meta']['hook_msgs']['best_score'] == scores[at - 1]
    assert ckpt['meta']['hook_msgs']['best_ckpt'] == best
