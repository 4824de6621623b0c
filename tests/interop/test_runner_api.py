"""fastrun's runner API against mmcv 1.7.2's own: the same names in the same modules, and the
same answers (scheme loaders, model-zoo URLs, state dicts, fp16 casts, seeds, loss scales,
checkpoints read both ways)."""
import importlib
import random
import warnings
from unittest import mock

import mmcv.runner as mr
import numpy as np
import pytest
import torch
from mmcv.parallel import MMDataParallel as MmcvDataParallel
from mmcv.runner import checkpoint as mmcv_checkpoint
from mmcv.runner import fp16_utils as mmcv_fp16
from torch import nn

import fastrun
from fastrun import amp, checkpoint, model_zoo

# mmcv.runner's modules whose public names fastrun.<same path> holds (names of accelerators
# fastrun does not target left out).
MODULES = ['checkpoint', 'dist_utils', 'fp16_utils', 'utils', 'base_module', 'optimizer',
           'optimizer.builder', 'optimizer.default_constructor', 'hooks', 'hooks.hook',
           'hooks.optimizer', 'hooks.evaluation', 'hooks.lr_updater', 'hooks.momentum_updater',
           'builder', 'default_constructor', 'base_runner', 'epoch_based_runner',
           'iter_based_runner', 'priority', 'log_buffer']
LEFT_OUT = {'register_torch_npu_optimizers', 'register_torch_optimizers'}


def _public(module):
    names = getattr(module, '__all__', None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith('_')
                 and getattr(v, '__module__', None) == module.__name__]
    return set(names) - LEFT_OUT


def test_every_name_of_mmcv_runner_is_there():
    assert sorted(set(mr.__all__) - set(dir(fastrun))) == []


@pytest.mark.parametrize('module', MODULES)
def test_every_module_of_mmcv_runner_has_its_names(module):
    theirs = importlib.import_module(f'mmcv.runner.{module}')
    ours = importlib.import_module(f'fastrun.{module}')
    assert sorted(n for n in _public(theirs) if not hasattr(ours, n)) == []


def test_mmcv_parallel_registry_and_wrappers():
    from mmcv.parallel import registry as theirs
    from fastrun.parallel import registry as ours
    assert set(theirs.__dict__) >= {'MODULE_WRAPPERS'} and hasattr(ours, 'MODULE_WRAPPERS')
    # mmcv's own wrappers are nn.DataParallel / DDP subclasses: fastrun looks through them too
    assert fastrun.dist.is_module_wrapper(MmcvDataParallel(nn.Linear(1, 1)))


@pytest.mark.parametrize('name', [
    'w.pth', '~/w.pth', 'http://h/w.pth', 'https://h/w.pth', 'modelzoo://r50', 'torchvision://r50',
    'open-mmlab://r50', 'openmmlab://r50', 'mmcls://r50', 'pavi://f/w.pth', 's3://b/w.pth',
    'ss3://b/w.pth', ' s3://b/w.pth', 'c1:s3://b/w.pth', 'openmmlabs3://b/w.pth', ':s3://b/w',
    'gs://b/w.pth'])
def test_the_same_loader_reads_each_scheme(name):
    theirs = mmcv_checkpoint.CheckpointLoader._get_checkpoint_loader(name).__name__
    assert checkpoint.CheckpointLoader._get_checkpoint_loader(name).__name__ == theirs


def test_model_zoo_names_resolve_to_mmcvs_urls():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        external = mmcv_checkpoint.get_external_models()
        mmcls = mmcv_checkpoint.get_mmcls_models()
        deprecated = mmcv_checkpoint.get_deprecated_model_names()
    assert checkpoint.get_external_models() == external
    assert checkpoint.get_mmcls_models() == mmcls
    for name in list(external)[:20] + list(mmcls)[:20]:
        scheme = 'open-mmlab' if name in external else 'mmcls'
        url = (external if scheme == 'open-mmlab' else mmcls)[name]
        if url.startswith('http'):
            assert model_zoo.resolve(f'{scheme}://{name}') == url
    old, new = next(iter(deprecated.items()))
    with pytest.warns(DeprecationWarning, match=f'open-mmlab://{old} is deprecated'):
        assert model_zoo.resolve(f'open-mmlab://{old}') == model_zoo.resolve(f'open-mmlab://{new}')


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)


def test_get_state_dict_is_mmcvs_through_nested_wrappers():
    model = nn.Sequential(nn.DataParallel(Block()), nn.Linear(3, 2))
    theirs = mmcv_checkpoint.get_state_dict(nn.DataParallel(model))
    ours = checkpoint.get_state_dict(nn.DataParallel(model))
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert ours._metadata == theirs._metadata


