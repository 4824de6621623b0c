"""mmcv 1.x's runner API under fastrun's module paths: code changes ``mmcv.runner`` to
``fastrun`` (and ``mmcv.parallel`` to ``fastrun.parallel``) and nothing else.

Checkpoint names and URL schemes, model wrappers checkpoints look through, the optimizer and
runner builders, seeding and ``obj_from_dict``, the allreduce helpers, EvalHook's argument
checks. The fp16 helpers: tests/test_fp16_utils.py; the launchers: tests/test_launchers.py.
"""
import datetime
import functools
import http.server
import importlib
import os
import os.path as osp
import random
import threading
import time
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastrun
from fastrun import model_zoo
from fastrun.checkpoint import (CheckpointError, CheckpointLoader, _load_checkpoint,
                                _load_checkpoint_with_prefix, get_state_dict, load_checkpoint,
                                load_from_local, read_checkpoint, save_checkpoint)
from fastrun.errors import ArgumentError
from fastrun.parallel.registry import MODULE_WRAPPERS
from tests.conftest import ToyModel, make_loader

# mmcv.runner's modules and names a mechanical import change reaches (fastrun.<module>).
MODULE_NAMES = {
    'checkpoint': ['CheckpointLoader', '_load_checkpoint', '_load_checkpoint_with_prefix',
                   'get_state_dict', 'load_checkpoint', 'load_from_local', 'load_from_http',
                   'load_from_pavi', 'load_from_ceph', 'load_from_torchvision',
                   'load_from_openmmlab', 'load_from_mmcls', 'load_state_dict', 'save_checkpoint',
                   'weights_to_cpu', 'get_external_models', 'get_mmcls_models'],
    'dist_utils': ['allreduce_grads', 'allreduce_params', 'get_dist_info', 'init_dist',
                   'master_only'],
    'fp16_utils': ['LossScaler', 'auto_fp16', 'cast_tensor_type', 'force_fp32', 'patch_norm_fp32',
                   'patch_forward_method', 'wrap_fp16_model'],
    'utils': ['get_host_info', 'get_time_str', 'obj_from_dict', 'set_random_seed'],
    'base_module': ['BaseModule', 'ModuleDict', 'ModuleList', 'Sequential'],
    'optimizer': ['OPTIMIZERS', 'OPTIMIZER_BUILDERS', 'DefaultOptimizerConstructor',
                  'build_optimizer', 'build_optimizer_constructor'],
    'optimizer.builder': ['OPTIMIZERS', 'OPTIMIZER_BUILDERS', 'TORCH_OPTIMIZERS',
                          'build_optimizer', 'build_optimizer_constructor'],
    'optimizer.default_constructor': ['DefaultOptimizerConstructor'],
    'hooks': ['HOOKS', 'Hook', 'EvalHook', 'DistEvalHook', 'CheckpointHook'],
    'hooks.hook': ['HOOKS', 'Hook'],
    'hooks.optimizer': ['OptimizerHook', 'Fp16OptimizerHook', 'GradientCumulativeOptimizerHook',
                        'GradientCumulativeFp16OptimizerHook'],
    'builder': ['RUNNERS', 'RUNNER_BUILDERS', 'build_runner', 'build_runner_constructor'],
    'default_constructor': ['DefaultRunnerConstructor'],
    'base_runner': ['BaseRunner'],
    'epoch_based_runner': ['EpochBasedRunner', 'Runner'],
    'iter_based_runner': ['IterBasedRunner', 'IterLoader'],
    'parallel': ['MMDataParallel', 'MMDistributedDataParallel', 'MODULE_WRAPPERS',
                 'is_module_wrapper'],
    'parallel.registry': ['MODULE_WRAPPERS'],
}


@pytest.mark.parametrize('module', sorted(MODULE_NAMES))
def test_mmcv_runner_module_paths_hold_their_names(module):
    mod = importlib.import_module(f'fastrun.{module}')
    assert [n for n in MODULE_NAMES[module] if not hasattr(mod, n)] == []


