"""Building from configs: optimizers with paramwise_cfg, and mmcv.runner's public names."""
import pytest
import torch

import fastrun
import fastrun.hooks as hooks_pkg
from fastrun import build_optimizer


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        self.head = torch.nn.Linear(4, 2)


def _groups(opt):
    names = {id(p): n for n, p in Net.last.named_parameters()}
    return {names[id(g['params'][0])]: (g['lr'], g['weight_decay']) for g in opt.param_groups}


def test_paramwise_cfg_follows_mmcv_rules():
    Net.last = net = Net()
    opt = build_optimizer(net, dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4,
                                    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.5,
                                                       bias_lr_mult=2.0,
                                                       custom_keys={'head': dict(lr_mult=0.1, decay_mult=0.0)})))
    g = _groups(opt)
    assert g['backbone.0.weight'] == (0.1, 1e-4)
    assert g['backbone.0.bias'] == (0.2, 5e-5)               # bias: lr x2, decay x0.5
    assert g['backbone.1.weight'] == (0.1, 0.0)              # norm: no decay
    assert g['backbone.1.bias'] == (0.1, 0.0)                # norm bias: norm rule, lr kept
    assert g['head.weight'] == pytest.approx((0.01, 0.0))    # custom key wins
    assert g['head.bias'] == pytest.approx((0.01, 0.0))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults['momentum'] == 0.9


def test_plain_optimizer_and_unknown_type():
    opt = build_optimizer(Net(), dict(type='AdamW', lr=1e-3))
    assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 1
    with pytest.raises(KeyError, match="'SDG' is not in the optimizer registry; did you mean 'SGD'"):
        build_optimizer(Net(), dict(type='SDG', lr=0.1))


MMCV_RUNNER_HOOKS = [
    'HOOKS', 'Hook', 'CheckpointHook', 'ClosureHook', 'LrUpdaterHook', 'FixedLrUpdaterHook',
    'StepLrUpdaterHook', 'ExpLrUpdaterHook', 'PolyLrUpdaterHook', 'InvLrUpdaterHook',
    'CosineAnnealingLrUpdaterHook', 'FlatCosineAnnealingLrUpdaterHook', 'CosineRestartLrUpdaterHook',
    'CyclicLrUpdaterHook', 'OneCycleLrUpdaterHook', 'OptimizerHook', 'Fp16OptimizerHook',
    'IterTimerHook', 'DistSamplerSeedHook', 'EmptyCacheHook', 'LoggerHook', 'MlflowLoggerHook',
    'TextLoggerHook', 'TensorboardLoggerHook', 'WandbLoggerHook', 'MomentumUpdaterHook',
    'StepMomentumUpdaterHook', 'CosineAnnealingMomentumUpdaterHook', 'CyclicMomentumUpdaterHook',
    'OneCycleMomentumUpdaterHook', 'SyncBuffersHook', 'EMAHook', 'EvalHook', 'DistEvalHook',
    'ProfilerHook', 'GradientCumulativeOptimizerHook', 'GradientCumulativeFp16OptimizerHook',
    'LinearAnnealingMomentumUpdaterHook', 'LinearAnnealingLrUpdaterHook', 'PaviLoggerHook',
    'NeptuneLoggerHook', 'DvcliveLoggerHook', 'SegmindLoggerHook', 'ClearMLLoggerHook']
MMCV_RUNNER_OTHERS = [
    'BaseRunner', 'Runner', 'EpochBasedRunner', 'IterBasedRunner', 'LogBuffer', 'Priority',
    'get_priority', 'get_host_info', 'get_time_str', 'get_dist_info', 'init_dist', 'master_only',
    'load_checkpoint', 'save_checkpoint', 'load_state_dict', 'weights_to_cpu', 'OPTIMIZERS',
    'OPTIMIZER_BUILDERS', 'DefaultOptimizerConstructor', 'build_optimizer', 'RUNNERS',
    'build_runner', 'IterLoader', 'set_random_seed', 'auto_fp16', 'force_fp32', 'wrap_fp16_model',
    'BaseModule', 'Sequential', 'ModuleList', 'ModuleDict']


@pytest.mark.parametrize('name', MMCV_RUNNER_HOOKS + MMCV_RUNNER_OTHERS)
def test_mmcv_runner_names_are_importable(name):
    assert hasattr(fastrun, name), name
    if name.endswith('Hook') and name != 'Hook':
        assert getattr(hooks_pkg, name) is getattr(fastrun, name)
        if name not in ('LrUpdaterHook', 'MomentumUpdaterHook', 'LoggerHook'):  # bases, as mmcv
            assert name in fastrun.HOOKS