def test_checkpoints_with_classes_read_both_ways(tmp_path):
    model = Block()
    model.CLASSES = ('a', 'b')
    mmcv_checkpoint.save_checkpoint(model, str(tmp_path / 'mmcv.pth'))
    checkpoint.save_checkpoint(model, str(tmp_path / 'fastrun.pth'))
    for name in ('mmcv.pth', 'fastrun.pth'):
        for load in (mmcv_checkpoint.load_checkpoint, checkpoint.load_checkpoint):
            other = Block()
            ckpt = load(other, str(tmp_path / name), map_location='cpu')
            assert ckpt['meta']['CLASSES'] == ('a', 'b')
            assert torch.equal(other.conv.weight, model.conv.weight)


@pytest.mark.parametrize('src, dst', [(torch.float32, torch.float16), (torch.float16, torch.float32),
                                      (torch.float32, torch.int32)])
def test_cast_tensor_type_is_mmcvs(src, dst):
    data = dict(a=[torch.ones(1), torch.ones(1, dtype=torch.float16)], b=(torch.ones(1, dtype=torch.int64), 'x'),
                c=np.ones(1))
    theirs, ours = mmcv_fp16.cast_tensor_type(data, src, dst), amp.cast_tensor_type(data, src, dst)
    flat = lambda d: [d['a'][0].dtype, d['a'][1].dtype, d['b'][0].dtype, type(d['b']), d['b'][1]]  # noqa: E731
    assert flat(ours) == flat(theirs)


def _decorated(decorators):
    auto, force = decorators

    class Net(nn.Module):
        @auto(apply_to=('x',))
        def f(self, x, y):
            return x, y

        @auto(out_fp32=True)
        def g(self, x):
            return x

        @force(apply_to=('y',))
        def h(self, x, y):
            return x, y

        @force(out_fp16=True)
        def k(self, x):
            return x
    return Net


def test_the_decorators_cast_as_mmcvs():
    outputs = []
    for pair in ((mmcv_fp16.auto_fp16, mmcv_fp16.force_fp32), (amp.auto_fp16, amp.force_fp32)):
        net = _decorated(pair)()
        row = []
        for enabled in (False, True):
            net.fp16_enabled = enabled
            f32, f16 = torch.ones(1), torch.ones(1, dtype=torch.float16)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # mmcv's CUDA autocast on a CPU warns
                row += [t.dtype for t in net.f(f32, f32)] + [net.g(f16).dtype]
                row += [t.dtype for t in net.h(f16, f16)] + [net.k(f32).dtype]
        outputs.append(row)
    assert outputs[0] == outputs[1]


def test_set_random_seed_draws_what_mmcvs_draws():
    draws = []
    for seed in (mr.set_random_seed, fastrun.utils.set_random_seed):
        seed(11)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]


def test_loss_scaler_follows_mmcvs():
    theirs, ours = mmcv_fp16.LossScaler(init_scale=64, scale_window=2), amp.LossScaler(init_scale=64, scale_window=2)
    for overflow in [False, True, False, False, False, True, True, False]:
        theirs.update_scale(overflow)
        ours.update_scale(overflow)
        assert ours.state_dict() == theirs.state_dict()


def test_torch_optimizers_are_mmcvs():
    from mmcv.runner.optimizer.builder import TORCH_OPTIMIZERS as theirs
    from fastrun.optimizer.builder import TORCH_OPTIMIZERS as ours
    assert sorted(ours) == sorted(theirs)


def test_init_dist_slurm_sets_what_mmcvs_sets(monkeypatch):
    from mmcv.runner import dist_utils as theirs
    envs = []
    for module in (theirs, fastrun.dist):
        for k in ('MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv('SLURM_PROCID', '3')
        monkeypatch.setenv('SLURM_NTASKS', '4')
        monkeypatch.setenv('SLURM_NODELIST', 'gpu[1-2]')
        with mock.patch('torch.cuda.device_count', return_value=2), \
                mock.patch('torch.cuda.set_device') as set_device, \
                mock.patch('torch.distributed.init_process_group') as init, \
                mock.patch('subprocess.getoutput', return_value='gpu1') as getoutput, \
                mock.patch('torch.multiprocessing.set_start_method'):
            module.init_dist('slurm', backend='nccl')
        envs.append(({k: __import__('os').environ[k] for k in ('MASTER_ADDR', 'MASTER_PORT', 'RANK',
                                                                'WORLD_SIZE', 'LOCAL_RANK')},
                     set_device.call_args, init.call_args, getoutput.call_args))
    assert envs[0] == envs[1]
