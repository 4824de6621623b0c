"""fastrun's Registry used the mmcv 1.x way: parent/child scopes, build_func, old call forms."""
import sys

import pytest

from fastrun.registry import HOOKS, MODELS, Registry, build_from_cfg


def test_scope_defaults_to_the_creating_package_and_children_are_reached_by_prefix():
    root = Registry('widget')
    assert root.scope == 'tests'
    child = Registry('widgets', parent=root, scope='shop')

    @child.register_module()
    class Gear:
        def __init__(self, teeth=3):
            self.teeth = teeth

    assert root.children == {'shop': child}
    assert root.get('Gear') is None  # an unscoped key reads the registry itself only
    assert root.build(dict(type='shop.Gear', teeth=5)).teeth == 5
    assert child.get('shop.Gear') is Gear and child.get('Gear') is Gear
    sibling = Registry('widgets', parent=root, scope='yard')
    assert sibling.get('shop.Gear') is Gear  # up to the root, then down
    with pytest.raises(KeyError, match='scope shop exists'):
        Registry('widgets', parent=root, scope='shop')


def test_build_func_is_inherited_and_receives_the_registry():
    calls = []

    def build(cfg, registry, default_args=None):
        calls.append(registry.name)
        return build_from_cfg(cfg, registry, default_args)

    root = Registry('thing', build_func=build)
    child = Registry('things', parent=root, scope='x')
    child.register_module(module=dict.__class__('Box', (), {}))
    assert type(child.build(dict(type='Box'))).__name__ == 'Box'
    assert calls == ['things']
    positional = Registry('other', build)  # mmcv's positional order: name, build_func
    assert positional.build_func is build


def test_register_module_accepts_mmcv_forms():
    reg = Registry('part')

    class A:
        pass

    class B:
        pass
    reg.register_module(A)  # mmcv's old positional form
    reg.register_module(name='A', module=B, force=True)
    assert reg.get('A') is B
    with pytest.raises(KeyError, match='already registered'):
        reg.register_module(name='A', module=A)


def test_missing_type_says_where_it_looked_without_importing_mmcv():
    assert 'mmcv' not in sys.modules
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='NoSuchBackbone'))
    msg = str(info.value)
    assert "fastrun's model registry" in msg and 'custom_imports' in msg
    assert 'mmcv' not in sys.modules
    assert HOOKS.get('fastrun.IterTimerHook') is HOOKS.get('IterTimerHook') is not None