def test_top_level_names_are_the_modules_ones():
    from fastrun import checkpoint, dist, optimizer
    assert fastrun.CheckpointLoader is checkpoint.CheckpointLoader
    assert fastrun._load_checkpoint_with_prefix is checkpoint._load_checkpoint_with_prefix
    assert fastrun.allreduce_grads is dist.allreduce_grads
    assert fastrun.build_optimizer_constructor is optimizer.build_optimizer_constructor
    assert fastrun.hooks.HOOKS is fastrun.HOOKS


# ------------------------------------------------------------------ model wrappers
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.norm = nn.BatchNorm2d(3)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(3, 2)


@MODULE_WRAPPERS.register_module()
class HandMadeWrapper:
    """A wrapper that is not even an nn.Module: its model is ``.module``."""

    def __init__(self, module):
        self.module = module


KEYS = ['block.conv.weight', 'block.conv.bias', 'block.norm.weight', 'block.norm.bias',
        'block.norm.running_mean', 'block.norm.running_var', 'block.norm.num_batches_tracked',
        'head.weight', 'head.bias']


def test_a_registered_wrapper_is_looked_through_at_any_depth():
    net = Net()
    assert fastrun.dist.is_module_wrapper(HandMadeWrapper(net))
    assert not fastrun.dist.is_module_wrapper(net)
    net.block = nn.DataParallel(net.block)  # a wrapped submodule adds no "module." either
    state = get_state_dict(HandMadeWrapper(net))
    assert isinstance(state, OrderedDict) and list(state) == KEYS
    assert state['block.conv.weight'] is not net.block.module.conv.weight  # detached values
    torch.testing.assert_close(state['block.conv.weight'], net.block.module.conv.weight)
    # module versions, as torch's state_dict keeps them (BatchNorm's _version is 2)
    assert state._metadata['block.norm'] == {'version': 2}


def test_save_and_load_through_a_registered_wrapper_keep_classes(tmp_path):
    net = Net()
    net.CLASSES = ('cat', 'dog')
    path = str(tmp_path / 'w.pth')
    save_checkpoint(HandMadeWrapper(net), path)
    ckpt = read_checkpoint(path)
    assert list(ckpt['state_dict']) == KEYS
    assert ckpt['meta']['CLASSES'] == ('cat', 'dog')  # a tuple comes back a tuple
    other = Net()
    loaded = load_checkpoint(HandMadeWrapper(other), path)
    assert loaded['meta']['CLASSES'] == ('cat', 'dog')
    torch.testing.assert_close(other.head.weight, net.head.weight)
    net.CLASSES = ['cat', 'dog']  # ... and a list a list
    save_checkpoint(net, path)
    assert read_checkpoint(path)['meta']['CLASSES'] == ['cat', 'dog']


def test_save_checkpoint_takes_mmcvs_file_client_args(tmp_path):
    net = Net()
    path = str(tmp_path / 'disk.pth')
    save_checkpoint(net, path, None, {'note': 'x'}, {'backend': 'disk'})  # mmcv's positions
    assert read_checkpoint(path)['meta']['note'] == 'x'
    with pytest.raises(ArgumentError, match="backend 'petrel'.*no fsspec equivalent"):
        save_checkpoint(net, str(tmp_path / 'p.pth'), file_client_args={'backend': 'petrel'})
    assert not osp.exists(tmp_path / 'p.pth')
    with pytest.raises(TypeError, match='meta must be a dict'):
        save_checkpoint(net, path, meta='not a dict')


