"""The ``fastrun`` command on tiny configs.

Where the process itself is tested (the command's exit, a terminal, a custom module imported
from the config's folder, the shared trained run) it runs for real in a subprocess; elsewhere
through ``fastrun.cli.main`` in this process (what the command runs, minus a new interpreter
importing torch and its compiler: about 3 s each on 2 cores).
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE = textwrap.dedent('''
    model = dict(
        type='ImageClassifier',
        backbone=dict(type='MLP', in_channels=16, hidden_channels=(32,)),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=32, topk=(1,)))
    data = dict(
        samples_per_gpu=16,
        workers_per_gpu=0,
        train=dict(type='SyntheticClassification', num_samples=64, shape=(1, 4, 4), num_classes=4, seed=0),
        val=dict(type='SyntheticClassification', num_samples=32, shape=(1, 4, 4), num_classes=4, seed=0),
        test=dict(type='SyntheticClassification', num_samples=32, shape=(1, 4, 4), num_classes=4, seed=0))
    evaluation = dict(interval=1, metric='accuracy', metric_options=dict(topk=(1,)), save_best='auto')
    optimizer = dict(type='SGD', lr=0.1, momentum=0.9)
    optimizer_config = dict(grad_clip=None)
    lr_config = dict(policy='step', step=[2])
    runner = dict(type='EpochBasedRunner', max_epochs=2)
    checkpoint_config = dict(interval=1)
    log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook')])
    workflow = [('train', 1)]
    seed = 0
''')


def run_main(capsys, *args):
    """``fastrun ARGS`` in this process: (exit status, stdout, stderr)."""
    from fastrun.cli import main
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_cli(*args, cwd=None, check=True):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-m', 'fastrun', *map(str, args)], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f'fastrun {" ".join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}')
    return proc


@pytest.fixture
def base_cfg(tmp_path):
    path = tmp_path / 'base.py'
    path.write_text(BASE)
    return path


def json_log(work_dir):
    [path] = [os.path.join(work_dir, f) for f in os.listdir(work_dir) if f.endswith('.log.json')]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_train_writes_work_dir(trained_run):
    work, stderr = trained_run.work_dir, trained_run.stderr  # `fastrun train base.py --work-dir work`
    files = set(os.listdir(work))
    assert {'config.py', 'epoch_1.pth', 'epoch_2.pth', 'latest.pth'} <= files
    assert any(f.endswith('.log') for f in files) and any(f.endswith('.log.json') for f in files)
    assert any(f.startswith('best_accuracy_top-1_epoch_') for f in files)
    # the hook order is printed before training, as the spec promises
    assert 'Hooks will be executed in the following order' in stderr
    assert '(VERY_HIGH   ) StepLrUpdaterHook' in stderr
    records = json_log(work)
    assert [r['epoch'] for r in records if r.get('mode') == 'val'] == [1, 2]
    ckpt = torch.load(work / 'latest.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2 and 'model = dict(' in ckpt['meta']['config']


def test_default_work_dir_is_named_after_the_config(base_cfg, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_main(capsys, 'train', base_cfg, '--cfg-options', 'runner.max_epochs=1',
                    'evaluation.interval=5')[0] == 0
    assert os.path.isfile(tmp_path / 'work_dirs' / 'base' / 'epoch_1.pth')


def test_base_inheritance_delete_and_cfg_options(base_cfg, tmp_path, capsys):
    child = tmp_path / 'child.py'
    child.write_text(textwrap.dedent('''
        _base_ = './base.py'
        optimizer = dict(_delete_=True, type='Adam', lr=0.001)
        runner = dict(max_epochs=1)
        custom_hooks = [dict(type='EMAHook', momentum=0.01, priority='LOW')]
    '''))
    work = tmp_path / 'w'
    assert run_main(capsys, 'train', child, '--work-dir', work, '--cfg-options', 'optimizer.lr=0.01',
                    "workflow=[('train',1),('val',1)]", 'custom_hooks.0.priority=HIGH')[0] == 0
    from fastrun import Config
    cfg = Config.fromfile(work / 'config.py')
    assert cfg.optimizer == dict(type='Adam', lr=0.01)  # momentum of the base is gone
    assert cfg.workflow == [('train', 1), ('val', 1)]
    assert cfg.custom_hooks[0].priority == 'HIGH'
    assert cfg.runner.max_epochs == 1 and cfg.model.backbone.type == 'MLP'
    assert [r.get('mode') for r in json_log(work)].count('val') >= 1
    code, hooks, _ = run_main(capsys, 'hooks', child, '--cfg-options', 'custom_hooks.0.priority=HIGH')
    assert code == 0 and '(HIGH        ) EMAHook' in hooks


def test_custom_imports_hook_from_the_config_folder(base_cfg, tmp_path):
    (tmp_path / 'marker_hook.py').write_text(textwrap.dedent('''
        import json, os
        from fastrun import HOOKS, Hook

        @HOOKS.register_module()
        class MarkerHook(Hook):
            def __init__(self, a, b):
                self.a, self.b, self.seen = a, b, []

            def before_epoch(self, runner):
                self.seen.append(('epoch', runner.mode, runner.epoch))

            def after_run(self, runner):
                with open(os.path.join(runner.work_dir, 'marker.json'), 'w') as f:
                    json.dump(dict(a=self.a, b=self.b, seen=self.seen), f)
    '''))
    cfg = tmp_path / 'custom.py'
    cfg.write_text("_base_ = './base.py'\n"
                   "custom_imports = dict(imports=['marker_hook'], allow_failed_imports=False)\n"
                   "custom_hooks = [dict(type='MarkerHook', a=1, b=2, priority='ABOVE_NORMAL')]\n")
    work = tmp_path / 'w'
    run_cli('train', cfg, '--work-dir', work)
    marker = json.loads((work / 'marker.json').read_text())
    assert marker == dict(a=1, b=2, seen=[['epoch', 'train', 0], ['epoch', 'train', 1]])


def test_resume_from_continues_and_load_from_restarts(base_cfg, tmp_path, trained_run, capsys):
    first = trained_run.work_dir  # base.py trained for 2 epochs
    ckpt2 = torch.load(first / 'epoch_2.pth', weights_only=True)

    resumed = tmp_path / 'resumed'
    code, _, err = run_main(capsys, 'train', base_cfg, '--work-dir', resumed, '--resume-from',
                            first / 'epoch_2.pth', '--no-validate', '--cfg-options', 'runner.max_epochs=3')
    assert code == 0 and 'resumed epoch 2, iter 8' in err
    assert sorted(f for f in os.listdir(resumed) if f.startswith('epoch_')) == ['epoch_3.pth']
    assert torch.load(resumed / 'epoch_3.pth', weights_only=True)['meta']['iter'] == 12

    loaded = tmp_path / 'loaded'
    assert run_main(capsys, 'train', base_cfg, '--work-dir', loaded, '--load-from', first / 'epoch_2.pth',
                    '--no-validate', '--cfg-options', 'runner.max_epochs=1', 'optimizer.lr=0.0')[0] == 0
    ckpt = torch.load(loaded / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == 4  # started at epoch 0
    for k, v in ckpt2['state_dict'].items():
        if k.endswith('num_batches_tracked'):
            continue
        assert torch.equal(ckpt['state_dict'][k], v), k  # lr=0: the loaded weights, unchanged


def test_init_cfg_pretrained_with_prefix(base_cfg, tmp_path, trained_run, capsys):
    first = trained_run.work_dir  # base.py trained for 2 epochs
    src = torch.load(first / 'epoch_2.pth', weights_only=True)['state_dict']
    cfg = tmp_path / 'finetune.py'
    cfg.write_text("_base_ = './base.py'\n"
                   f"model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint={str(first / 'epoch_2.pth')!r}, prefix='backbone.')))\n"
                   "optimizer = dict(lr=0.0, momentum=0.0)\nrunner = dict(max_epochs=1)\n")
    work = tmp_path / 'ft'
    assert run_main(capsys, 'train', cfg, '--work-dir', work, '--no-validate')[0] == 0
    got = torch.load(work / 'epoch_1.pth', weights_only=True)['state_dict']
    backbone = [k for k in src if k.startswith('backbone.')]
    assert backbone and all(torch.equal(got[k], src[k]) for k in backbone)
    assert not torch.equal(got['head.fc.weight'], src['head.fc.weight']) if 'head.fc.weight' in src else True


def test_fastrun_test_matches_last_evaluation(base_cfg, tmp_path, trained_run):
    work = trained_run.work_dir  # evaluated after each epoch; latest.pth is the last one's
    last_val = [r for r in json_log(work) if r.get('mode') == 'val'][-1]
    out = tmp_path / 'metrics.json'
    proc = run_cli('test', base_cfg, work / 'latest.pth', '--metrics', 'accuracy',
                   '--metric-options', 'topk=1', '--out', out)
    metrics = json.loads(out.read_text())
    assert metrics['accuracy_top-1'] == pytest.approx(last_val['accuracy_top-1'], abs=1e-4)
    assert 'accuracy_top-1' in proc.stdout


def test_unknown_key_warns_with_the_closest_known_key(base_cfg, tmp_path, capsys):
    cfg = tmp_path / 'typo.py'
    cfg.write_text("_base_ = './base.py'\ncheckpoint_cfg = dict(interval=1)\nrunner = dict(max_epochs=1)\n")
    code, _, err = run_main(capsys, 'train', cfg, '--work-dir', tmp_path / 'w', '--no-validate')
    assert code == 0  # a warning, not an error: the run trained
    assert "unknown key 'checkpoint_cfg' (did you mean 'checkpoint_config'?)" in err


@pytest.mark.parametrize('extra,message', [
    ("runner = dict(_delete_=True, type='EpochBasedRunner')", 'runner'),
    ("data = dict(samples_per_gpu=0)", 'data.samples_per_gpu'),
    ("workflow = [('tran', 1)]", 'workflow'),
    ("load_from = '/nonexistent/ckpt.pth'", 'load_from'),
    ("custom_hooks = [dict(type='EMAHok')]", "did you mean 'EMAHook'"),
    ("custom_hooks = [dict(type='EMAHook', priority='URGENT')]", 'URGENT'),
    ("custom_imports = dict(imports=['no_such_module_xyz'])", 'no_such_module_xyz'),
])
def test_bad_config_errors_name_the_key_and_file(base_cfg, tmp_path, extra, message):
    cfg = tmp_path / 'bad.py'
    cfg.write_text(f"_base_ = './base.py'\n{extra}\n")
    proc = run_cli('train', cfg, '--work-dir', tmp_path / 'w', check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not os.path.exists(tmp_path / 'w' / 'epoch_1.pth')


def test_hooks_command_prints_the_priority_table(base_cfg):
    out = run_cli('hooks', base_cfg).stdout

    def stage(name):
        block = out.split(f'{name}:\n')[1].split(' ----')[0]
        return [(line[1:13].strip(), line[14:].strip()) for line in block.strip().splitlines()]

    assert stage('after_train_iter') == [('ABOVE_NORMAL', 'OptimizerHook'), ('NORMAL', 'CheckInvalidLossHook'),
                                         ('LOW', 'IterTimerHook'), ('VERY_LOW', 'TextLoggerHook')]
    assert stage('after_train_epoch') == [('NORMAL', 'CheckpointHook'), ('LOW', 'EvalHook'),
                                          ('VERY_LOW', 'TextLoggerHook')]
    assert stage('before_train_iter')[0] == ('VERY_HIGH', 'StepLrUpdaterHook')


def test_plot_writes_a_png(tmp_path, trained_run):
    work = trained_run.work_dir
    [log] = [work / f for f in os.listdir(work) if f.endswith('.log.json')]
    out = tmp_path / 'curves.png'
    run_cli('plot', log, '--keys', 'loss', 'accuracy_top-1', '--out', out)
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


#: The optional extras' packages: none of them may be needed by `fastrun train`.
OPTIONAL = ['rich', 'tensorboard', 'torch.utils.tensorboard', 'wandb', 'mlflow', 'matplotlib',
            'nvtx', 'safetensors', 'dvclive', 'neptune', 'clearml']


def test_train_in_a_terminal_needs_no_optional_extra(base_cfg, tmp_path):
    """The Quick start as a person runs it: in a terminal (a pseudo-terminal here), with none of
    the optional extras importable. It used to end with an ImportError of the progress bar."""
    import pty  # noqa: F401  (POSIX only)
    master, slave = os.openpty()
    code = (f'import sys\nfor m in {OPTIONAL!r}:\n    sys.modules[m] = None\n'
            f'from fastrun.cli import main\n'
            f'sys.exit(main(["train", {str(base_cfg)!r}, "--work-dir", {str(tmp_path / "w")!r}]))\n')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               COLUMNS='100')
    proc = subprocess.Popen([sys.executable, '-c', code], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=tmp_path, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=300) == 0, b''.join(chunks).decode(errors='replace')[-4000:]
    out = b''.join(chunks).decode('utf-8', errors='replace')
    assert 'Traceback' not in out and 'Error' not in out
    # The bar drew (in place, with \r) and each epoch left its finished line.
    assert '\rtrain 1/2 |' in out and '\rtrain 2/2 |' in out
    assert len(re.findall(r'train 2/2 \|\S+\|  4/4  ', out)) >= 1
    assert 'Epoch(val) [2]' in out and os.path.isfile(tmp_path / 'w' / 'epoch_2.pth')
