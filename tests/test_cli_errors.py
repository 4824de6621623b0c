"""What a person sees when something is wrong: one line naming file, key and the fix, exit 2.

Most cases call ``fastrun.cli.main`` in this process (what the ``fastrun`` script runs); the
import-cost case runs a fresh interpreter, since it is about what a new process imports.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from fastrun.cli import main
from tests.test_cli import BASE, ROOT


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def cfg_dir(tmp_path, monkeypatch):
    """A folder with the tiny base config, made the working directory (paths as a user types them)."""
    write(tmp_path / 'base.py', BASE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fastrun(capsys, *args):
    """(exit status, stdout, stderr) of ``fastrun args`` run in this process."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('fastrun: error: '), err
    assert 'Traceback' not in err
    return lines[0][len('fastrun: error: '):]


# ---------------------------------------------------------------- config files and paths


def test_a_directory_given_as_config_says_so_and_lists_configs(cfg_dir, capsys):
    os.mkdir('configs')
    write(cfg_dir / 'configs' / 'a.py', 'x = 1\n')
    code, _, err = fastrun(capsys, 'train', 'configs')
    assert code == 2
    assert one_error_line(err) == 'configs: is a directory, not a config file; config files in it: a.py'


def test_a_missing_config(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'train', 'nothere.py')
    assert (code, one_error_line(err)) == (2, 'nothere.py: config file not found')


# ---------------------------------------------------------------- keys against signatures

TYPOS = {
    'evaluation': ("evaluation = dict(intervl=2)", 'evaluation.intervl',
                   "EvalHook (or the val data set's evaluate()) has no argument 'intervl'; "
                   "did you mean 'interval'?"),
    'evaluation metric option': ("evaluation = dict(metric_option=dict(topk=(1,)))",
                                 'evaluation.metric_option', "did you mean 'metric_options'?"),
    'optimizer': ("optimizer = dict(type='SGD', lrr=0.1)", 'optimizer.lrr',
                  "SGD has no argument 'lrr'; did you mean 'lr'?"),
    'optimizer type': ("optimizer = dict(_delete_=True, type='SDG', lr=0.1)", 'optimizer.type',
                       "unknown optimizer type 'SDG'; did you mean 'SGD'"),
    'runner': ("runner = dict(type='EpochBasedRunner', max_epoch=2)", 'runner.max_epoch',
               "EpochBasedRunner has no argument 'max_epoch'; did you mean 'max_epochs'?"),
    'backbone': ("model = dict(backbone=dict(hiden_channels=(8,)))", 'model.backbone.hiden_channels',
                 "MLP has no argument 'hiden_channels'; did you mean 'hidden_channels'?"),
    'model type': ("model = dict(head=dict(type='LinearClsHaed'))", 'model.head.type',
                   "unknown model type 'LinearClsHaed'; did you mean 'LinearClsHead'"),
    'data set': ("data = dict(train=dict(num_sample=8))", 'data.train.num_sample',
                 "SyntheticClassification has no argument 'num_sample'; did you mean 'num_samples'?"),
    'logger hook': ("log_config = dict(hooks=[dict(type='TextLoggerHook', by_epok=True)])",
                    'log_config.hooks.0.by_epok', "did you mean 'by_epoch'?"),
    'custom hook': ("custom_hooks = [dict(type='EMAHook', momentun=0.1)]", 'custom_hooks.0.momentun',
                    "EMAHook has no argument 'momentun'; did you mean 'momentum'?"),
    'lr schedule': ("lr_config = dict(policy='step', stepp=[1])", 'lr_config.stepp',
                    "StepLrUpdaterHook has no argument 'stepp'; did you mean 'step'?"),
    'checkpoint': ("checkpoint_config = dict(max_keep_ckpt=1)", 'checkpoint_config.max_keep_ckpt',
                   "did you mean 'max_keep_ckpts'?"),
    'optimizer hook': ("optimizer_config = dict(grad_clipp=None)", 'optimizer_config.grad_clipp',
                       "OptimizerHook has no argument 'grad_clipp'; did you mean 'grad_clip'?"),
}


@pytest.mark.parametrize('case', list(TYPOS))
@pytest.mark.parametrize('command', ['train', 'hooks'])
def test_a_typo_in_a_nested_dict_names_file_key_and_closest_argument(cfg_dir, capsys, case, command):
    line, key, reason = TYPOS[case]
    write(cfg_dir / 'bad.py', f"_base_ = './base.py'\n{line}\n")
    code, out, err = fastrun(capsys, command, 'bad.py', *(['--work-dir', 'w'] if command == 'train' else []))
    assert code == 2 and out == ''
    message = one_error_line(err)
    assert message.startswith(f'bad.py: {key}: ') and reason in message, message
    assert not os.path.exists('w')  # failed before the work dir was even made


