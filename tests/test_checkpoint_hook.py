"""CheckpointHook on real runs: which files exist after each epoch/iteration, and what they hold."""
import datetime
import json
import os
import os.path as osp

import pytest
import torch

from fastrun.dist import shutdown_dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import fastrun.hooks.checkpoint  # noqa: F401  (registers CheckpointHook)
from fastrun import HOOKS, Hook, Runner
from fastrun.hooks.checkpoint import CheckpointHook
from fastrun.hooks.optimizer import OptimizerHook


class DictSet(Dataset):
    """``dict(img=4 floats, gt_label=int)`` samples, as the classification data sets give."""

    def __init__(self, n=6, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.imgs = torch.randn(n, 4, generator=g)
        self.labels = torch.arange(n) % 3

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return dict(img=self.imgs[i], gt_label=self.labels[i])


class Classifier(torch.nn.Module):
    """A linear classifier with the mmcv train_step contract and a BatchNorm (buffers)."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, img, return_loss=True, gt_label=None):
        scores = self.fc(self.bn(img))
        return F.cross_entropy(scores, gt_label) if return_loss else list(scores.softmax(1).numpy())

    def train_step(self, data, optimizer=None, **kwargs):
        loss = self(**data)
        return dict(loss=loss, log_vars=dict(loss=loss.detach()), num_samples=len(data['img']))


class FilesAfter(Hook):
    """Records the checkpoint files of ``folder`` after every train epoch and iteration."""

    def __init__(self, folder, stage='after_train_epoch'):
        self.folder = folder
        self.seen = []
        setattr(self, stage, self._record)

    def _record(self, runner):
        names = os.listdir(self.folder) if osp.isdir(self.folder) else []
        self.seen.append(sorted(n for n in names if n.endswith('.pth')))


def make_runner(work_dir, hook, seed=0, **kw):
    torch.manual_seed(seed)
    model = Classifier()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                    work_dir=str(work_dir), **kw)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')
    runner.register_hook(hook, 'NORMAL')
    return runner


def loader(n=6, batch_size=2):
    return DataLoader(DictSet(n), batch_size=batch_size)


def test_by_epoch_interval_and_save_last(tmp_path):
    runner = make_runner(tmp_path, CheckpointHook(interval=2), max_epochs=5)
    rec = FilesAfter(str(tmp_path))
    runner.register_hook(rec, 'LOWEST')
    runner.run([loader()], [('train', 1)])
    assert rec.seen == [
        [],
        ['epoch_2.pth', 'latest.pth'],
        ['epoch_2.pth', 'latest.pth'],
        ['epoch_2.pth', 'epoch_4.pth', 'latest.pth'],
        ['epoch_2.pth', 'epoch_4.pth', 'epoch_5.pth', 'latest.pth'],  # the last epoch, save_last
    ]
    assert os.readlink(tmp_path / 'latest.pth') == 'epoch_5.pth'
    assert runner.meta['hook_msgs']['last_ckpt'] == str(tmp_path / 'epoch_5.pth')


def test_save_last_false_and_default_interval(tmp_path):
    runner = make_runner(tmp_path / 'a', CheckpointHook(interval=2, save_last=False), max_epochs=5)
    runner.run([loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path / 'a')) == ['epoch_2.pth', 'epoch_4.pth', 'latest.pth']
    # interval=-1 (the default): only the last epoch.
    runner = make_runner(tmp_path / 'b', CheckpointHook(), max_epochs=3)
    runner.run([loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path / 'b')) == ['epoch_3.pth', 'latest.pth']


def test_checkpoint_contents_load_safely_and_latest_is_newest(tmp_path):
    runner = make_runner(tmp_path, CheckpointHook(interval=1), max_epochs=3)
    runner.run([loader()], [('train', 1)])
    ckpt = torch.load(tmp_path / 'epoch_3.pth', weights_only=True)
    latest = torch.load(tmp_path / 'latest.pth', weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict', 'optimizer', 'runner_state', 'fastrun_checksum'}
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 9
    assert ckpt['meta']['hook_msgs']['last_ckpt'] == str(tmp_path / 'epoch_3.pth')
    for k, v in runner.model.state_dict().items():
        assert torch.equal(ckpt['state_dict'][k], v), k
        assert torch.equal(latest['state_dict'][k], v), k
    assert latest['meta'] == ckpt['meta']
    # an older one holds older weights
    old = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert old['meta']['epoch'] == 1
    assert not torch.equal(old['state_dict']['fc.weight'], ckpt['state_dict']['fc.weight'])


def test_save_optimizer_false_and_kwargs_to_save_checkpoint(tmp_path):
    hook = CheckpointHook(interval=1, save_optimizer=False, create_symlink=False,
                          filename_tmpl='model_{}.pth', meta=dict(note='x'))
    runner = make_runner(tmp_path, hook, max_epochs=2)
    runner.run([loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path)) == ['model_1.pth', 'model_2.pth']  # no latest.pth
    ckpt = torch.load(tmp_path / 'model_2.pth', weights_only=True)
    assert 'optimizer' not in ckpt and ckpt['meta']['note'] == 'x'


def test_max_keep_ckpts_keeps_the_newest(tmp_path):
    runner = make_runner(tmp_path, CheckpointHook(interval=1, max_keep_ckpts=2), max_epochs=4)
    rec = FilesAfter(str(tmp_path))
    runner.register_hook(rec, 'LOWEST')
    runner.run([loader()], [('train', 1)])
    assert rec.seen == [
        ['epoch_1.pth', 'latest.pth'],
        ['epoch_1.pth', 'epoch_2.pth', 'latest.pth'],
        ['epoch_2.pth', 'epoch_3.pth', 'latest.pth'],
        ['epoch_3.pth', 'epoch_4.pth', 'latest.pth'],
    ]
    assert torch.load(tmp_path / 'latest.pth', weights_only=True)['meta']['epoch'] == 4


def test_max_keep_ckpts_with_interval_and_files_of_other_runs(tmp_path):
    # Files numbered after the current epoch (a previous, longer run) and the best checkpoint
    # are not counted nor removed; gaps in the numbering do not stop the clean-up.
    (tmp_path / 'epoch_9.pth').write_bytes(b'old run')
    (tmp_path / 'epoch_1.pth').write_bytes(b'old run')
    (tmp_path / 'best_acc_epoch_1.pth').write_bytes(b'best')
    runner = make_runner(tmp_path, CheckpointHook(interval=2, max_keep_ckpts=2), max_epochs=6)
    rec = FilesAfter(str(tmp_path))
    runner.register_hook(rec, 'LOWEST')
    runner.run([loader()], [('train', 1)])
    other = ['best_acc_epoch_1.pth']
    assert rec.seen[1] == other + ['epoch_1.pth', 'epoch_2.pth', 'epoch_9.pth', 'latest.pth']
    assert rec.seen[3] == other + ['epoch_2.pth', 'epoch_4.pth', 'epoch_9.pth', 'latest.pth']
    assert rec.seen[5] == other + ['epoch_4.pth', 'epoch_6.pth', 'epoch_9.pth', 'latest.pth']


def test_max_keep_ckpts_rotates_the_checkpoint_resumed_from_once_a_newer_one_exists(tmp_path):
    first = make_runner(tmp_path, CheckpointHook(interval=1), max_epochs=4)
    first.run([loader()], [('train', 1)])
    resumed = make_runner(tmp_path, CheckpointHook(interval=1, max_keep_ckpts=1), max_epochs=3)
    resumed.resume(str(tmp_path / 'epoch_1.pth'))
    rec = FilesAfter(str(tmp_path))
    resumed.register_hook(rec, 'LOWEST')
    resumed.run([loader()], [('train', 1)])
    # epoch_1.pth goes once epoch_2.pth is complete; 4 is numbered after the run: left alone
    assert rec.seen == [
        ['epoch_2.pth', 'epoch_3.pth', 'epoch_4.pth', 'latest.pth'],
        ['epoch_3.pth', 'epoch_4.pth', 'latest.pth'],
    ]
    assert os.readlink(tmp_path / 'latest.pth') == 'epoch_3.pth'


def test_resumed_from_latest_keeps_max_keep_ckpts_at_the_end(tmp_path):
    first = make_runner(tmp_path, CheckpointHook(interval=1), max_epochs=2)
    first.run([loader()], [('train', 1)])
    os.remove(tmp_path / 'epoch_2.pth')
    os.symlink('epoch_1.pth', tmp_path / 'latest.tmp')
    os.replace(tmp_path / 'latest.tmp', tmp_path / 'latest.pth')
    resumed = make_runner(tmp_path, CheckpointHook(interval=1, max_keep_ckpts=1), max_epochs=3)
    resumed.resume(str(tmp_path / 'latest.pth'))
    resumed.run([loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path)) == ['epoch_3.pth', 'latest.pth']


def test_the_file_of_an_epoch_end_is_written_after_the_hooks_up_to_low(tmp_path):
    runner = make_runner(tmp_path, CheckpointHook(interval=1), max_epochs=2)
    low, very_low = FilesAfter(str(tmp_path)), FilesAfter(str(tmp_path))
    runner.register_hook(low, 'LOW')  # may still change what epoch_N.pth holds
    runner.register_hook(very_low, 'VERY_LOW')  # the loggers' place: the file is there

    class Late(Hook):
        """Requests a save after the writer of the stage ran: written at once."""

        def after_train_epoch(self, runner):
            path = runner.run_state.save_at_stage_end(runner, 'after_train_epoch', str(tmp_path),
                                                      f'late_{runner.epoch + 1}.pth',
                                                      create_symlink=False)
            assert osp.isfile(path)
    runner.register_hook(Late(), 'LOWEST')
    runner.run([loader()], [('train', 1)])
    assert low.seen == [[], ['epoch_1.pth', 'late_1.pth', 'latest.pth']]
    assert very_low.seen == [['epoch_1.pth', 'latest.pth'],
                             ['epoch_1.pth', 'epoch_2.pth', 'late_1.pth', 'latest.pth']]


def test_by_iter_on_iter_based_runner(tmp_path):
    hook = CheckpointHook(interval=3, by_epoch=False, max_keep_ckpts=2)
    runner = make_runner(tmp_path, hook, max_iters=7)
    rec = FilesAfter(str(tmp_path), 'after_train_iter')
    runner.register_hook(rec, 'LOWEST')
    runner.run([loader()], [('train', 1)])
    assert rec.seen == [[], [], ['iter_3.pth', 'latest.pth'], ['iter_3.pth', 'latest.pth'],
                        ['iter_3.pth', 'latest.pth'], ['iter_3.pth', 'iter_6.pth', 'latest.pth'],
                        ['iter_6.pth', 'iter_7.pth', 'latest.pth']]
    ckpt = torch.load(tmp_path / 'latest.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 7
    # An epoch-wise hook adds nothing to the per-iteration dispatch.
    assert 'after_train_iter' not in CheckpointHook(interval=1).get_triggered_stages()
    assert 'after_train_iter' in hook.get_triggered_stages()


def test_by_iter_on_epoch_based_runner_names_files_by_iteration(tmp_path):
    runner = make_runner(tmp_path, CheckpointHook(interval=4, by_epoch=False), max_epochs=3)
    runner.run([loader()], [('train', 1)])  # 3 iterations an epoch, 9 in all
    assert sorted(os.listdir(tmp_path)) == ['iter_4.pth', 'iter_8.pth', 'iter_9.pth', 'latest.pth']


def test_out_dir_gets_the_work_dir_name(tmp_path):
    work_dir = tmp_path / 'work' / 'exp1'
    hook = CheckpointHook(interval=1, out_dir=str(tmp_path / 'store'))
    runner = make_runner(work_dir, hook, max_epochs=2)
    runner.run([loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path / 'store' / 'exp1')) == ['epoch_1.pth', 'epoch_2.pth',
                                                               'latest.pth']
    assert not [n for n in os.listdir(work_dir) if n.endswith('.pth')]
    assert hook.out_dir == str(tmp_path / 'store')  # the option is unchanged: a 2nd run is the same


def test_built_from_config_and_errors(tmp_path):
    runner = make_runner(tmp_path, Hook(), max_epochs=1)
    runner.register_checkpoint_hook(dict(interval=1, max_keep_ckpts=3))
    hook = [h for h in runner.hooks if isinstance(h, CheckpointHook)][0]
    assert hook.priority == 50 and hook.max_keep_ckpts == 3
    assert HOOKS.get('CheckpointHook') is CheckpointHook
    runner.run([loader()], [('train', 1)])
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth', 'latest.pth']

    no_dir = Runner(Classifier(), max_epochs=1)
    no_dir.register_hook(CheckpointHook(interval=1))
    with pytest.raises(ValueError, match='work_dir'):
        no_dir.run([loader()], [('train', 1)])
    # mmcv's Petrel client has no fsspec equivalent: refused before the first iteration, with
    # what to use instead.
    petrel = make_runner(tmp_path / 'petrel', CheckpointHook(
        interval=1, out_dir='s3://user/data', file_client_args=dict(backend='petrel')), max_epochs=1)
    with pytest.raises(ValueError, match=r"backend 'petrel' .*no fsspec equivalent.*s3://") as err:
        petrel.run([loader()], [('train', 1)])
    assert petrel.iter == 0 and not (tmp_path / 'petrel' / 'data').exists()
    assert isinstance(err.value, AssertionError)  # mmcv asserted there


# ---------------------------------------------------------------- two processes (gloo)
def _dist_worker(rank, world_size, init_file, root):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=60))
    try:
        work_dir = osp.join(root, f'rank{rank}')
        runner = make_runner(work_dir, CheckpointHook(interval=1, sync_buffer=True), seed=rank,
                             max_epochs=1)
        runner.model.bn.momentum = 1.0  # running stats = the last batch's: they differ by rank
        data = DataLoader(DictSet(4, seed=rank), batch_size=4)
        runner.run([data], [('train', 1)])
        with open(osp.join(root, f'out{rank}.json'), 'w') as f:
            json.dump(dict(mean=runner.model.bn.running_mean.tolist(),
                           files=sorted(os.listdir(work_dir))), f)
    finally:
        shutdown_dist()


def test_sync_buffer_and_rank0_only_with_two_processes(tmp_path):
    torch.multiprocessing.spawn(_dist_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)),
                                nprocs=2)
    out = [json.loads((tmp_path / f'out{r}.json').read_text()) for r in range(2)]
    assert out[0]['files'] == ['epoch_1.pth', 'latest.pth']
    assert out[1]['files'] == []  # only rank 0 writes
    expected = (DictSet(4, seed=0).imgs.mean(0) + DictSet(4, seed=1).imgs.mean(0)) / 2
    for o in out:
        assert torch.allclose(torch.tensor(o['mean']), expected, atol=1e-6)
    saved = torch.load(tmp_path / 'rank0' / 'epoch_1.pth', weights_only=True)
    assert torch.allclose(saved['state_dict']['bn.running_mean'], expected, atol=1e-6)