# ------------------------------------------------------------------ URL schemes
@pytest.mark.parametrize('name, loader', [
    ('work_dirs/a/latest.pth', 'load_from_local'), ('~/w.pth', 'load_from_local'),
    ('gs://bucket/w.pth', 'load_from_local'),  # any fsspec URL no scheme claims: read_checkpoint
    ('http://host/w.pth', 'load_from_http'), ('https://host/w.pth', 'load_from_http'),
    ('torchvision://resnet50', 'load_from_torchvision'),
    ('modelzoo://resnet50', 'load_from_torchvision'),
    ('open-mmlab://resnet50_v1c', 'load_from_openmmlab'),
    ('openmmlab://resnet50_v1c', 'load_from_openmmlab'), ('mmcls://resnet50', 'load_from_mmcls'),
    ('pavi://folder/w.pth', 'load_from_pavi'), ('s3://bucket/w.pth', 'load_from_ceph'),
    ('cluster:s3://bucket/w.pth', 'load_from_ceph'), ('xs3://bucket/w.pth', 'load_from_local'),
])
def test_each_name_goes_to_the_loader_of_its_scheme(name, loader):
    assert CheckpointLoader._get_checkpoint_loader(name).__name__ == loader


def test_registered_schemes_the_longest_first_and_force_to_replace(monkeypatch):
    monkeypatch.setattr(CheckpointLoader, '_schemes', OrderedDict(CheckpointLoader._schemes))

    @CheckpointLoader.register_scheme(prefixes='vault://')
    def from_vault(filename, map_location):
        return {'from': 'vault', 'name': filename}

    @CheckpointLoader.register_scheme(prefixes='vault://cold/')
    def from_cold_vault(filename, map_location):
        return {'from': 'cold'}

    assert _load_checkpoint('vault://x.pth') == {'from': 'vault', 'name': 'vault://x.pth'}
    assert _load_checkpoint('vault://cold/x.pth') == {'from': 'cold'}
    with pytest.raises(KeyError, match='vault:// is already registered'):
        CheckpointLoader.register_scheme('vault://', lambda f, m: {})
    CheckpointLoader.register_scheme('vault://', lambda f, m: {'from': 'new'}, force=True)
    assert _load_checkpoint('vault://x.pth') == {'from': 'new'}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """A folder served over HTTP on 127.0.0.1 while the test runs: its base URL. Downloads go
    to a cache of the test's own (torch's hub folder, which keeps files by name)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    root = tmp_path / 'served'
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_http_checkpoints_are_downloaded_once_into_the_cache(http_root, tmp_path):
    root, base = http_root
    net = Net()
    save_checkpoint(net, str(root / 'net.pth'))
    cache = tmp_path / 'cache'
    other = Net()
    ckpt = _load_checkpoint(f'{base}/net.pth')
    assert list(ckpt['state_dict']) == KEYS
    loaded = load_checkpoint(other, f'{base}/net.pth')
    torch.testing.assert_close(other.head.weight, net.head.weight)
    assert loaded['meta']['torch_version'] == torch.__version__
    from fastrun.checkpoint import load_from_http
    ckpt = load_from_http(f'{base}/net.pth', model_dir=str(cache))
    assert os.listdir(cache) == ['net.pth']
    os.remove(root / 'net.pth')  # gone from the server: the cached copy is read
    assert list(load_from_http(f'{base}/net.pth', model_dir=str(cache))['state_dict']) == KEYS


def test_an_unreachable_url_is_one_line_naming_it(http_root, tmp_path):
    _, base = http_root
    url = f'{base}/missing.pth'
    with pytest.raises(CheckpointError) as e:
        _load_checkpoint(url)
    msg = str(e.value)
    assert msg.startswith(f'{url}: cannot download the checkpoint (') and '\n' not in msg
    assert msg.endswith('download it where there is a network and give its local path')


@pytest.fixture
def zoo(monkeypatch, tmp_path):
    """Empty model-zoo tables (no mmcv's), ``$MMCV_HOME`` a fresh folder."""
    monkeypatch.setattr(model_zoo, '_mmcv_table', lambda name: {})
    monkeypatch.setattr(model_zoo, '_torchvision_weights', lambda: {})
    monkeypatch.setattr(model_zoo, '_REGISTERED', {k: {} for k in model_zoo._REGISTERED})
    home = tmp_path / 'mmcv_home'
    home.mkdir()
    monkeypatch.setenv('MMCV_HOME', str(home))
    return home


def _classifier_checkpoint(path):
    backbone, head = Net(), nn.Linear(2, 2)
    state = OrderedDict([(f'backbone.{k}', v) for k, v in backbone.state_dict().items()]
                        + [(f'head.fc.{k}', v) for k, v in head.state_dict().items()])
    torch.save({'state_dict': state, 'meta': {}}, path)
    return backbone


def test_model_zoo_names_resolve_as_mmcvs_tables_do(zoo, http_root):
    root, base = http_root
    backbone = _classifier_checkpoint(str(root / 'cls.pth'))
    model_zoo.register_model_urls('mmcls', {'tiny': f'{base}/cls.pth'})
    # mmcls:// is the backbone of a classifier: its keys without "backbone."
    state = _load_checkpoint('mmcls://tiny')['state_dict']
    assert list(state) == KEYS
    torch.testing.assert_close(state['head.weight'], backbone.head.weight)
    # open-mmlab://: user names in $MMCV_HOME/open_mmlab.json; a relative value is a file there
    save_checkpoint(Net(), str(zoo / 'mine.pth'))
    (zoo / 'open_mmlab.json').write_text('{"mine": "mine.pth", "remote": "%s/cls.pth"}' % base)
    assert list(_load_checkpoint('open-mmlab://mine')['state_dict']) == KEYS
    assert 'backbone.head.weight' in _load_checkpoint('openmmlab://remote')['state_dict']
    model_zoo.register_model_urls('open-mmlab', {}, deprecated={'old_mine': 'mine'})
    with pytest.warns(DeprecationWarning, match='open-mmlab://old_mine is deprecated in favor of '
                                                'open-mmlab://mine'):
        assert model_zoo.resolve('open-mmlab://old_mine') == str(zoo / 'mine.pth')
    # torchvision://: lower case, without "_weights"
    model_zoo.register_model_urls('torchvision', {'resnet50.imagenet1k_v1': f'{base}/cls.pth'})
    assert model_zoo.resolve('torchvision://ResNet50_Weights.IMAGENET1K_V1') == f'{base}/cls.pth'


def test_an_unknown_model_zoo_name_says_so_with_the_closest(zoo):
    with pytest.raises(CheckpointError, match=r'open-mmlab://resnet50: unknown open-mmlab:// '
                                              r'model name \(no table is installed'):
        _load_checkpoint('open-mmlab://resnet50')
    model_zoo.register_model_urls('mmcls', {'resnet50': 'https://example.invalid/r50.pth'})
    with pytest.raises(CheckpointError, match=r'mmcls://resnet5: .*1 names known\); did you mean '
                                              r'resnet50\?'):
        _load_checkpoint('mmcls://resnet5')


def test_init_cfg_pretrained_reads_model_zoo_names(zoo):
    from fastrun.models import load_pretrained
    _classifier_checkpoint(str(zoo / 'cls.pth'))
    model_zoo.register_model_urls('open-mmlab', {'cls': 'cls.pth'})
    net = Net()
    report = load_pretrained(net, 'open-mmlab://cls', prefix='backbone')
    assert report['missing'] == [] and report['unexpected'] == []


def test_pavi_and_petrel_prefixes():
    from fastrun.checkpoint import load_from_ceph, load_from_pavi
    with pytest.raises(AssertionError, match='startswith `pavi://`'):
        load_from_pavi('folder/w.pth')
    try:
        import pavi  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r'pavi://f/w.pth: reading from PAVI needs the pavi '
                                              r'package'):
            load_from_pavi('pavi://f/w.pth')
    with pytest.raises(ArgumentError, match="'cluster:' prefix names a Petrel cluster"):
        load_from_ceph('cluster:s3://bucket/w.pth')
    with pytest.raises(ValueError, match='Backend disk is not supported'):
        load_from_ceph('s3://bucket/w.pth', backend='disk')


