"""mmcv 1.x Config semantics that configs and tools written for mmcv rely on.

Base-variable references (``{{ _base_.x }}``), predefined variables, ``_deprecation_``,
reserved keys, the ``_cfg_dict`` attribute API with copy/deepcopy/pickle, dumping that reads
back, ``merge_from_dict`` with list keys, DictAction's value parsing and ConfigDict behaviour.
"""
import argparse
import copy
import json
import pickle
import textwrap
import warnings
from pathlib import Path

import pytest
import yaml

from fastrun import Config, ConfigDict, DictAction
from fastrun.config import ConfigError, OptionValueError, parse_cfg_options


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def schedule(tmp_path):
    """A base with a list of dicts, a nested dict and a scalar to refer to."""
    return write(tmp_path / '_base_' / 'aug.py', """
        policies = [dict(type='Rotate', angle=30), dict(type='Shear', magnitude=0.3)]
        norm = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
        size = 224
    """)


# --------------------------------------------------------------------------- {{ _base_.x }}


def test_base_references_stand_for_base_values_anywhere_in_a_py_config(tmp_path, schedule):
    path = write(tmp_path / 'cfg.py', """
        _base_ = ['./_base_/aug.py']
        pipeline = [
            dict(type='RandAugment', policies={{_base_.policies}}),
            dict(type='Normalize', norm_cfg={{ _base_.norm }}),
            dict(type='Resize', size=({{_base_.size}}, -1)),
        ]
        mean = {{ _base_.norm.mean }}
        mean_again = mean          # a variable holding a reference is the value too
        first = {{_base_.policies.0.type}}
    """)
    cfg = Config.fromfile(path)
    assert cfg.pipeline[0].policies == [{'type': 'Rotate', 'angle': 30}, {'type': 'Shear', 'magnitude': 0.3}]
    assert isinstance(cfg.pipeline[0].policies[0], ConfigDict)
    assert cfg.pipeline[2].size == (224, -1)
    assert cfg.mean == cfg.mean_again == [123.675, 116.28, 103.53]
    assert cfg.first == 'Rotate'
    # The base keys are inherited as usual; the reference copied, so they stay apart.
    cfg.pipeline[0].policies[0].angle = 0
    assert cfg.policies[0].angle == 30


def test_base_references_in_json_and_yaml_and_through_two_levels(tmp_path, schedule):
    write(tmp_path / 'mid.yaml', """
        _base_: ./_base_/aug.py
        train: {size: {{ _base_.size }}, policies: {{_base_.policies}}}
    """)
    write(tmp_path / 'top.json', """
        {"_base_": "mid.yaml", "test": {"size": {{ _base_.train.size }}}, "n": [{{_base_.size}}]}
    """)
    cfg = Config.fromfile(tmp_path / 'top.json', allow_python_bases=True)
    assert cfg.train.size == 224 and cfg.train.policies[1].type == 'Shear'
    assert cfg.test.size == 224 and cfg.n == [224]
    assert cfg.text.count('{{') == 4  # the text is what the files say, references and all


def test_a_bad_base_reference_is_one_line_naming_file_key_and_reference(tmp_path, schedule):
    path = write(tmp_path / 'missing.py', "_base_ = './_base_/aug.py'\nx = dict(y={{ _base_.norm.median }})\n")
    with pytest.raises(KeyError) as info:
        Config.fromfile(path)
    assert str(info.value) == (f"{path}: x.y: {{{{_base_.norm.median}}}}: its _base_ files define "
                               f"no 'norm.median'")
    path = write(tmp_path / 'nobase.py', 'x = {{ _base_.size }}\n')
    with pytest.raises(ConfigError, match=r'nobase\.py: x: \{\{_base_\.size\}\} refers to a _base_ file, '
                                          r'but this config has no _base_'):
        Config.fromfile(path)
    path = write(tmp_path / 'instring.py', "_base_ = './_base_/aug.py'\nx = 'size {{ _base_.size }}'\n")
    with pytest.raises(ConfigError, match=r'instring\.py: x: .* must stand for a whole value'):
        Config.fromfile(path)


# --------------------------------------------------------------------------- predefined variables