def test_a_string_where_the_optimizer_needs_a_number(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'train', 'base.py', '--cfg-options', 'optimizer.lr=abc')
    assert code == 2
    assert one_error_line(err) == ("base.py: optimizer.lr: SGD needs a number here, got 'abc' "
                                   "(set by --cfg-options)")


def test_a_value_refused_by_a_constructor_names_the_key(cfg_dir, capsys):
    write(cfg_dir / 'bad.py', "_base_ = './base.py'\ncustom_hooks = [dict(type='EMAHook', interval=0)]\n")
    code, _, err = fastrun(capsys, 'train', 'bad.py', '--work-dir', 'w')
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1] == ('fastrun: error: bad.py: custom_hooks.0: EMAHook: interval must be a '
                         'positive int, got 0')
    # It failed before training: the work dir it made is gone again (no config.py, no log).
    assert 'Traceback' not in err and not os.path.exists('w')


def test_an_unknown_evaluation_key_fails_before_the_first_epoch_not_after(cfg_dir, capsys):
    # Before the check it trained a whole epoch and then failed inside EvalHook.
    write(cfg_dir / 'bad.py', "_base_ = './base.py'\nevaluation = dict(interval=1, topk=(1,))\n")
    code, _, err = fastrun(capsys, 'train', 'bad.py', '--work-dir', 'w')
    assert code == 2 and 'evaluation.topk' in one_error_line(err)
    assert not os.path.exists('w')


def test_unknown_keys_warn_in_one_line_each(cfg_dir, capsys):
    write(cfg_dir / 'odd.py', "_base_ = './base.py'\ncheckpoint_cfg = dict(interval=1)\n"
                              "data = dict(sample_per_gpu=3)\n")
    code, out, err = fastrun(capsys, 'hooks', 'odd.py')
    assert code == 0 and 'TextLoggerHook' in out
    assert err.splitlines() == [
        "fastrun: warning: odd.py: unknown key 'checkpoint_cfg' (did you mean 'checkpoint_config'?)",
        "fastrun: warning: odd.py: unknown key 'data.sample_per_gpu' (did you mean 'samples_per_gpu'?)"]


# ---------------------------------------------------------------- --cfg-options


def test_an_index_into_a_list_the_config_does_not_have(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'hooks', 'base.py', '--cfg-options', 'custom_hooks.0.priority=HIGH')
    assert code == 2
    message = one_error_line(err)
    assert message.startswith("base.py: custom_hooks.0.priority: 'custom_hooks' is not in the config")
    assert '--debug' not in message


def test_list_indices_address_list_items(cfg_dir, capsys):
    write(cfg_dir / 'hooked.py', "_base_ = './base.py'\n"
                                 "custom_hooks = [dict(type='EMAHook'), dict(type='EMAHook', momentum=0.1)]\n")
    code, out, _ = fastrun(capsys, 'hooks', 'hooked.py', '--cfg-options', 'custom_hooks.1.priority=HIGH',
                           'custom_hooks.0.priority=LOW')
    assert code == 0
    after_train_iter = out.split('after_train_iter:\n')[1].split(' ----')[0]
    assert after_train_iter.index('(HIGH        ) EMAHook') < after_train_iter.index('(LOW         ) EMAHook')


# ---------------------------------------------------------------- checkpoints


def test_test_with_a_config_where_the_checkpoint_belongs(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'test', 'base.py', 'base.py')
    assert code == 2
    message = one_error_line(err)
    assert message.startswith('base.py: not a checkpoint, it is a config file; give a .pth file')
    assert 'unpickle' not in message and '--debug' not in message


def test_test_with_a_missing_checkpoint(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'test', 'base.py', 'w/latest.pth')
    assert (code, one_error_line(err)) == (2, 'w/latest.pth: checkpoint file not found')


def test_resume_from_a_text_file(cfg_dir, capsys):
    (cfg_dir / 'notes.txt').write_text('not weights\n')
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--resume-from', 'notes.txt')
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(
        'fastrun: error: notes.txt: not a checkpoint, it is a text file')


# ---------------------------------------------------------------- user code, bugs and --debug


