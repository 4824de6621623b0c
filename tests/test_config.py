"""Tests of fastrun.config: reading, inheritance, access, dumping, overrides, custom imports, validation."""
import argparse
import copy
import json
import keyword
import logging
import pickle
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fastrun.config import (KNOWN_KEYS, Config, ConfigDict, ConfigError, DictAction, check_types,
                            check_unknown_keys, import_modules_from_strings, parse_cfg_options)


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def clean_imports(monkeypatch, tmp_path):
    """Run in tmp_path and undo what custom imports add to sys.path and sys.modules."""
    monkeypatch.chdir(tmp_path)
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


# --------------------------------------------------------------------------- reading


def test_read_py_keeps_public_data_only(tmp_path):
    path = write(tmp_path / 'cfg.py', """
        import os
        from os.path import join
        _lr = 0.1
        __secret = 1
        optimizer = dict(type='SGD', lr=_lr)
        work_dir = join(os.path.dirname(__file__), 'work')
        def helper():
            return 1
        class Thing:
            pass
        workflow = [('train', 1)]
    """)
    cfg = Config.fromfile(path)
    assert cfg.to_dict() == {'optimizer': {'type': 'SGD', 'lr': 0.1},
                             'work_dir': str(tmp_path / 'work'), 'workflow': [('train', 1)]}
    assert cfg.filename == str(path)


def test_read_json_and_yaml(tmp_path):
    data = {'optimizer': {'type': 'SGD', 'lr': 0.1}, 'workflow': [['train', 1]]}
    js = write(tmp_path / 'a.json', json.dumps(data))
    ym = write(tmp_path / 'a.yaml', yaml.safe_dump(data))
    yml = write(tmp_path / 'a.yml', yaml.safe_dump(data))
    for path in (js, ym, yml):
        cfg = Config.fromfile(path)
        assert cfg.to_dict() == data
        assert cfg.optimizer.lr == 0.1
    assert Config.fromfile(write(tmp_path / 'empty.yaml', '')).to_dict() == {}


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        Config.fromfile(tmp_path / 'nope.py')


def test_py_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path / 'bad.py', "a = 1\nb = dict(\nc = 3 +\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    assert str(path) in str(info.value) and 'line ' in str(info.value)


def test_py_runtime_error_names_file_and_line(tmp_path):
    path = write(tmp_path / 'bad.py', "a = 1\nb = undefined_name\n")
    with pytest.raises(ConfigError, match=r'bad\.py: line 2: NameError'):
        Config.fromfile(path)


def test_unsupported_suffix_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match=r'cfg\.toml'):
        Config.fromfile(write(tmp_path / 'cfg.toml', 'a = 1'))
    with pytest.raises(ConfigError, match=r'bad\.json: invalid JSON at line 2'):
        Config.fromfile(write(tmp_path / 'bad.json', '{"a": 1,\n}'))
    with pytest.raises(ConfigError, match=r'list\.yaml: the top level must be a mapping'):
        Config.fromfile(write(tmp_path / 'list.yaml', '- 1\n- 2\n'))


def test_yaml_python_tags_are_refused(tmp_path):
    path = write(tmp_path / 'evil.yaml', 'a: !!python/object/apply:os.system ["echo hi"]\n')
    with pytest.raises(ConfigError, match=r'evil\.yaml: invalid YAML \(python/\* tags are refused'):
        Config.fromfile(path)
    marker = tmp_path / 'pwned'
    path = write(tmp_path / 'evil2.yaml', f'a: !!python/object/apply:os.mkdir ["{marker}"]\n')
    with pytest.raises(ConfigError, match='evil2.yaml'):
        Config.fromfile(path)
    assert not marker.exists()


# --------------------------------------------------------------------------- _base_


def test_single_base_relative_to_config_folder(tmp_path):
    write(tmp_path / '_base_' / 'schedule.py', """
        optimizer = dict(type='SGD', lr=0.1, momentum=0.9)
        total_epochs = 12
    """)
    path = write(tmp_path / 'exp' / 'cfg.py', """
        _base_ = '../_base_/schedule.py'
        optimizer = dict(lr=0.02)
    """)
    cfg = Config.fromfile(path)
    assert cfg.to_dict() == {'optimizer': {'type': 'SGD', 'lr': 0.02, 'momentum': 0.9}, 'total_epochs': 12}
    assert '_base_' not in cfg