def test_local_loader_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    save_checkpoint(Net(), str(tmp_path / 'w.pth'))
    assert list(load_from_local('~/w.pth')['state_dict']) == KEYS
    with pytest.raises(FileNotFoundError, match='can not be found'):
        load_from_local('~/none.pth')


def test_a_prefix_of_a_checkpoint(tmp_path):
    net = Net()
    path = str(tmp_path / 'w.pth')
    torch.save(net.state_dict(), path)  # a bare state dict
    block = _load_checkpoint_with_prefix('block', path)
    assert sorted(block) == sorted(k[len('block.'):] for k in KEYS if k.startswith('block.'))
    torch.testing.assert_close(block['conv.weight'], net.block.conv.weight)
    with pytest.raises(AssertionError, match=f'neck. is not in the pretrained model {path}'):
        _load_checkpoint_with_prefix('neck', path)


# ------------------------------------------------------------------ builders
def test_torch_optimizers_are_all_registered_with_the_base_class():
    from fastrun.optimizer.builder import OPTIMIZERS, TORCH_OPTIMIZERS
    assert {'SGD', 'Adam', 'AdamW', 'LBFGS', 'Optimizer', 'SparseAdam'} <= set(TORCH_OPTIMIZERS)
    assert OPTIMIZERS.get('Optimizer') is torch.optim.Optimizer
    assert all(OPTIMIZERS.get(n) is getattr(torch.optim, n) for n in TORCH_OPTIMIZERS)


