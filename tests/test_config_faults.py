"""Bad configs found by fuzzing ``fastrun train``: one line naming file and key, exit 2, nothing written.

Each case was a traceback, a late failure after an epoch of training, or silently accepted,
and most wrote ``config.py`` and a log into the work dir before failing.
"""
import os

import pytest

from tests.test_cli_errors import cfg_dir, fastrun, one_error_line, write  # noqa: F401

#: case: (config lines after the base, the key the message names, a part of the reason)
FAULTS = {
    'grad_clip max_norm a string': ("optimizer_config = dict(grad_clip=dict(max_norm='x'))",
                                    'optimizer_config.grad_clip.max_norm', "got 'x'"),
    'max_keep_ckpts a string': ("checkpoint_config = dict(interval=1, max_keep_ckpts='2')",
                                'checkpoint_config.max_keep_ckpts', "got '2'"),
    'unknown metric': ("evaluation = dict(interval=1, metric='nope')", 'evaluation.metric',
                       "does not evaluate 'nope'; its metrics: accuracy"),
    'misspelt metric': ("evaluation = dict(interval=1, metric='acuracy')", 'evaluation.metric',
                        "did you mean 'accuracy'?"),
    'unknown metric option': ("evaluation = dict(interval=1, metric_options=dict(top=1))",
                              'evaluation.metric_options.top', "did you mean 'topk'?"),
    'empty file': (None, 'model', 'the config has no model (is the file empty?)'),
    'log level': ("log_level = 'LOUD'", 'log_level', "got 'LOUD'"),
    'model None': ('model = None', 'model', 'got None'),
    'checkpoint interval 0': ('checkpoint_config = dict(interval=0)', 'checkpoint_config.interval',
                              'must be a positive int (save every N epochs), got 0'),
    'checkpoint interval -1': ('checkpoint_config = dict(interval=-1)', 'checkpoint_config.interval',
                               'got -1'),
    'evaluation interval a string': ("evaluation = dict(interval='1')", 'evaluation.interval',
                                     "must be a positive int, got '1'"),
    'evaluation start negative': ('evaluation = dict(start=-1)', 'evaluation.start', 'got -1'),
    'evaluation rule': ("evaluation = dict(save_best='auto', rule='most')", 'evaluation.rule',
                        "must be 'greater', 'less' or None (inferred from the save_best metric), "
                        "got 'most'"),
    'top-level typo': ('chekpoint_config = dict(interval=1)', 'chekpoint_config',
                       "one edit away from 'checkpoint_config'"),
    'top-level swap': ('log_cofnig = dict(interval=1)', 'log_cofnig', "'log_config'"),
    'log_config typo': ('log_config = dict(intervl=10)', 'log_config.intervl',
                        "did you mean 'interval'?"),
    'priority typo': ("custom_hooks = [dict(type='EMAHook', priority='HIHG')]",
                      'custom_hooks.0.priority', "did you mean 'HIGH'?"),
    'work dir is a file': ('', 'work_dir', "'w' is an existing file, not a folder"),
}


@pytest.mark.parametrize('case', list(FAULTS))
def test_a_bad_value_is_one_line_naming_file_and_key_and_writes_nothing(cfg_dir, capsys, case):
    lines, key, reason = FAULTS[case]
    write(cfg_dir / 'bad.py', '' if lines is None else f"_base_ = './base.py'\n{lines}\n")
    if case == 'work dir is a file':
        (cfg_dir / 'w').write_text('notes\n')
    before = sorted(os.listdir(cfg_dir))
    code, out, err = fastrun(capsys, 'train', 'bad.py', '--work-dir', 'w', '--no-progress')
    assert code == 2 and out == ''
    message = one_error_line(err)  # one line, no traceback
    assert message.startswith(f'bad.py: {key}: ') and reason in message, message
    assert sorted(os.listdir(cfg_dir)) == before  # no work dir, no config.py, no log
    if case == 'work dir is a file':
        assert (cfg_dir / 'w').read_text() == 'notes\n'