def test_predefined_variables_name_the_file_they_are_in(tmp_path):
    write(tmp_path / 'base' / 'paths.yaml', "here: '{{ fileDirname }}'\n")
    path = write(tmp_path / 'exp' / 'run.py', """
        _base_ = '../base/paths.yaml'
        work_dir = './work_dirs/{{ fileBasenameNoExtension }}'
        names = ['{{fileBasename}}', '{{ fileExtname }}', '{{fileDirname}}']
    """)
    cfg = Config.fromfile(path)
    assert cfg.work_dir == './work_dirs/run'
    assert cfg.names == ['run.py', '.py', (tmp_path / 'exp').as_posix()]
    assert cfg.here == (tmp_path / 'base').as_posix()
    # Asked not to: the config's own stay as written (its bases still get theirs, as mmcv).
    raw = Config.fromfile(path, use_predefined_variables=False)
    assert raw.work_dir == './work_dirs/{{ fileBasenameNoExtension }}'
    assert raw.here == (tmp_path / 'base').as_posix()
    js = write(tmp_path / 'o.json', '{"item": "{{ fileDirname }}/x"}')
    assert Config.fromfile(js).item == f'{tmp_path.as_posix()}/x'


# --------------------------------------------------------------------------- merging, _deprecation_, reserved keys


def test_a_dict_over_a_non_dict_base_value_needs_delete(tmp_path):
    write(tmp_path / 'base.py', 'grad_clip = False\nlr_config = None\nsteps = [1, 2]\n')
    path = write(tmp_path / 'cfg.py', "_base_ = 'base.py'\ngrad_clip = dict(max_norm=5)\n")
    with pytest.raises(TypeError) as info:
        Config.fromfile(path)
    assert str(info.value) == (f"{path}: grad_clip: a dict cannot be merged into the bool False it "
                               "overrides; add _delete_=True to the dict to replace the value")
    path = write(tmp_path / 'ok.py', """
        _base_ = 'base.py'
        grad_clip = dict(_delete_=True, max_norm=5)
        lr_config = dict(policy='step')  # None is no value: a dict takes its place
        steps = dict(_delete_=True, first=1)
    """)
    assert Config.fromfile(path).to_dict() == {'grad_clip': {'max_norm': 5}, 'lr_config': {'policy': 'step'},
                                               'steps': {'first': 1}}


def test_merging_copies_what_two_base_values_share(tmp_path):
    write(tmp_path / 'base.py', "shared = dict(b=1)\nfirst = dict(cfg=shared)\nsecond = dict(cfg=shared)\n")
    path = write(tmp_path / 'cfg.py', "_base_ = 'base.py'\nsecond = dict(cfg=dict(b=2))\n")
    cfg = Config.fromfile(path)
    assert cfg.first.cfg.b == 1 and cfg.second.cfg.b == 2 and cfg.shared.b == 1


def test_deprecation_warns_with_mmcv_words_also_from_a_base(tmp_path):
    write(tmp_path / 'new.py', 'x = 1\n')
    old = write(tmp_path / 'old.py', """
        _base_ = 'new.py'
        _deprecation_ = dict(expected='new.py', reference='https://example.org/pr/1')
    """)
    child = write(tmp_path / 'child.py', "_base_ = 'old.py'\ny = 2\n")
    for path in (old, child):
        with pytest.warns(DeprecationWarning) as record:
            cfg = Config.fromfile(path)
        assert str(record[0].message) == (f'The config file {old} will be deprecated in the future. '
                                          'Please use new.py instead. More information can be found '
                                          'at https://example.org/pr/1')
        assert '_deprecation_' not in cfg and cfg.x == 1


@pytest.mark.parametrize('key', ['filename', 'text', 'pretty_text'])
def test_reserved_keys_are_refused(tmp_path, key):
    path = write(tmp_path / 'cfg.py', f"{key} = 'x'\n")
    with pytest.raises(KeyError) as info:
        Config.fromfile(path)
    assert str(info.value) == f"{path}: {key}: '{key}' is reserved for the config's own Config.{key}; rename the key"
    with pytest.raises(KeyError, match=key):
        Config({key: 1})


def test_a_syntax_error_is_a_syntax_error_in_mmcv_words(tmp_path):
    path = write(tmp_path / 'bad.py', 'a=0b=dict(c=1)\n')
    with pytest.raises(SyntaxError, match='There are syntax errors in config file') as info:
        Config.fromfile(path)
    assert str(info.value).startswith(f'{path}: line 1: ') and info.value.lineno == 1
    assert isinstance(info.value, ConfigError)


# --------------------------------------------------------------------------- the Config object


