"""ProgressBarHook: a line per epoch with count, it/s, the last logged loss and the ETA; log
records and warnings print above it; the loggers see exactly what they saw without it."""
import io
import logging
import os
import re
import struct
import threading
import warnings

import pytest
import torch

from fastrun import Hook, OptimizerHook, ProgressBarHook, Runner
from fastrun import log as fastrun_log
from fastrun.hooks.logger.base import LoggerHook
from fastrun.hooks.progress import format_duration
from tests.conftest import ToyModel, make_loader


class Recorder(LoggerHook):
    """A logger that keeps every train loss it is handed."""

    def __init__(self, interval=2):
        super().__init__(interval=interval, ignore_last=False)
        self.losses = []

    def log(self, runner):
        if runner.mode == 'train' and 'loss' in runner.log_buffer.output:
            self.losses.append(runner.log_buffer.output['loss'])


class TTYString(io.StringIO):
    """A terminal that records what was written to it."""

    def isatty(self):
        return True


def screen(text):
    """What a terminal shows after ``text``: carriage returns and erase-line applied."""
    lines, cur, col = [], [], 0
    for tok in re.split(r'(\r|\n|\x1b\[K)', text):
        if tok == '\r':
            col = 0
        elif tok == '\n':
            lines.append(''.join(cur))
            cur, col = [], 0
        elif tok == '\x1b[K':
            del cur[col:]
        else:
            for ch in tok:
                if col < len(cur):
                    cur[col] = ch
                else:
                    cur.append(ch)
                col += 1
    if cur:
        lines.append(''.join(cur))
    return lines


def toy_runner(logger=None, **kwargs):
    torch.manual_seed(0)
    model = ToyModel()
    if logger is not None:  # left out: fastrun's logger (an explicit None raises, as in mmcv)
        kwargs['logger'] = logger
    runner = Runner(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)
    runner.register_hook(OptimizerHook(), 'ABOVE_NORMAL')  # the loss moves from epoch to epoch
    return runner


def run_epochs(bar=None, epochs=2):
    runner = toy_runner(max_epochs=epochs)
    recorder = Recorder(interval=2)
    runner.register_hook(recorder, 'VERY_LOW')
    if bar is not None:
        runner.register_hook(bar, 'LOWEST')
    runner.run([make_loader(5), make_loader(2, seed=1)], [('train', 1), ('val', 1)])
    return recorder


def test_one_line_per_epoch_with_count_speed_and_last_logged_loss(core):
    out = io.StringIO()  # not a terminal: one line per finished epoch, no escape codes
    recorder = run_epochs(ProgressBarHook(stream=out))
    lines = out.getvalue().splitlines()
    assert [line.split(' |')[0] for line in lines] == ['train 1/2', 'val 1', 'train 2/2', 'val 2']
    assert '\x1b' not in out.getvalue() and '\r' not in out.getvalue()
    assert [re.search(r'\|  (\d+/\d+)  ', line).group(1) for line in lines] == ['5/5', '2/2', '5/5', '2/2']
    assert all(re.search(r'  [\d.]+ (it/s|s/it)', line) for line in lines)
    # The loss shown at the end of an epoch is the last one the logger logged (5 = 2+2+1).
    assert len(recorder.losses) == 6 and recorder.losses[2] != recorder.losses[5]
    assert f'loss {recorder.losses[2]:.4f}' in lines[0]
    assert f'loss {recorder.losses[5]:.4f}' in lines[2]
    assert 'loss' not in lines[1] and 'eta' not in lines[1]
    assert lines[2].endswith('eta 0:00:00')  # nothing left after the last train epoch


def test_the_loggers_log_the_same_values_with_the_bar(core):
    without = run_epochs(None).losses
    with_bar = run_epochs(ProgressBarHook(stream=io.StringIO())).losses
    assert with_bar == without and len(without) == 6