def test_a_failing_custom_module_is_one_line_and_debug_shows_its_traceback(cfg_dir, capsys):
    (cfg_dir / 'broken_hook.py').write_text('import os\n\nraise RuntimeError("broken on purpose")\n')
    write(cfg_dir / 'bad.py', "_base_ = './base.py'\ncustom_imports = dict(imports=['broken_hook'])\n")
    code, _, err = fastrun(capsys, 'hooks', 'bad.py')
    assert code == 2
    assert one_error_line(err) == ("bad.py: custom_imports.imports: failed to import custom module "
                                   "'broken_hook': RuntimeError: broken on purpose (--debug shows "
                                   "the traceback)")
    from fastrun.config import ConfigError
    with pytest.raises(ConfigError) as info:
        main(['hooks', 'bad.py', '--debug'])
    assert isinstance(info.value.__cause__.__cause__, RuntimeError)
    with pytest.raises(ConfigError):
        main(['--debug', 'hooks', 'bad.py'])  # before the command too


def test_debug_from_the_environment(cfg_dir, capsys, monkeypatch):
    monkeypatch.setenv('FASTRUN_DEBUG', '1')
    with pytest.raises(FileNotFoundError):
        main(['train', 'nothere.py'])


def test_a_bug_of_fastrun_keeps_its_traceback(cfg_dir, monkeypatch):
    import fastrun.cli

    def broken(args):
        raise RuntimeError('a bug')
    monkeypatch.setattr(fastrun.cli, 'cmd_hooks', broken)
    with pytest.raises(RuntimeError, match='a bug'):
        main(['hooks', 'base.py'])


def test_a_nan_loss_ends_the_run_in_one_line_with_status_1(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--cfg-options',
                           'optimizer.lr=1e30')
    assert code == 1  # the run failed; not a usage error (2), not a bug (traceback)
    last = err.strip().splitlines()[-1]
    assert last.startswith('fastrun: error: ') and 'loss became NaN at train iteration 2' in last
    assert 'Traceback' not in err


# ---------------------------------------------------------------- JSON/YAML bases


def test_a_json_config_with_a_python_base_is_refused_unless_allowed(cfg_dir, capsys):
    (cfg_dir / 'run.json').write_text(json.dumps({'_base_': 'base.py', 'seed': 1}))
    code, _, err = fastrun(capsys, 'hooks', 'run.json')
    assert code == 2
    message = one_error_line(err)
    assert message.startswith("run.json: _base_: 'base.py' is a Python file: the bases of a "
                              "JSON/YAML config are JSON/YAML only")
    assert '--allow-python-bases' in message
    code, out, _ = fastrun(capsys, 'hooks', 'run.json', '--allow-python-bases')
    assert code == 0 and 'TextLoggerHook' in out


# ---------------------------------------------------------------- silent traps


def json_log(work_dir):
    [path] = [os.path.join(work_dir, f) for f in os.listdir(work_dir) if f.endswith('.log.json')]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def text_log(work_dir):
    [path] = [os.path.join(work_dir, f) for f in os.listdir(work_dir) if f.endswith('.log')]
    with open(path) as f:
        return f.read()


def test_a_log_interval_longer_than_an_epoch_warns_once_and_logs_each_epoch_end(cfg_dir, capsys):
    # 64 samples / 16 per batch = 4 iterations per epoch, logged every 10: before, no train
    # loss was ever logged.
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--no-validate',
                           '--cfg-options', 'log_config.interval=10')
    assert code == 0
    warning = ('log_config.interval=10 is longer than an epoch (4 iterations): TextLoggerHook '
               'will log at the end of each epoch')
    assert text_log('w').count(warning) == 1 and err.count(warning) == 1
    train = [(r['epoch'], r['iter']) for r in json_log('w') if r.get('mode') == 'train']
    assert train == [(1, 4), (2, 4)]