def test_list_of_bases_nested_and_mixed_formats(tmp_path):
    write(tmp_path / 'root.yaml', 'log_config:\n  interval: 50\n  hooks: [{type: TextLoggerHook}]\n')
    write(tmp_path / 'runtime.json', json.dumps({'_base_': 'root.yaml', 'log_level': 'INFO'}))
    write(tmp_path / 'model.py', "model = dict(type='Net', depth=50)\n")
    path = write(tmp_path / 'cfg.py', """
        _base_ = ['model.py', 'runtime.json']
        model = dict(depth=101)
        log_config = dict(interval=10)
    """)
    cfg = Config.fromfile(path)
    assert cfg.to_dict() == {
        'model': {'type': 'Net', 'depth': 101},
        'log_config': {'interval': 10, 'hooks': [{'type': 'TextLoggerHook'}]},
        'log_level': 'INFO',
    }
    # The text holds every file of the chain, each after its path.
    for name in ('root.yaml', 'runtime.json', 'model.py', 'cfg.py'):
        assert str(tmp_path / name) in cfg.text
    assert "model = dict(depth=101)" in cfg.text and 'TextLoggerHook' in cfg.text


def test_delete_replaces_base_dict(tmp_path):
    write(tmp_path / 'base.py', """
        model = dict(type='Net', backbone=dict(type='ResNet', depth=50, frozen_stages=1))
    """)
    path = write(tmp_path / 'cfg.py', """
        _base_ = './base.py'
        model = dict(backbone=dict(_delete_=True, type='HRNet', width=32))
        extra = dict(_delete_=True, a=1)
    """)
    cfg = Config.fromfile(path)
    assert cfg.to_dict() == {'model': {'type': 'Net', 'backbone': {'type': 'HRNet', 'width': 32}},
                             'extra': {'a': 1}}


def test_child_non_dict_replaces_base_dict_and_vice_versa(tmp_path):
    write(tmp_path / 'base.py', "a = dict(x=1)\nb = None\n")
    path = write(tmp_path / 'cfg.py', "_base_ = 'base.py'\na = [1]\nb = dict(y=2)\n")
    assert Config.fromfile(path).to_dict() == {'a': [1], 'b': {'y': 2}}


def test_duplicate_key_across_bases_is_keyerror(tmp_path):
    write(tmp_path / 'a.py', 'optimizer = dict(lr=1)\n')
    write(tmp_path / 'b.py', 'optimizer = dict(lr=2)\n')
    path = write(tmp_path / 'cfg.py', "_base_ = ['a.py', 'b.py']\n")
    with pytest.raises(KeyError, match="optimizer"):
        Config.fromfile(path)


def test_base_errors(tmp_path):
    path = write(tmp_path / 'cfg.py', "_base_ = 'missing.py'\n")
    with pytest.raises(FileNotFoundError, match='missing.py'):
        Config.fromfile(path)
    write(tmp_path / 'x.py', "_base_ = 'y.py'\n")
    write(tmp_path / 'y.py', "_base_ = 'x.py'\n")
    with pytest.raises(ConfigError, match='circular'):
        Config.fromfile(tmp_path / 'x.py')
    with pytest.raises(ConfigError, match=r'_base_: must be a str or a list of str'):
        Config.fromfile(write(tmp_path / 'z.py', '_base_ = 3\n'))


def test_a_directory_is_not_a_config(tmp_path):
    write(tmp_path / 'configs' / 'a.py', 'x = 1\n')
    write(tmp_path / 'configs' / 'b.yaml', 'x: 1\n')
    with pytest.raises(IsADirectoryError) as info:
        Config.fromfile(tmp_path / 'configs')
    assert info.value.strerror == 'is a directory, not a config file; config files in it: a.py, b.yaml'
    assert info.value.filename.endswith('configs')