def test_log_records_and_warnings_print_above_the_bar(core, tmp_path):
    term = TTYString()
    logger = logging.getLogger('fastrun.test_progress')
    logger.handlers[:] = []
    handler = fastrun_log.ConsoleHandler(term)
    handler.setFormatter(logging.Formatter('%(levelname)s - %(message)s'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    class Talk(Hook):
        def after_train_iter(self, runner):
            if runner.inner_iter == 1:
                runner.logger.info('record at iteration %d', runner.iter + 1)
            if runner.inner_iter == 3:
                warnings.warn('a warning in the middle of an epoch')

    runner = toy_runner(logger=logger, max_epochs=2)
    runner.register_hook(Talk(), 'NORMAL')
    runner.register_hook(Recorder(), 'VERY_LOW')
    runner.register_hook(ProgressBarHook(stream=term, refresh_per_second=1e6), 'LOWEST')
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        warnings.showwarning = lambda message, *a, **k: term.write(f'WARNING - {message}\n')
        saved = warnings.showwarning
        runner.run([make_loader(5)], [('train', 1)])
        restored = warnings.showwarning
    shown = screen(term.getvalue())
    shown = shown[next(i for i, line in enumerate(shown) if 'workflow:' in line) + 1:]
    # Nothing is ever glued to a bar: a line is a record, a warning or a bar, never two of them.
    records = [line for line in shown if ' - ' in line]
    bars = [line for line in shown if line.startswith('train ')]
    assert len(records) + len(bars) == len(shown)
    assert not any('train ' in line for line in records)
    assert [line for line in records if 'record at' in line] == [
        'INFO - record at iteration 2', 'INFO - record at iteration 7']
    assert sum(line == 'WARNING - a warning in the middle of an epoch' for line in records) == 2
    # Each epoch leaves its finished line; records printed after it come below it.
    assert [line.split(' |')[0] for line in bars] == ['train 1/2', 'train 2/2']
    assert all('5/5' in line for line in bars)
    assert shown.index(bars[0]) < shown.index('INFO - record at iteration 7') < shown.index(bars[1])
    assert term.getvalue().endswith('\n')  # the terminal is left on a fresh line
    assert restored is saved  # the bar put Python's warning printer back
    assert not fastrun_log.live_line_is(runner.hooks[-1])


def test_a_failing_run_gives_the_terminal_back(core):
    term = TTYString()

    class Boom(Hook):
        def after_train_iter(self, runner):
            if runner.iter == 2:
                raise RuntimeError('boom')

    runner = toy_runner(max_epochs=2)
    runner.register_hook(Boom(), 'NORMAL')
    bar = ProgressBarHook(stream=term, refresh_per_second=1e6)
    runner.register_hook(bar, 'LOWEST')
    showwarning = warnings.showwarning
    with pytest.raises(RuntimeError, match='boom'):
        runner.run([make_loader(5)], [('train', 1)])
    assert term.getvalue().endswith('\n') and screen(term.getvalue())[-1].startswith('train 1/2')
    assert not fastrun_log.live_line_is(bar) and warnings.showwarning is showwarning


def test_iteration_based_runs_have_one_bar_over_the_train_iterations(core):
    out = io.StringIO()
    runner = toy_runner(max_iters=6)
    runner.register_hook(Recorder(), 'VERY_LOW')
    runner.register_hook(ProgressBarHook(stream=out), 'LOWEST')
    runner.run([make_loader(4), make_loader(2, seed=1)], [('train', 3), ('val', 1)])
    [line] = out.getvalue().splitlines()
    assert line.startswith('train |') and '|  6/6  ' in line


def test_loggers_called_early_by_an_evaluation_do_not_count_twice(core):
    class EarlyLoggers(Hook):
        """What EvalHook does by iterations: hand the train values to the loggers first."""

        def after_train_iter(self, runner):
            if runner.iter % 2:
                for hook in runner.hooks:
                    if isinstance(hook, LoggerHook):
                        hook.after_train_iter(runner)

    out = io.StringIO()
    written = []

    class Watch(Hook):
        def after_train_iter(self, runner):
            written.append(out.getvalue())

    runner = toy_runner(max_iters=6)
    runner.register_hook(EarlyLoggers(), 'LOW')
    runner.register_hook(Recorder(), 'VERY_LOW')
    runner.register_hook(ProgressBarHook(stream=out), 'LOWEST')
    runner.register_hook(Watch(), 'LOWEST')
    runner.run([make_loader(4)], [('train', 6)])
    # The run's line is printed once the 6th iteration is done, not after 3 or 4 of them.
    assert written[:5] == [''] * 5
    [line] = out.getvalue().splitlines()
    assert '|  6/6  ' in line


def test_eta_covers_the_epochs_to_come(core):
    out = TTYString()
    bar = ProgressBarHook(stream=out, refresh_per_second=1e6)
    seen = []

    class Peek(Hook):
        def after_train_iter(self, runner):
            seen.append(bar._train_left())

    runner = toy_runner(max_epochs=3)
    runner.register_hook(bar, 'LOWEST')
    runner.register_hook(Peek(), 'LOWEST')  # after the bar
    runner.run([make_loader(4)], [('train', 1)])
    assert seen == list(range(11, -1, -1))


def test_ascii_when_the_terminal_cannot_show_blocks(core):
    out = io.TextIOWrapper(io.BytesIO(), encoding='ascii')
    runner = toy_runner(max_epochs=1)
    runner.register_hook(ProgressBarHook(stream=out), 'LOWEST')
    runner.run([make_loader(4)], [('train', 1)])
    out.flush()
    line = out.buffer.getvalue().decode('ascii')
    assert re.match(r'train 1/1 \|#+\|  4/4', line)


@pytest.mark.parametrize('seconds,text', [(0, '0:00:00'), (59.9, '0:00:59'), (3725, '1:02:05'),
                                          (90061, '1 day, 1:01:01')])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_a_real_pseudo_terminal(core):
    """The same through a pty: what a person sees in a terminal window 100 columns wide."""
    fcntl = pytest.importorskip('fcntl')
    termios = pytest.importorskip('termios')
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
    stream = os.fdopen(slave, 'w', encoding='utf-8')
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    logger = logging.getLogger('fastrun.test_pty')
    logger.handlers[:] = [fastrun_log.ConsoleHandler(stream)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    runner = toy_runner(logger=logger, max_epochs=2)
    runner.register_hook(Recorder(), 'VERY_LOW')
    runner.register_hook(ProgressBarHook(stream=stream, refresh_per_second=1e6), 'LOWEST')
    runner.run([make_loader(5)], [('train', 1)])
    stream.close()
    reader.join(timeout=10)
    os.close(master)
    shown = screen(b''.join(chunks).decode('utf-8').replace('\r\n', '\n'))
    bars = [line for line in shown if line.startswith('train ')]
    assert [line.split(' |')[0] for line in bars] == ['train 1/2', 'train 2/2']
    assert all(len(line) <= 99 and '\u2588' in line for line in bars)  # fits, in blocks
    assert not any('train ' in line for line in shown if 'Hooks will be executed' in line)