def test_cfg_dict_holds_the_content_and_copies_follow_mmcv(tmp_path):
    cfg = Config.fromfile(write(tmp_path / 'cfg.py', "model = dict(depth=50, layers=[dict(n=1)])\n"))
    assert type(cfg._cfg_dict) is ConfigDict and cfg._cfg_dict == {'model': {'depth': 50, 'layers': [{'n': 1}]}}
    assert cfg._filename == str(tmp_path / 'cfg.py') and cfg._text == cfg.text
    cfg.seed = 3
    cfg['work_dir'] = {'a': {'b': None}}
    assert cfg._cfg_dict['seed'] == 3 and cfg.work_dir.a.b is None
    alias = copy.copy(cfg)  # mmcv's copy.copy: another Config over the same content
    assert alias is not cfg and alias._cfg_dict is cfg._cfg_dict
    alias.seed = 4
    assert cfg.seed == 4
    for other in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert isinstance(other, Config) and other._cfg_dict == cfg._cfg_dict
        assert other._cfg_dict is not cfg._cfg_dict and other.filename == cfg.filename
        other.model.layers[0].n = 2
        assert cfg.model.layers[0].n == 1
    shallow = cfg.copy()  # the dict method: a new mapping, same filename
    shallow.pop('seed')
    assert 'seed' in cfg and shallow.filename == cfg.filename


def test_a_config_is_a_dict_to_every_consumer(tmp_path):
    cfg = Config({'a': 1, 'b': {'c': [1, 2]}})
    assert isinstance(cfg, dict) and dict(cfg) == {'a': 1, 'b': {'c': [1, 2]}}
    assert json.loads(json.dumps(cfg)) == {'a': 1, 'b': {'c': [1, 2]}}
    assert (lambda **kw: kw)(**cfg)['a'] == 1 and {**cfg}['b'].c == [1, 2]
    cfg.d = 4  # the dict's own storage follows, for C code that reads it
    del cfg['a']
    assert json.dumps(cfg) == '{"b": {"c": [1, 2]}, "d": 4}' and json.dumps(Config()) == '{}'
    cfg.merge_from_dict({'a': 1})
    del cfg.d
    assert cfg == {'a': 1, 'b': {'c': [1, 2]}} and {'a': 1, 'b': {'c': [1, 2]}} == cfg
    assert cfg != {'a': 2} and bool(Config()) is False and len(cfg) == 2
    assert list(reversed(cfg)) == list(cfg)[::-1] and sorted(cfg.items())[0] == ('a', 1)
    merged = {'z': 0} | cfg
    assert merged == {'z': 0, 'a': 1, 'b': {'c': [1, 2]}}
    assert repr(cfg) == "Config (path: None): {'b': {'c': [1, 2]}, 'a': 1}"
    with pytest.raises(AttributeError, match=r"^'Config' object has no attribute 'nope'$"):
        cfg.nope


def test_config_dict_semantics_are_addicts():
    d = ConfigDict(model=dict(backbone=dict(depth=50, stages=4)))
    with pytest.raises(AttributeError) as info:
        d.model.neck
    assert str(info.value) == "'ConfigDict' object has no attribute 'neck'"
    d.update(model=dict(backbone=dict(depth=101)))  # merged into the nested dict, not replacing it
    assert d.model.backbone == {'depth': 101, 'stages': 4}
    with pytest.raises(AttributeError, match="'ConfigDict' object attribute 'items' is read-only"):
        d.items = 1
    other = d | {'model': {'backbone': {'stages': 2}}}
    assert other.model.backbone.stages == 2 and d.model.backbone.stages == 4


# --------------------------------------------------------------------------- fromstring and dump


@pytest.mark.parametrize('fmt, text', [
    ('.py', "_base_ = 'base.py'\nmodel = dict(depth={{_base_.depth}})\n"),
    ('.json', '{"_base_": "base.json", "model": {"depth": {{_base_.depth}}}}'),
    ('.yaml', "_base_: base.yaml\nmodel:\n  depth: {{ _base_.depth }}\n"),
])
def test_fromstring_reads_every_format_with_bases_from_the_working_directory(tmp_path, monkeypatch, fmt, text):
    monkeypatch.chdir(tmp_path)
    Config({'depth': 50}).dump(tmp_path / f'base{fmt}')
    cfg = Config.fromstring(text, fmt)
    assert cfg.to_dict() == {'depth': 50, 'model': {'depth': 50}} and cfg.filename is None


