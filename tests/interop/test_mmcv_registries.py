"""Types registered in mmcv 1.x registries (mmcls's, a user's) are built by fastrun's."""
import mmcls.models  # noqa: F401  (registers mmcls's backbones, heads, classifiers)
from mmcls.models.builder import MODELS as MMCLS_MODELS
import pytest
import torch
from mmcv.utils import Registry as MmcvRegistry
from mmcv.utils import build_from_cfg as mmcv_build_from_cfg

from fastrun.registry import HOOKS, MODELS, Registry

USER_MODELS = MmcvRegistry('models', parent=MMCLS_MODELS, scope='mylab')


@USER_MODELS.register_module()
class TinyNet(torch.nn.Module):
    def __init__(self, width=2):
        super().__init__()
        self.fc = torch.nn.Linear(width, 1)


def test_the_mmcls_scope_prefix_builds_mmcls_classes():
    from mmcls.models.backbones import ResNet
    assert type(MODELS.build(dict(type='mmcls.ResNet', depth=18))) is ResNet
    if MODELS.module_dict.get('ResNet') is None:  # fastrun has none of its own: mmcls's
        assert type(MODELS.build(dict(type='ResNet', depth=18))) is ResNet


def test_a_whole_mmcls_classifier_trains_one_step_from_fastrun_registry():
    model = MODELS.build(dict(type='mmcls.ImageClassifier',
                              backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=1,
                                            out_indices=(0,), strides=(1,), dilations=(1,)),
                              neck=dict(type='GlobalAveragePooling'),
                              head=dict(type='LinearClsHead', num_classes=3, in_channels=64)))
    out = model.train_step(dict(img=torch.randn(2, 3, 8, 8), gt_label=torch.tensor([0, 2])), None)
    assert out['num_samples'] == 2 and torch.isfinite(out['loss'])


def test_a_user_child_registry_is_reached_by_name_and_by_scope():
    assert MODELS.build(dict(type='TinyNet', width=3)).fc.in_features == 3
    assert isinstance(MODELS.build(dict(type='mylab.TinyNet')), TinyNet)


def test_fastrun_wins_a_name_both_have_and_the_scope_prefix_picks_the_other():
    from mmcv.runner.hooks import IterTimerHook as MmcvTimer
    assert HOOKS.get('IterTimerHook').__module__.startswith('fastrun')
    assert HOOKS.get('mmcv.IterTimerHook') is MmcvTimer
    assert HOOKS.get('fastrun.IterTimerHook') is HOOKS.get('IterTimerHook')


def test_two_libraries_with_one_name_is_an_error_naming_both_scopes():
    other = MmcvRegistry('models', parent=MMCLS_MODELS, scope='otherlab')

    @other.register_module(name='RepVGG')
    class OtherResNet:
        pass
    try:
        assert MODELS.get('RepVGG') is None
        with pytest.raises(KeyError) as info:
            MODELS.build(dict(type='RepVGG'))
        assert "'mmcls.RepVGG'" in str(info.value) and "'otherlab.RepVGG'" in str(info.value)
        assert MODELS.get('otherlab.RepVGG') is OtherResNet
    finally:
        del MMCLS_MODELS.children['otherlab']


def test_missing_everywhere_names_the_scopes_searched():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='NoSuchNet'))
    assert 'mmcls' in str(info.value) and "fastrun's model registry" in str(info.value)


def test_mmcv_build_from_cfg_and_mmcv_children_accept_fastrun_registries():
    timer = mmcv_build_from_cfg(dict(type='IterTimerHook'), HOOKS)
    assert type(timer).__module__.startswith('fastrun')
    child = MmcvRegistry('hooks', parent=HOOKS, scope='hooklab')

    @child.register_module()
    class Noop:
        pass
    assert HOOKS.get('hooklab.Noop') is Noop
    assert isinstance(child.build(dict(type='Noop')), Noop)  # fastrun's build_from_cfg, inherited
    fastrun_child = Registry('hooks', parent=HOOKS, scope='hooklab2')
    assert HOOKS.children['hooklab2'] is fastrun_child