def test_a_pretrained_prefix_that_matches_nothing_names_the_key_and_leaves_nothing(cfg_dir, capsys):
    assert fastrun(capsys, 'train', 'base.py', '--work-dir', 'first', '--no-validate',
                   '--cfg-options', 'runner.max_epochs=1')[0] == 0
    write(cfg_dir / 'bad.py', "_base_ = './base.py'\nmodel = dict(backbone=dict(init_cfg=dict("
                              "type='Pretrained', checkpoint='first/epoch_1.pth', prefix='nothere.')))\n")
    code, _, err = fastrun(capsys, 'train', 'bad.py', '--work-dir', 'w', '--no-progress')
    assert code == 2 and 'Traceback' not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("fastrun: error: bad.py: model.backbone.init_cfg.prefix: first/epoch_1.pth: "
                           "no key starts with prefix 'nothere.'"), last
    assert not os.path.exists('w')


def test_a_failed_start_puts_back_the_config_py_of_the_previous_run(cfg_dir, capsys):
    assert fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--no-validate',
                   '--cfg-options', 'runner.max_epochs=1')[0] == 0
    files = sorted(os.listdir('w'))
    config = (cfg_dir / 'w' / 'config.py').read_text()
    # Refused by EMAHook's constructor, after config.py and the log were written.
    write(cfg_dir / 'bad.py', "_base_ = './base.py'\ncustom_hooks = [dict(type='EMAHook', interval=0)]\n")
    code, _, err = fastrun(capsys, 'train', 'bad.py', '--work-dir', 'w', '--no-progress')
    assert code == 2 and 'custom_hooks.0' in err.strip().splitlines()[-1]
    assert sorted(os.listdir('w')) == files
    assert (cfg_dir / 'w' / 'config.py').read_text() == config


def test_a_run_that_fails_after_training_keeps_its_log(cfg_dir, capsys):
    code, _, _ = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--no-progress',
                         '--cfg-options', 'optimizer.lr=1e30')
    assert code == 1  # NaN loss at iteration 2: the log says what happened
    assert any(f.endswith('.log') for f in os.listdir('w'))


def test_a_missing_resume_from_lists_the_checkpoints_of_its_folder(cfg_dir, capsys):
    assert fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--no-validate')[0] == 0
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w2', '--resume-from',
                           'w/epoch_9.pth')
    assert code == 2
    assert one_error_line(err) == ('base.py: resume_from: checkpoint file not found: w/epoch_9.pth; '
                                   'the checkpoints in w/: epoch_1.pth, epoch_2.pth, latest.pth '
                                   '(set by --resume-from)')
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w2', '--resume-from',
                           'nothere/latest.pth')
    assert one_error_line(err).endswith('not found: nothere/latest.pth; there is no folder nothere '
                                        '(set by --resume-from)')
    assert not os.path.exists('w2')


def test_an_optimizer_without_lr_says_it_trains_at_torchs_default(cfg_dir, capsys):
    write(cfg_dir / 'nolr.py', "_base_ = './base.py'\noptimizer = dict(_delete_=True, type='SGD')\n")
    code, _, err = fastrun(capsys, 'train', 'nolr.py', '--work-dir', 'w', '--no-progress',
                           '--cfg-options', 'runner.max_epochs=1')
    assert code == 0
    warning = "nolr.py: optimizer.lr: not set: SGD trains at torch's default lr=0.001"
    assert f'fastrun: warning: {warning}' in err.splitlines()[0]
    [log] = [f for f in os.listdir('w') if f.endswith('.log')]
    assert warning in (cfg_dir / 'w' / log).read_text()