def test_dump_writes_each_format_that_reads_back_to_the_same_dict(tmp_path):
    cfg = Config({'model': {'type': 'Net', 'depth': 18, 'weird': {6: 'x', 'c/d': [1.5, None]}},
                  'pipeline': [{'type': 'Load'}, {'type': 'Flip', 'ratio': 0.5}], 'flag': True})
    for name in ('c.py', 'c.json', 'c.yaml', 'c.yml'):
        cfg.dump(tmp_path / name)
        back = Config.fromfile(tmp_path / name)
        if name.endswith('.json'):  # JSON keys are strings
            assert back.model.weird == {'6': 'x', 'c/d': [1.5, None]}
            back.model.weird = {6: 'x', 'c/d': [1.5, None]}
        assert back._cfg_dict == cfg._cfg_dict, name
        # dump() without a file gives the text in the format of the file read
        assert back.dump() == (tmp_path / name).read_text()
    assert Config.fromfile(tmp_path / 'c.json').dump() == json.dumps(Config.fromfile(tmp_path / 'c.json').to_dict())
    assert yaml.safe_load(Config.fromfile(tmp_path / 'c.yaml').dump())['flag'] is True
    assert Config.fromstring(cfg.pretty_text).to_dict() == cfg.to_dict()


# --------------------------------------------------------------------------- merge_from_dict


def test_merge_from_dict_with_list_keys():
    cfg = Config({'item': [{'a': 0}, {'b': 0, 'c': 0}], 'flag': False})
    cfg.merge_from_dict({'item.0.a': 1, 'item.1.b': 1})
    assert cfg.item == [{'a': 1}, {'b': 1, 'c': 0}]
    cfg.merge_from_dict({'item': {'1': {'c': 5}}})  # a dict keyed by indices merges into the list
    assert cfg.item == [{'a': 1}, {'b': 1, 'c': 5}] and isinstance(cfg.item, list)
    with pytest.raises(TypeError):
        cfg.merge_from_dict({'item.0.a': 2}, allow_list_keys=False)
    for option in ({'item.2.a': 1}, {'item': {'2': {'a': 1}}}):
        with pytest.raises(KeyError, match='index 2 is out of range'):
            cfg.merge_from_dict(option)
    with pytest.raises(TypeError, match="flag: a dict cannot be merged into the bool False"):
        cfg.merge_from_dict({'flag': {'on': True}})
    cfg.merge_from_dict({'flag': {'_delete_': True, 'on': True}})
    assert cfg.flag == {'on': True}


# --------------------------------------------------------------------------- DictAction


def _parser(**kwargs):
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument('--options', nargs='+', action=DictAction, **kwargs)
    return parser


def test_dict_action_reads_values_as_mmcv_does():
    args = _parser().parse_args(['--options', 'a=x,y', 'b=[(x,y), [1,2], false]', 'c=[[1]]', 'd=TRUE',
                                 'e=none', 'f=None', 'g=0.1', 'h=inf', 'i=(1,)', 'j=[]'])
    assert args.options == {'a': ['x', 'y'], 'b': [('x', 'y'), [1, 2], False], 'c': [[1]], 'd': True,
                            'e': 'none', 'f': None, 'g': 0.1, 'h': float('inf'), 'i': (1,), 'j': []}
    assert type(args.options['b'][0]) is tuple


def test_unbalanced_brackets_raise_assertion_error_or_a_usage_error():
    with pytest.raises(AssertionError, match=r"unbalanced brackets in '\[\(a,b\), \[1,2\], false'"):
        _parser().parse_args(['--options', 'x=[(a,b), [1,2], false'])
    with pytest.raises(argparse.ArgumentError, match="config option 'x': unbalanced brackets"):
        _parser(usage_errors=True).parse_args(['--options', 'x=[1,(2,3]'])
    with pytest.raises(OptionValueError):
        parse_cfg_options(['x=(1,2'])
    assert parse_cfg_options(['x=[1', 'y=a(b']) == {'x': '[1', 'y': 'a(b'}  # no comma: a plain word


def test_the_fastrun_command_reports_unbalanced_brackets_in_one_line(capsys):
    from fastrun.cli import main
    with pytest.raises(SystemExit) as info:
        main(['hooks', 'cfg.py', '--cfg-options', 'data.x=[1,(2]'])
    assert info.value.code == 2
    assert "argument --cfg-options: config option 'data.x': unbalanced brackets" in capsys.readouterr().err


def test_the_three_names_import_from_fastrun():
    import fastrun
    from fastrun.config import Config as C, ConfigDict as CD, DictAction as DA
    assert (fastrun.Config, fastrun.ConfigDict, fastrun.DictAction) == (C, CD, DA)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert Config().to_dict() == {}


def test_a_file_of_no_config_format_is_an_ioerror_as_mmcv_raises(tmp_path):
    from fastrun.config import ConfigError
    image = tmp_path / 'color.jpg'
    image.write_bytes(b'\xff\xd8\xff')
    with pytest.raises(OSError) as info:
        Config.fromfile(str(image))
    assert isinstance(info.value, ConfigError)  # still one line for the command line
    assert str(info.value) == f'{image}: unsupported config format; use one of .py, .json, .yaml, .yml'