def test_json_and_yaml_configs_inherit_from_json_and_yaml_only(tmp_path):
    marker = tmp_path / 'ran'
    write(tmp_path / 'code.py', f"open({str(marker)!r}, 'w').close()\nseed = 1\n")
    write(tmp_path / 'data.yaml', 'log_level: INFO\n')
    write(tmp_path / 'ok.json', json.dumps({'_base_': 'data.yaml', 'seed': 2}))
    assert Config.fromfile(tmp_path / 'ok.json').to_dict() == {'log_level': 'INFO', 'seed': 2}
    # A .py base, directly or further down the chain, would run code: refused, nothing ran.
    write(tmp_path / 'direct.json', json.dumps({'_base_': 'code.py'}))
    write(tmp_path / 'middle.yaml', '_base_: code.py\n')
    write(tmp_path / 'chain.json', json.dumps({'_base_': ['data.yaml', 'middle.yaml']}))
    for name, label in (('direct.json', 'direct.json'), ('chain.json', 'middle.yaml')):
        with pytest.raises(ConfigError, match="'code.py' is a Python file") as info:
            Config.fromfile(tmp_path / name)
        assert info.value.filename == str(tmp_path / label) and info.value.key == '_base_'
        assert not marker.exists()
    with pytest.raises(ConfigError, match='Python file'):
        Config.fromstring(json.dumps({'_base_': str(tmp_path / 'code.py')}), '.json')
    assert not marker.exists()
    # Asked for: mmcv's behaviour.
    assert Config.fromfile(tmp_path / 'chain.json', allow_python_bases=True).seed == 1
    assert marker.exists()
    # A .py config still inherits from any format, and its JSON base from JSON/YAML.
    write(tmp_path / 'top.py', "_base_ = ['ok.json']\nx = 1\n")
    assert Config.fromfile(tmp_path / 'top.py').to_dict() == {'log_level': 'INFO', 'seed': 2, 'x': 1}


# --------------------------------------------------------------------------- access


def test_dict_and_attribute_access(tmp_path):
    cfg = Config.fromfile(write(tmp_path / 'cfg.py', """
        log_config = dict(interval=5, hooks=[dict(type='TextLoggerHook')])
        optimizer = dict(type='SGD', lr=0.1)
        pipeline = (dict(type='Load'),)
    """))
    assert cfg.log_config.interval == 5 and cfg['optimizer']['lr'] == 0.1
    assert cfg.log_config.hooks[0].type == 'TextLoggerHook'
    assert cfg.pipeline[0].type == 'Load' and isinstance(cfg.pipeline, tuple)
    assert isinstance(cfg.optimizer, ConfigDict) and isinstance(cfg, dict)
    assert cfg.get('missing', 7) == 7 and 'optimizer' in cfg and 'missing' not in cfg
    assert list(cfg) == ['log_config', 'optimizer', 'pipeline'] and len(cfg) == 3
    assert list(cfg.keys()) == list(cfg) and dict(cfg.items())['optimizer'].lr == 0.1
    with pytest.raises(AttributeError, match="'nothing'"):
        cfg.nothing
    with pytest.raises(AttributeError, match="'nope'"):
        cfg.optimizer.nope
    assert getattr(cfg, 'nothing', None) is None
    cfg.work_dir = 'x'
    cfg.lr_config = {'policy': 'step', 'steps': [{'a': 1}]}
    assert cfg['work_dir'] == 'x' and cfg.lr_config.steps[0].a == 1
    cfg.optimizer.lr = 0.5
    assert cfg.optimizer['lr'] == 0.5
    del cfg.work_dir
    assert 'work_dir' not in cfg
    cfg |= {'evaluation': {'interval': 1}}
    assert cfg.evaluation.interval == 1 and isinstance(cfg, Config)
    assert (cfg.optimizer | {'extra': {'a': 1}}).extra.a == 1
    plain = cfg.to_dict()
    assert type(plain) is dict and type(plain['lr_config']['steps'][0]) is dict
    assert type(plain['pipeline'][0]) is dict


def test_deepcopy_pickle_and_copy(tmp_path):
    cfg = Config.fromfile(write(tmp_path / 'cfg.py', "model = dict(layers=[dict(n=1)])\n"))
    for other in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert other == cfg and isinstance(other, Config)
        assert other.filename == cfg.filename and other.text == cfg.text
        assert isinstance(other.model.layers[0], ConfigDict)
        other.model.layers[0].n = 2
        assert cfg.model.layers[0].n == 1
    shallow = cfg.copy()
    assert isinstance(shallow, Config) and shallow.filename == cfg.filename and shallow == cfg


