"""The Python API page's "Using the Runner from Python" example (docs/python-api.md) runs as
printed, and says what it does."""
import json
import logging
import os
import re

import torch

from fastrun import Runner
from tests.conftest import ToyModel, make_loader
from tests.test_cli import ROOT
from tests.test_custom_hooks import make_logger


def section():
    with open(os.path.join(ROOT, 'docs', 'python-api.md'), encoding='utf-8') as f:
        text = f.read()
    return text.split('\n## Using the Runner from Python\n', 1)[1].split('\n## ', 1)[0]


def test_the_example_runs_as_printed_and_writes_what_it_says(tmp_path, monkeypatch, capsys):
    [code] = re.findall(r'```python\n(.*?)```', section(), re.S)
    monkeypatch.chdir(tmp_path)
    fastrun_logger = logging.getLogger('fastrun')
    handlers = list(fastrun_logger.handlers)
    try:  # in this process (a fresh interpreter costs seconds), as a script runs it
        exec(compile(code, 'docs/python-api.md', 'exec'), {'__name__': '__main__'})
    finally:
        for h in fastrun_logger.handlers:
            if h not in handlers:  # the example's text log: closed, the test's logging as it was
                fastrun_logger.removeHandler(h)
                h.close()
    err = capsys.readouterr().err
    work = tmp_path / 'work_dirs' / 'python_api'
    [json_log] = [work / f for f in os.listdir(work) if f.endswith('.log.json')]
    records = [json.loads(line) for line in json_log.read_text().splitlines()[1:]]
    assert [r['iter'] for r in records if r['mode'] == 'train'][:2] == [2, 4]  # log_config.interval
    assert all('loss' in r for r in records if r['mode'] == 'train')
    assert sum('accuracy' in r for r in records if r['mode'] == 'val') == 3  # one per epoch
    assert {'epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth', 'latest.pth'} <= set(os.listdir(work))
    assert any(f.startswith('best_accuracy_epoch_') for f in os.listdir(work))
    text_log = (tmp_path / 'python_api.log').read_text()
    assert 'Run finished in' in text_log and 'Best accuracy: ' in text_log  # the summary
    assert 'Run finished in' in err  # and the console


def test_the_section_stays_short():
    assert len(section().splitlines()) < 80


def test_a_train_step_returning_only_the_loss_logs_no_loss(tmp_path):
    # What the section says: the logged values are log_vars, never the loss itself.
    class LossOnly(ToyModel):
        def train_step(self, data_batch, optimizer=None, **kwargs):
            return dict(loss=super().train_step(data_batch, optimizer)['loss'])

    logger, _ = make_logger('loss-only')
    model = LossOnly()
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                    work_dir=str(tmp_path), max_epochs=1, logger=logger)
    runner.register_training_hooks(None, dict(), None, dict(interval=1, hooks=[dict(type='TextLoggerHook')]))
    runner.run([make_loader(2)], [('train', 1)])
    [json_log] = [tmp_path / f for f in os.listdir(tmp_path) if f.endswith('.log.json')]
    train = [json.loads(line) for line in json_log.read_text().splitlines()[1:]]
    assert train and not any('loss' in r for r in train)