def test_load_from_logs_what_it_loaded(cfg_dir, capsys):
    assert fastrun(capsys, 'train', 'base.py', '--work-dir', 'first', '--no-validate',
                   '--cfg-options', 'runner.max_epochs=1')[0] == 0
    ckpt = os.path.join('first', 'epoch_1.pth')
    # Same model: everything loads.
    assert fastrun(capsys, 'train', 'base.py', '--work-dir', 'same', '--no-validate',
                   '--load-from', ckpt, '--cfg-options', 'runner.max_epochs=1')[0] == 0
    n = len(torch.load(ckpt, weights_only=True)['state_dict'])
    assert (f"load checkpoint from {ckpt}: {n} of the model's {n} tensors loaded (missing 0, "
            f"unexpected 0, size mismatch 0)") in text_log('same')
    # Another head: its two tensors are of another size and are not loaded.
    assert fastrun(capsys, 'train', 'base.py', '--work-dir', 'other', '--no-validate',
                   '--load-from', ckpt, '--cfg-options', 'runner.max_epochs=1',
                   'model.head.num_classes=3', 'data.train.num_classes=3')[0] == 0
    assert (f"load checkpoint from {ckpt}: {n - 2} of the model's {n} tensors loaded (missing 0, "
            f"unexpected 0, size mismatch 2)") in text_log('other')


# ---------------------------------------------------------------- start-up cost

HEAVY = ['sklearn', 'tensorboard', 'torch.utils.tensorboard', 'wandb', 'mlflow', 'matplotlib',
         'rich', 'scipy', 'pandas', 'torch._dynamo']


def test_a_config_error_imports_no_heavy_module(tmp_path):
    """A typo is reported before any heavy import: only torch and fastrun itself are loaded."""
    write(tmp_path / 'base.py', BASE)
    write(tmp_path / 'bad.py', "_base_ = './base.py'\noptimizer = dict(type='SGD', lrr=0.1)\n")
    code = textwrap.dedent(f'''
        import json, sys
        from fastrun.cli import main
        status = main(['train', 'bad.py', '--work-dir', 'w'])
        print(json.dumps([status, sorted(m for m in {HEAVY!r} if m in sys.modules)]))
    ''')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    status, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status == 2 and 'optimizer.lrr' in proc.stderr
    assert loaded == []


FILE_ERRORS = {
    'missing file': ('nothere.py', None, [], 'nothere.py: config file not found'),
    'directory': ('sub', None, [], 'sub: is a directory, not a config file'),
    'syntax error': ('bad.py', "model = dict(type='ImageClassifier'\n", [],
                     "bad.py: line 1: '(' was never closed"),
    'wrong type': ('bad.py', "_base_ = './base.py'\ndata = dict(samples_per_gpu=0)\n", [],
                   'bad.py: data.samples_per_gpu: must be a positive int, got 0'),
    'bad --cfg-options': ('base.py', None, ['--cfg-options', 'custom_hooks.0.priority=HIGH'],
                          "base.py: custom_hooks.0.priority: 'custom_hooks' is not in the config"),
    'unknown key, then a wrong type': (
        'bad.py', "_base_ = './base.py'\ncheckpoint_cfg = dict(interval=1)\n"
                  "runner = dict(_delete_=True, type='EpochBasedRunner')\n", [],
        'bad.py: runner: '),
    'profiling key': ('base.py', None, ['--cfg-options', 'profiling.hook_time=True'],
                      "base.py: profiling.hook_time: unknown key; known: nvtx, hook_times; "
                      "did you mean 'hook_times'?"),
    'JSON': ('bad.json', '{"_base_": "./base.json", "seed": 1,}\n', [], 'bad.json: '),
    'YAML': ('bad.yaml', 'seed: [1, 2\n', [], 'bad.yaml: '),
}


@pytest.mark.parametrize('command', ['train', 'hooks'])
@pytest.mark.parametrize('case', list(FILE_ERRORS))
def test_a_config_file_error_is_reported_before_torch_is_imported(tmp_path, case, command):
    """The ``fastrun`` command in a new interpreter: the file's own errors cost no ``import torch``."""
    name, text, options, expected = FILE_ERRORS[case]
    write(tmp_path / 'base.py', BASE)
    write(tmp_path / 'base.json', '{"seed": 0}\n')
    os.mkdir(tmp_path / 'sub')
    if text is not None:
        write(tmp_path / name, text)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-X', 'importtime', '-m', 'fastrun', command, name,
                           *options], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    imported = {line.rsplit('|', 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith('import time:')}
    said = [line for line in proc.stderr.splitlines() if not line.startswith('import time:')]
    assert proc.returncode == 2, proc.stderr
    assert said[-1].startswith(f'fastrun: error: {expected}'), said
    if case.startswith('unknown key'):
        assert said[:-1] == ["fastrun: warning: bad.py: unknown key 'checkpoint_cfg' "
                             "(did you mean 'checkpoint_config'?)"]
    assert 'fastrun.config' in imported  # the listing works: it names what was imported
    assert 'torch' not in imported and 'numpy' not in imported