# --------------------------------------------------------------------------- pretty_text and dump


def test_pretty_text_is_readable_python(tmp_path):
    cfg = Config({
        'optimizer': {'type': 'SGD', 'lr': 0.1},
        'workflow': [('train', 1), ('val', 1)],
        'scale': (1,),
        'weird': {1: 'a', 'not an identifier': None, 'class': True},
        'pipeline': [{'type': 'LoadImageFromFile'}, {'type': 'Resize', 'img_scale': (1333, 800), 'keep_ratio': True},
                     {'type': 'RandomFlip', 'flip_ratio': 0.5}],
    })
    text = cfg.pretty_text
    assert "optimizer = dict(type='SGD', lr=0.1)\n" in text
    assert "workflow = [('train', 1), ('val', 1)]\n" in text
    assert 'scale = (1,)\n' in text
    assert "weird = {1: 'a', 'not an identifier': None, 'class': True}\n" in text
    assert "pipeline = [\n    dict(type='LoadImageFromFile'),\n" in text
    assert all(len(line) <= 79 for line in text.splitlines())
    assert Config.fromstring(text).to_dict() == cfg.to_dict()


def test_pretty_text_refuses_keys_python_cannot_assign():
    for key in ('not-a-name', 'class', '_private'):
        with pytest.raises(ConfigError, match=f"{key}: cannot be written"):
            Config({key: 1}).pretty_text


def test_pretty_text_round_trips_awkward_names(tmp_path):
    # `dict`/`float` keys shadow the builtins the text calls; `µ` is NFKC-normalised to Greek `μ`.
    cfg = Config({'model': {'lo': float('-inf'), 'µ': 1}, 'dict': {'a': (1,)}, 'float': float('inf')})
    cfg.dump(tmp_path / 'c.py')
    back = Config.fromfile(tmp_path / 'c.py')
    assert back.to_dict() == cfg.to_dict() and 'µ' in back.model
    assert "float('inf')" in Config({'x': float('inf')}).pretty_text


def test_dump_formats(tmp_path):
    cfg = Config({'model': {'type': 'Net', 'sizes': (1, 2)}, 'workflow': [('train', 1)]})
    assert cfg.dump() == cfg.pretty_text
    assert cfg.dump(tmp_path / 'out' / 'c.py') is None
    assert Config.fromfile(tmp_path / 'out' / 'c.py') == cfg
    cfg.dump(tmp_path / 'c.json')
    cfg.dump(tmp_path / 'c.yaml')
    as_lists = {'model': {'type': 'Net', 'sizes': [1, 2]}, 'workflow': [['train', 1]]}
    assert Config.fromfile(tmp_path / 'c.json').to_dict() == as_lists
    assert Config.fromfile(tmp_path / 'c.yaml').to_dict() == as_lists
    with pytest.raises(ConfigError, match='c.txt'):
        cfg.dump(tmp_path / 'c.txt')


_names = st.from_regex(r'[a-z][a-z0-9_]{0,8}', fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=10)
            | st.floats(allow_nan=False))  # nan != nan, so it cannot compare equal after the round trip
_values = st.recursive(
    _scalars,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.lists(inner, max_size=4).map(tuple)
                   | st.dictionaries(st.text(max_size=8).filter(lambda k: k != '_delete_'), inner, max_size=4)
                   | st.dictionaries(_names, inner, max_size=4)),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_names, _values, max_size=6))