def test_a_registered_optimizer_constructor_is_built_by_name():
    from fastrun import OPTIMIZER_BUILDERS, DefaultOptimizerConstructor
    from fastrun.optimizer import build_optimizer, build_optimizer_constructor

    @OPTIMIZER_BUILDERS.register_module(force=True)
    class HeadFasterConstructor(DefaultOptimizerConstructor):
        def __call__(self, model):
            groups = [{'params': [p], 'lr': self.base_lr * (10 if n.startswith('head') else 1)}
                      for n, p in model.named_parameters()]
            return torch.optim.SGD(groups, lr=self.base_lr)

    net = Net()
    constructor = build_optimizer_constructor(dict(type='HeadFasterConstructor',
                                                   optimizer_cfg=dict(type='SGD', lr=0.1)))
    lrs = [g['lr'] for g in constructor(net).param_groups]
    assert lrs == [0.1] * 4 + [1.0, 1.0]
    optimizer = build_optimizer(net, dict(type='SGD', lr=0.1, constructor='HeadFasterConstructor'))
    assert [g['lr'] for g in optimizer.param_groups] == lrs


def test_runner_constructors(tmp_path):
    from fastrun import RUNNER_BUILDERS, DefaultRunnerConstructor, build_runner

    @RUNNER_BUILDERS.register_module(force=True)
    class TwoEpochsConstructor(DefaultRunnerConstructor):
        def __call__(self):
            return super().__call__().__class__(max_epochs=2, **self.default_args)

    model = ToyModel()
    args = dict(model=model, work_dir=str(tmp_path))
    runner = build_runner(dict(type='EpochBasedRunner', max_epochs=5), args)
    assert runner.max_epochs == 5
    runner = build_runner(dict(type='EpochBasedRunner', max_epochs=5,
                               constructor='TwoEpochsConstructor'), args)
    assert type(runner).__name__ == 'EpochBasedRunner' and runner.max_epochs == 2
    with pytest.raises(TypeError, match='runner_cfg should be a dict'):
        DefaultRunnerConstructor(['EpochBasedRunner'])


def test_obj_from_dict():
    from fastrun.utils import obj_from_dict
    opt = obj_from_dict(dict(type='SGD', lr=0.5), torch.optim,
                        default_args=dict(params=Net().parameters(), lr=0.1))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults['lr'] == 0.5
    assert obj_from_dict(dict(type=dict, a=1)) == {'a': 1}
    with pytest.raises(AssertionError, match='"type" key'):
        obj_from_dict(dict(lr=1))
    with pytest.raises(KeyError, match="'Sgd' is not in torch.optim"):
        obj_from_dict(dict(type='Sgd'), torch.optim)
    with pytest.raises(TypeError, match='type must be a str or valid type'):
        obj_from_dict(dict(type=3))


