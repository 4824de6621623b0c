"""The small things a new user met in the first hour: each message says what it means.

Corrupt checkpoints, resumes without optimizer state, best files of another folder, the
Pretrained log line, singular units, ``fastrun test``'s split, ``--help``, the documented
numbers and the supported Python.
"""
import os
import re
import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fastrun import Runner
from fastrun.hooks.evaluation import EvalHook
from tests.conftest import ToyModel, make_loader
from tests.test_cli import ROOT
from tests.test_cli_errors import cfg_dir, fastrun, one_error_line, text_log, write  # noqa: F401
from tests.test_custom_hooks import make_logger


def train(capsys, *options, config='base.py', work='w'):
    code, out, err = fastrun(capsys, 'train', config, '--work-dir', work, '--no-progress', *options)
    assert code == 0, err
    return err


def test_a_corrupt_checkpoint_is_one_short_line_naming_the_option(cfg_dir, capsys):
    train(capsys, '--no-validate', '--cfg-options', 'runner.max_epochs=1')
    path = cfg_dir / 'w' / 'epoch_1.pth'
    (cfg_dir / 'cut.pth').write_bytes(path.read_bytes()[:3000])
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w2', '--resume-from', 'cut.pth')
    assert code == 2 and 'Traceback' not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith('fastrun: error: cut.pth: cannot read the checkpoint (RuntimeError: ')
    assert last.endswith('it may be truncated or corrupt: there is no earlier checkpoint in its '
                         'folder (set by --resume-from)')
    assert 'miniz' not in last and len(last) < 250, last  # torch's paragraph was ~430 characters
    assert not os.path.exists('w2')


def test_resuming_a_checkpoint_without_optimizer_says_the_optimizer_starts_fresh(cfg_dir, capsys):
    options = ['--no-validate', '--cfg-options', 'checkpoint_config.save_optimizer=False']
    train(capsys, *options, 'runner.max_epochs=1')
    err = train(capsys, *options, 'runner.max_epochs=2', '--resume-from', 'w/epoch_1.pth', work='w2')
    assert ('w/epoch_1.pth holds no optimizer state (saved with save_optimizer=False): the '
            'optimizer starts fresh') in err


def test_without_optimizer_state_the_best_file_is_a_hard_link_to_the_epochs_checkpoint(cfg_dir, capsys):
    train(capsys, '--cfg-options', 'checkpoint_config.save_optimizer=False', 'runner.max_epochs=1')
    best = cfg_dir / 'w' / 'best_accuracy_top-1_epoch_1.pth'
    epoch = cfg_dir / 'w' / 'epoch_1.pth'
    assert 'optimizer' not in torch.load(best, weights_only=True)
    assert os.stat(best).st_ino == os.stat(epoch).st_ino  # one file written, not two


class Rising(TensorDataset):
    """A val set whose ``acc`` is higher at every evaluation (each one beats the best)."""

    calls = 0

    def evaluate(self, results, logger=None):
        type(self).calls += 1
        return {'acc': float(type(self).calls)}


def scored_loader():
    return DataLoader(Rising(torch.ones(2, 4), torch.zeros(2, 1)), batch_size=2)


def test_a_best_file_of_another_folder_is_said_to_belong_there(tmp_path):
    def runner_in(work, epochs, logger):
        torch.manual_seed(0)
        model = ToyModel()
        runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        work_dir=str(work), max_epochs=epochs, logger=logger)
        runner.register_training_hooks(None, dict(), dict(interval=1))
        runner.register_hook(EvalHook(scored_loader(), save_best='acc', rule='greater',
                                      test_fn=lambda model, loader: []), 'LOW')
        return runner

    logger, handler = make_logger('best-elsewhere')
    runner_in(tmp_path / 'a', 1, logger).run([make_loader(2)], [('train', 1)])
    assert (tmp_path / 'a' / 'best_acc_epoch_1.pth').is_file()
    resumed = runner_in(tmp_path / 'b', 2, logger)
    resumed.resume(str(tmp_path / 'a' / 'epoch_1.pth'))
    resumed.run([make_loader(2)], [('train', 1)])
    warnings = [m for level, m in handler.messages if level == 'WARNING']
    assert any(f"{tmp_path / 'a' / 'best_acc_epoch_1.pth'} belongs to another folder (this run "
               f"saves to {tmp_path / 'b'}): left alone" in m for m in warnings), warnings
    assert not any('is not a best_*.pth file' in m for m in warnings)
    assert (tmp_path / 'a' / 'best_acc_epoch_1.pth').is_file()  # the other run's file is kept
    assert (tmp_path / 'b' / 'best_acc_epoch_2.pth').is_file()


def test_pretrained_logs_its_prefix_without_a_stray_dot_and_the_counts(cfg_dir, capsys):
    train(capsys, '--no-validate', '--cfg-options', 'runner.max_epochs=1', work='first')
    write(cfg_dir / 'pre.py', "_base_ = './base.py'\nmodel = dict(backbone=dict(init_cfg=dict("
                              "type='Pretrained', checkpoint='first/epoch_1.pth', prefix='backbone.')))\n")
    err = train(capsys, '--no-validate', '--cfg-options', 'runner.max_epochs=1', config='pre.py')
    assert ("load the keys under 'backbone' from first/epoch_1.pth into MLP: 2 of its 2 tensors "
            "loaded (missing 0, unexpected 0, size mismatch 0)") in err
    assert 'backbone. from' not in err


def test_saving_checkpoint_at_1_epoch_is_singular(cfg_dir, capsys):
    err = train(capsys, '--no-validate')
    assert 'Saving checkpoint at 1 epoch\n' in err and 'Saving checkpoint at 2 epochs\n' in err
    assert 'at 1 epochs' not in err


def test_fastrun_test_says_which_split_and_how_many_samples(cfg_dir, capsys):
    train(capsys, '--no-validate', '--cfg-options', 'runner.max_epochs=1')
    code, out, _ = fastrun(capsys, 'test', 'base.py', 'w/latest.pth')
    assert code == 0
    assert out.splitlines()[0] == ('SyntheticClassification of data.test: 32 samples, checkpoint '
                                   'w/latest.pth')
    write(cfg_dir / 'noval.py', "_base_ = './base.py'\ndata = dict(test=None)\n")
    code, out, _ = fastrun(capsys, 'test', 'noval.py', 'w/latest.pth')
    assert code == 0 and out.startswith('SyntheticClassification of data.val: 32 samples')


def test_help_shows_no_restructuredtext_markup(capsys):
    from fastrun.cli import build_parser
    text = build_parser().format_help()
    assert '``' not in text and "The fastrun command: 'train', 'test', 'hooks' and 'plot'." in text


def test_the_main_jobs_config_and_the_readme_give_the_same_time():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    with open(os.path.join(ROOT, 'configs', 'digits_cnn.py'), encoding='utf-8') as f:
        config = f.read()
    said = re.search(r'about (\d+ s) on 2 CPU\s+cores', readme).group(1)
    assert f'in about {said}' in config, config.splitlines()[1]


def test_requires_python_is_what_the_code_needs():
    with open(os.path.join(ROOT, 'pyproject.toml'), encoding='utf-8') as f:
        pyproject = f.read()
    assert re.search(r'^requires-python = ">=3\.11"', pyproject, re.M)
    assert hasattr(BaseException, 'add_note') and sys.version_info >= (3, 11)