def test_dump_py_round_trip(data):
    cfg = Config(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / 'dumped.py'
        cfg.dump(path)
        back = Config.fromfile(path)
    assert back.to_dict() == data
    # Equality ignores bool/int and list/tuple confusions that repr would show.
    assert repr(back.to_dict()) == repr(data)


# --------------------------------------------------------------------------- fromstring


def test_fromstring_formats():
    assert Config.fromstring("a = dict(b=1)\n").a.b == 1
    assert Config.fromstring('{"a": {"b": 1}}', '.json').a.b == 1
    assert Config.fromstring('a:\n  b: 1\n', 'yaml').a.b == 1
    with pytest.raises(ConfigError, match='unsupported'):
        Config.fromstring('a = 1', '.ini')
    with pytest.raises(ConfigError, match='<string>: line 1'):
        Config.fromstring('a = (')


# --------------------------------------------------------------------------- merge_from_dict and options


def test_merge_from_dict_dotted_keys_and_lists():
    cfg = Config({'optimizer': {'type': 'SGD', 'lr': 0.1},
                  'custom_hooks': [{'type': 'A', 'priority': 'NORMAL'}, {'type': 'B'}],
                  'sizes': (1, 2, 3), 'lr_config': None,
                  'model': {'backbone': {'type': 'ResNet', 'depth': 50}}})
    cfg.merge_from_dict({
        'optimizer.lr': 0.01,
        'custom_hooks.0.priority': 'HIGH',
        'custom_hooks.1': {'interval': 2},
        'sizes.1': 20,
        'data.train.type': 'Fake',
        'lr_config.policy': 'step',
        'model.backbone': {'depth': 101},
        'seed': 0,
    })
    assert cfg.optimizer.to_dict() == {'type': 'SGD', 'lr': 0.01}
    assert cfg.custom_hooks[0].priority == 'HIGH'
    assert cfg.custom_hooks[1].to_dict() == {'type': 'B', 'interval': 2}
    assert cfg.sizes == (1, 20, 3)
    assert cfg.data.train.type == 'Fake' and isinstance(cfg.data, ConfigDict)
    assert cfg.lr_config.to_dict() == {'policy': 'step'}
    assert cfg.model.backbone.to_dict() == {'type': 'ResNet', 'depth': 101}
    cfg.merge_from_dict({'model.backbone': {'_delete_': True, 'type': 'HRNet'}})
    assert cfg.model.backbone.to_dict() == {'type': 'HRNet'}


def test_merge_from_dict_errors_name_the_full_key():
    cfg = Config({'custom_hooks': [{'type': 'A'}], 'optimizer': {'lr': 0.1}})
    with pytest.raises(IndexError, match="'custom_hooks.3.priority'"):
        cfg.merge_from_dict({'custom_hooks.3.priority': 'HIGH'})
    with pytest.raises(KeyError, match="custom_hooks.first.priority"):
        cfg.merge_from_dict({'custom_hooks.first.priority': 'HIGH'})
    with pytest.raises(TypeError, match="'optimizer.lr.x'"):
        cfg.merge_from_dict({'optimizer.lr.x': 1})
    # Without list keys a list is just replaced, as a whole.
    cfg.merge_from_dict({'custom_hooks': []}, allow_list_keys=False)
    assert cfg.custom_hooks == []


def test_an_index_into_a_missing_list_is_an_error_not_a_dict_keyed_0():
    cfg = Config({'optimizer': {'lr': 0.1}})
    with pytest.raises(KeyError, match=r"custom_hooks.* is not in the config, so .*0.* has no list item"):
        cfg.merge_from_dict({'custom_hooks.0.priority': 'HIGH'})
    assert 'custom_hooks' not in cfg
    cfg.merge_from_dict({'data.train.type': 'Fake'})  # missing dict levels are still created
    assert cfg.data.train.type == 'Fake'


def test_parse_cfg_options_on_the_usual_strings():
    parsed = parse_cfg_options(['optimizer.lr=0.01', "workflow=[('train',1),('val',1)]",
                                'custom_hooks.0.priority=HIGH', 'a.b=1,2,3', 'flag=True', 'x=None'])
    assert parsed == {'optimizer.lr': 0.01, 'workflow': [('train', 1), ('val', 1)],
                      'custom_hooks.0.priority': 'HIGH', 'a.b': [1, 2, 3], 'flag': True, 'x': None}
    assert type(parsed['flag']) is bool and type(parsed['workflow'][0]) is tuple


def test_parse_cfg_options_edge_cases():
    parsed = parse_cfg_options(['s=a,b', "q='a,b'", 'l=[a,[b,1]]', 't=(a,b)', 'e=', 'd={"k": (1, 2)}',
                                'm=[a]+[b]', "code=__import__('os').system('echo hi')", 'neg=-1e-3'])
    assert parsed == {'s': ['a', 'b'], 'q': 'a,b', 'l': ['a', ['b', 1]], 't': ('a', 'b'), 'e': '',
                      'd': {'k': (1, 2)}, 'm': '[a]+[b]', 'code': "__import__('os').system('echo hi')",
                      'neg': -0.001}
    with pytest.raises(ValueError, match='no_equals_sign'):
        parse_cfg_options(['a=1', 'no_equals_sign'])


def test_dict_action_with_argparse():
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', 'optimizer.lr=0.01', 'a.b=1,2', '--cfg-options', 'seed=3'])
    assert args.cfg_options == {'optimizer.lr': 0.01, 'a.b': [1, 2], 'seed': 3}
    with pytest.raises(argparse.ArgumentError, match='oops'):
        parser.parse_args(['--cfg-options', 'oops'])


# --------------------------------------------------------------------------- custom imports


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_custom_imports_register_next_to_config(tmp_path, clean_imports):
    conf_dir = tmp_path / 'configs'
    write(conf_dir / 'cfgtest_registry.py', """
        from fastrun.registry import Registry
        PLUGINS = Registry('plugins')
    """)
    write(conf_dir / 'cfgtest_plugin.py', """
        from cfgtest_registry import PLUGINS

        @PLUGINS.register_module()
        class MyHook:
            pass
    """)
    path = write(conf_dir / 'cfg.py', "custom_imports = dict(imports=['cfgtest_plugin'], allow_failed_imports=False)\n")
    logger = logging.getLogger('fastrun')
    handler, old_level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        cfg = Config.fromfile(path)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert sys.modules['cfgtest_registry'].PLUGINS.get('MyHook') is not None
    assert str(conf_dir) in sys.path
    assert any('cfgtest_plugin' in m for m in handler.messages)
    assert cfg.custom_imports.imports == ['cfgtest_plugin']


def test_custom_imports_skipped_when_asked(tmp_path, clean_imports):
    path = write(tmp_path / 'cfg.py', "custom_imports = dict(imports=['cfgtest_absent_module'])\n")
    assert Config.fromfile(path, import_custom_modules=False).custom_imports.imports == ['cfgtest_absent_module']


def test_custom_imports_failure_names_module_and_file(tmp_path, clean_imports):
    path = write(tmp_path / 'cfg.py', "custom_imports = dict(imports=['cfgtest_absent_module'])\n")
    with pytest.raises(ImportError, match='cfgtest_absent_module') as info:
        Config.fromfile(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_custom_imports_module_raising_is_an_import_error(tmp_path, clean_imports):
    write(tmp_path / 'cfgtest_broken.py', "raise RuntimeError('boom')\n")
    with pytest.raises(ImportError, match='cfgtest_broken.*boom') as info:
        import_modules_from_strings(['cfgtest_broken'])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_custom_imports_allow_failed_warns(tmp_path, clean_imports):
    write(tmp_path / 'cfgtest_ok.py', "VALUE = 42\n")
    path = write(tmp_path / 'cfg.py', """
        custom_imports = dict(imports=['cfgtest_absent_module', 'cfgtest_ok'], allow_failed_imports=True)
    """)
    with pytest.warns(UserWarning, match='cfgtest_absent_module'):
        Config.fromfile(path)
    assert sys.modules['cfgtest_ok'].VALUE == 42
    with pytest.warns(UserWarning, match='cfgtest_absent_module'):
        modules = import_modules_from_strings(['cfgtest_absent_module', 'cfgtest_ok'], allow_failed_imports=True)
    assert modules[0] is None and modules[1].VALUE == 42
    assert import_modules_from_strings('cfgtest_ok').VALUE == 42


def test_custom_imports_bad_types(tmp_path, clean_imports):
    with pytest.raises(TypeError, match=r'custom_imports\.imports'):
        Config.fromfile(write(tmp_path / 'a.py', "custom_imports = dict(imports=3)\n"))
    with pytest.raises(TypeError, match=r'custom_imports\.allow_failed_imports'):
        Config.fromfile(write(tmp_path / 'b.py', "custom_imports = dict(imports=[], allow_failed_imports='y')\n"))
    with pytest.raises(TypeError, match=r'custom_imports\.typo'):
        Config.fromfile(write(tmp_path / 'c.py', "custom_imports = dict(imports=['x'], typo=1)\n"))


# --------------------------------------------------------------------------- validation


def test_unknown_keys_warn_with_suggestion(tmp_path):
    path = write(tmp_path / 'config.py', "checkpoint_cfg = dict(interval=1)\nzzzqqq = 1\n_private = 2\nseed = 0\n")
    cfg = Config.fromfile(path)
    with pytest.warns(UserWarning) as record:
        messages = check_unknown_keys(cfg)
    assert messages == [f"{path}: unknown key 'checkpoint_cfg' (did you mean 'checkpoint_config'?)",
                        f"{path}: unknown key 'zzzqqq'"]
    assert [str(w.message) for w in record] == messages
    assert "did you mean 'checkpoint_config'" in messages[0]


def test_known_keys_pass_silently():
    cfg = Config({key: None for key in KNOWN_KEYS})
    assert check_unknown_keys(cfg) == []


def _valid():
    return {
        'workflow': [('train', 1), ('val', 1)],
        'runner': {'type': 'EpochBasedRunner', 'max_epochs': 12},
        'data': {'samples_per_gpu': 2, 'workers_per_gpu': 0},
        'optimizer': {'type': 'SGD', 'lr': 0.1},
        'log_config': {'interval': 50},
        'checkpoint_config': {'interval': -1},
        'custom_hooks': [{'type': 'EMAHook'}],
        'load_from': None,
        'resume_from': 'https://example.com/model.pth',
        'seed': None,
    }


def test_valid_config_passes_type_checks(tmp_path):
    check_types(Config(_valid()))
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')
    cfg = _valid()
    cfg.update(load_from=str(ckpt), runner={'type': 'EpochBasedRunner'}, total_epochs=3,
               log_config=None, seed=7)
    check_types(Config(cfg))
    check_types(Config({}))


@pytest.mark.parametrize('dotted, value, key', [
    ('workflow', 'train', 'workflow'),
    ('workflow', [], 'workflow'),
    ('workflow', [('train', 1), ('test', 1)], 'workflow.1'),
    ('workflow', [('train', 0)], 'workflow.0'),
    ('workflow', [('train',)], 'workflow.0'),
    ('runner', 'EpochBasedRunner', 'runner'),
    ('runner', {'max_epochs': 1}, 'runner'),
    ('runner', {'type': 'EpochBasedRunner'}, 'runner'),
    ('runner', {'type': 'EpochBasedRunner', 'max_epochs': 1, 'max_iters': 10}, 'runner'),
    ('runner', {'type': 'IterBasedRunner', 'max_iters': 0}, 'runner.max_iters'),
    ('runner', {'type': 'EpochBasedRunner', 'max_epochs': 1.5}, 'runner.max_epochs'),
    ('data', [], 'data'),
    ('data', {'samples_per_gpu': 0}, 'data.samples_per_gpu'),
    ('data', {'samples_per_gpu': True}, 'data.samples_per_gpu'),
    ('data', {'workers_per_gpu': -1}, 'data.workers_per_gpu'),
    ('optimizer', {'lr': 0.1}, 'optimizer'),
    ('log_config', {'interval': 0}, 'log_config.interval'),
    ('checkpoint_config', {'interval': '1'}, 'checkpoint_config.interval'),
    ('custom_hooks', {'type': 'A'}, 'custom_hooks'),
    ('custom_hooks', [{'type': 'A'}, {'priority': 1}], 'custom_hooks.1'),
    ('load_from', 3, 'load_from'),
    ('resume_from', ['a.pth'], 'resume_from'),
    ('seed', '0', 'seed'),
    ('total_epochs', 0, 'total_epochs'),
])
def test_type_errors_name_file_and_key(tmp_path, dotted, value, key):
    data = _valid()
    data[dotted] = value
    cfg = Config(data, filename=str(tmp_path / 'exp.py'))
    with pytest.raises(ConfigError) as info:
        check_types(cfg)
    assert info.value.key == key
    assert str(info.value).startswith(f'{tmp_path / "exp.py"}: {key}: ')


def test_missing_checkpoint_file_names_key_and_path(tmp_path):
    data = _valid()
    data['load_from'] = str(tmp_path / 'missing.pth')
    with pytest.raises(ConfigError, match=r'load_from: checkpoint file not found: .*missing\.pth'):
        check_types(Config(data))


def test_config_error_pickles():
    err = pickle.loads(pickle.dumps(ConfigError('bad', 'cfg.py', 'a.b')))
    assert str(err) == 'cfg.py: a.b: bad' and isinstance(err, ValueError)