def test_set_random_seed_seeds_everything_and_the_hash_seed(monkeypatch):
    from fastrun.utils import set_random_seed
    monkeypatch.delenv('PYTHONHASHSEED', raising=False)
    draws = []
    for _ in range(2):
        assert set_random_seed(7) == 7
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1] and os.environ['PYTHONHASHSEED'] == '7'
    monkeypatch.setattr(fastrun.builder, 'get_dist_info', lambda: (3, 4))
    assert set_random_seed(7, use_rank_shift=True) == 10 and os.environ['PYTHONHASHSEED'] == '10'
    assert set_random_seed(7, rank=1) == 8


def _allreduce_worker(rank, init_file):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    try:
        from fastrun.dist import allreduce_grads, allreduce_params
        torch.manual_seed(rank)
        net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2).double())
        net[1].bias.requires_grad_(False)
        for p in net.parameters():
            p.grad = torch.full_like(p, float(rank + 1)) if p.requires_grad else None
        params = [p.detach().clone() for p in net.parameters()]
        gathered = [[torch.empty_like(p) for _ in range(2)] for p in params]
        for g, p in zip(gathered, params):
            dist.all_gather(g, p)
        allreduce_grads(list(net.parameters()), bucket_size_mb=1e-5)  # tiny buckets: several
        for p in net.parameters():
            if p.requires_grad:
                torch.testing.assert_close(p.grad, torch.full_like(p, 1.5))
        allreduce_params(list(net.parameters()))
        for p, g in zip(net.parameters(), gathered):
            torch.testing.assert_close(p.detach(), (g[0] + g[1]) / 2)
        buf = [torch.full((2,), float(rank))]
        allreduce_params(buf, coalesce=False)
        torch.testing.assert_close(buf[0], torch.full((2,), 0.5))
    finally:
        dist.destroy_process_group()


def test_allreduce_grads_and_params_average_over_two_processes(tmp_path):
    ctx = mp.spawn(_allreduce_worker, args=(str(tmp_path / 'init'),), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail('the 2-process workers did not finish in 120 s')


def test_allreduce_helpers_do_nothing_on_one_process():
    from fastrun.dist import allreduce_grads, allreduce_params
    p = nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    allreduce_grads([p])
    allreduce_params([p])
    assert p.grad.tolist() == [3.0, 3.0] and p.tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ EvalHook's checks
class _Scores(TensorDataset):
    def __init__(self, metrics):
        super().__init__(torch.zeros(2, 4))
        self.metrics = metrics

    def evaluate(self, results, logger=None):
        return dict(self.metrics)


class _Model(ToyModel):
    def forward(self, x, return_loss=True):
        return super().forward(x) if return_loss else [0.0] * len(x)


def test_eval_hook_checks_its_loader_first_and_refuses_save_best_true():
    from unittest import mock
    from fastrun import EvalHook
    with pytest.raises(TypeError, match='must be a pytorch DataLoader'):
        EvalHook(mock.MagicMock(), interval=-1)  # the loader is checked before the interval
    loader = DataLoader(_Scores({}))
    with pytest.raises(AssertionError, match=r"save_best must be a str or None, got True "
                                             r"\(save_best='auto'"):
        EvalHook(loader, save_best=True)


def test_eval_hook_warns_in_mmcvs_words_when_there_is_no_metric(tmp_path):
    from fastrun import EpochBasedRunner, EvalHook
    model = _Model()
    runner = EpochBasedRunner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              work_dir=str(tmp_path), max_epochs=1)
    runner.register_hook(EvalHook(DataLoader(_Scores({})), save_best='auto'), 'LOW')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        runner.run([make_loader(1)], [('train', 1)])
    assert 'Since `eval_res` is an empty dict, the behavior to save the best checkpoint will ' \
           'be skipped in this evaluation.' in [str(w.message) for w in caught]
    assert not any(n.startswith('best_') for n in os.listdir(tmp_path))