def test_unknown_top_level_keys_are_repeated_in_the_summary_and_the_text_log(cfg_dir, capsys):
    write(cfg_dir / 'odd.py', "_base_ = './base.py'\ncheckpoint_cfg = dict(interval=1)\nmy_note = 3\n")
    code, _, err = fastrun(capsys, 'train', 'odd.py', '--work-dir', 'w', '--no-progress',
                           '--cfg-options', 'runner.max_epochs=1')
    assert code == 0
    listed = "checkpoint_cfg (did you mean 'checkpoint_config'?), my_note"
    assert f'Config keys fastrun did not use: {listed}' in err.strip().splitlines()[-1]
    [log] = [f for f in os.listdir('w') if f.endswith('.log')]
    text = (cfg_dir / 'w' / log).read_text()
    assert f'Config keys fastrun does not use: {listed}' in text  # early, in the log only
    assert "unknown key 'checkpoint_cfg'" in text  # the terminal's warning, written to the log
    assert f'Config keys fastrun did not use: {listed}' in text  # the summary


def test_the_keyword_arguments_of_runtime_hooks_stay_legal(cfg_dir, capsys):
    # Keys mmcv passes on to the hook class (or to dataset.evaluate, runner.save_checkpoint):
    # none of them is "unknown". DistEvalHook's own keys are ignored by a run of one process.
    write(cfg_dir / 'kw.py', """_base_ = './base.py'
evaluation = dict(interval=1, start=1, metric=['accuracy', 'precision'], save_best='accuracy_top-1',
                  rule='greater', metric_options=dict(topk=(1,)), gpu_collect=True, tmpdir=None,
                  broadcast_bn_buffer=True, greater_keys=['acc'], less_keys=['loss'], out_dir=None)
checkpoint_config = dict(interval=1, by_epoch=True, save_optimizer=False, max_keep_ckpts=1,
                         save_last=True, sync_buffer=False, filename_tmpl='epoch_{}.pth')
lr_config = dict(policy='step', step=[1], gamma=0.5, by_epoch=True, warmup='linear',
                 warmup_iters=2, warmup_ratio=0.1)
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
log_config = dict(interval=2, hooks=[dict(type='TextLoggerHook', by_epoch=True, ignore_last=False)])
runner = dict(type='EpochBasedRunner', max_epochs=1)
""")
    code, _, err = fastrun(capsys, 'train', 'kw.py', '--work-dir', 'w', '--no-progress')
    assert code == 0, err
    assert 'warning' not in err.lower() and 'accuracy_top-1' in err
    assert os.path.exists(os.path.join('w', 'epoch_1.pth'))


def test_an_evaluation_start_after_the_last_epoch_warns_once(cfg_dir, capsys):
    code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w', '--no-progress',
                           '--cfg-options', 'evaluation.start=200')
    assert code == 0
    warning = ('base.py: evaluation.start=200 is after the last epoch (2): the run will not '
               'evaluate (no val metrics, no best checkpoint)')
    assert err.count(warning) == 1
    [log] = [f for f in os.listdir('w') if f.endswith('.log')]
    assert (cfg_dir / 'w' / log).read_text().count(warning) == 1
    # Inside the run, or without validation: nothing to say.
    for options in (['--cfg-options', 'evaluation.start=2'], ['--no-validate', '--cfg-options',
                                                              'evaluation.start=200']):
        code, _, err = fastrun(capsys, 'train', 'base.py', '--work-dir', 'w3', '--no-progress', *options)
        assert code == 0 and 'will not evaluate' not in err


def test_a_value_a_constructor_refuses_shows_its_repr_and_leaves_nothing(cfg_dir, capsys):
    # Refused while building (after the config was logged): the last line is the error.
    write(cfg_dir / 'bad.py', "_base_ = './base.py'\nlr_config = dict(policy='step', step=[2], "
                              "warmup='linear', warmup_iters='5')\n")
    code, _, err = fastrun(capsys, 'train', 'bad.py', '--work-dir', 'w', '--no-progress')
    assert code == 2 and 'Traceback' not in err
    assert err.strip().splitlines()[-1] == (
        "fastrun: error: bad.py: lr_config: StepLrUpdaterHook: warmup_iters must be an int, got "
        "str '5'")
    assert not os.path.exists('w')
