"""ProgressBarHook: a progress line per epoch for runs in a terminal (no extra dependency)."""
import os
import sys
import time
import warnings

from ..log import live_line_is, set_live_line
from ..hook_order import DEFAULT_PRIORITIES
from ..registry import HOOKS
from .logger.base import LoggerHook


def format_duration(seconds):
    """``H:MM:SS`` (``D days, H:MM:SS`` past a day), as the text log's ETA."""
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    text = f'{hours}:{rest // 60:02d}:{rest % 60:02d}'
    return f'{days} day{"s" if days > 1 else ""}, {text}' if days else text


def _unicode_ok(stream):
    encoding = (getattr(stream, 'encoding', None) or '').lower().replace('-', '').replace('_', '')
    return encoding == 'utf8'


def _is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@HOOKS.register_module()
class ProgressBarHook(LoggerHook):
    """One progress line per train/val epoch: count, it/s, the last logged loss and the ETA.

    ``train 3/12 |██████████░░░░░░░░░░|  20/40  57.1 it/s  loss 0.4123  eta 0:00:12``

    The ETA is that of the whole training: the train iterations left (this epoch's and the
    epochs to come) at the run's train speed so far; evaluation time is not in it. ``fastrun
    train`` adds the hook (priority ``LOWEST``) when its output is a terminal; ``--no-progress``
    leaves it out. In a terminal the line is redrawn in place at most ``refresh_per_second``
    times a second, and log records and warnings are printed above it; each finished epoch
    leaves its line. Writing elsewhere (a file, a pipe) it prints one line per finished epoch.
    Only rank 0 draws.

    The loss shown is the value the loggers logged last (the average over their interval):
    the bar reads the loggers' output, so register it after them (``priority='LOWEST'``); it
    never reads a tensor, so it adds no device sync.

    ``stream``: where to draw (default ``sys.stderr``, where the log records go); ``ascii``:
    ``#`` and ``-`` instead of block characters (default: when the stream is not UTF-8).
    """

    #: The priority ``fastrun train`` registers it at (:mod:`fastrun.hook_order`): after every
    #: logger. ``runner.register_hook(hook)`` without a priority registers it at NORMAL.
    priority = DEFAULT_PRIORITIES['progress']

    def __init__(self, refresh_per_second=4, stream=None, ascii=None, interval=1):
        # The bar never averages the log buffer itself (see after_train_iter): ``interval``
        # is only accepted so that it can sit in log_config.hooks, which passes one.
        super().__init__(interval=interval)
        if not (isinstance(refresh_per_second, (int, float)) and refresh_per_second > 0):
            raise ValueError(f'ProgressBarHook: refresh_per_second must be a positive number, '
                             f'got {refresh_per_second!r}')
        self.refresh_per_second = refresh_per_second
        self._stream = stream
        self._ascii = ascii
        self.stream = None
        self.loss = None
        self._label = None
        self._drawn = False
        self._live = False
        self._iter_based = False
        self._showwarning = None

    # ---------------------------------------------------------------- drawing
    def _columns(self):
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        if columns <= 0:  # a pseudo-terminal without a size (script, some CI runners)
            try:
                columns = int(os.environ.get('COLUMNS', 80))
            except ValueError:
                columns = 80
        return max(columns, 20)

    def _text(self, now):
        """The bar's line for the current state (fits the terminal's width)."""
        done, total = self._done, self._total
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 and done else 0.0
        count = f'{self._offset + done}/{self._offset + total}' if total else f'{done}'
        if rate and rate < 1:
            speed = f'{1 / rate:.1f} s/it'
        else:
            speed = f'{rate:.1f} it/s' if rate < 100 else f'{rate:.0f} it/s'
        parts = [count, speed]
        if self.loss is not None and self._mode == 'train':
            parts.append(f'loss {self.loss:.4f}')
        eta = self._eta(now)
        if eta is not None:
            parts.append(f'eta {format_duration(eta)}')
        tail = '  ' + '  '.join(parts)
        head = self._label
        width = self._columns() - 1  # the last column would wrap on some terminals
        room = width - len(head) - len(tail) - 3
        if total and room >= 10:
            room = min(room, 40)
            full, empty = ('#', '-') if self._ascii else ('\u2588', '\u2591')
            filled = min(room, int(room * done / total)) if total else 0
            bar = f' |{full * filled}{empty * (room - filled)}|'
        else:
            bar = ''
        return (head + bar + tail)[:max(width, 1)]

    def _eta(self, now):
        left = self._train_left()
        if left is None or self._mode != 'train':
            return None
        iters = self._train_iters + self._done
        seconds = self._train_time + (now - self._start)
        if not iters or seconds <= 0:
            return None
        return left * seconds / iters

    def _train_left(self):
        """Train iterations left in the run (this epoch's and the epochs to come), or None."""
        if not self._total:
            return None
        left = self._total - self._done
        if self._max_epochs is not None:
            left += (self._max_epochs - self._epoch - 1) * self._total
        return max(left, 0)

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not stop the training
            self._live = False

    def clear(self):
        """Remove the bar's line from the terminal (a log record is about to be printed)."""
        if self._drawn:
            self._write('\r\033[K')
            self._drawn = False

    def redraw(self, now=None):
        """Draw the bar's line again (in place) if an epoch is in progress."""
        if self._label is None or not self._live:
            return
        now = time.monotonic() if now is None else now
        self._write('\r' + self._text(now) + '\033[K')
        self._drawn = True
        self._next = now + 1.0 / self.refresh_per_second

    def _finish(self):
        """Leave the epoch's final line (with a newline) and stop drawing."""
        if self._label is None:
            return
        if self._draws:
            text = self._text(time.monotonic())
            self._write(('\r' + text + '\033[K\n') if self._live else text + '\n')
        self._drawn = False
        self._label = None

    # ---------------------------------------------------------------- hook stages
    def before_run(self, runner):
        super().before_run(runner)
        self.stream = self._stream if self._stream is not None else sys.stderr
        self._draws = runner.rank == 0
        self._live = self._draws and _is_tty(self.stream)
        if self._ascii is None:
            self._ascii = not _unicode_ok(self.stream)
        self.loss = None
        self._label = None
        self._drawn = False
        self._train_iters = 0
        self._train_time = 0.0
        self._counted = None
        if self._live:
            set_live_line(self)
            self._showwarning = warnings.showwarning
            warnings.showwarning = self._show_warning

    def _show_warning(self, *args, **kwargs):
        # Warnings go to stderr too: above the bar, as log records.
        self.clear()
        try:
            self._showwarning(*args, **kwargs)
        finally:
            self.redraw()

    def before_epoch(self, runner):
        super().before_epoch(runner)
        self._offset = 0
        self._max_epochs = None
        self._epoch = runner.epoch
        if runner.max_epochs is None and runner.max_iters is not None:
            # Iteration-based: before_epoch comes once; one bar for the whole run, counted in
            # train iterations (the val iterations in between do not move it).
            self._iter_based = True
            self._mode = 'train'
            self._label = 'train'
            total = runner.max_iters - runner.iter
            self._offset = runner.iter
        else:
            self._iter_based = False
            self._mode = runner.mode
            loader = runner.data_loader
            total = len(loader) if hasattr(loader, '__len__') else 0
            if runner.mode == 'train':
                self._max_epochs = runner.max_epochs
                self._label = f'train {runner.epoch + 1}/{runner.max_epochs}'
            else:
                self._label = f'val {runner.epoch}'
        self._total = total
        self._done = 0
        self._start = time.monotonic()
        self._next = self._start
        if self._live:
            self.redraw(self._start)

    def _advance(self):
        self._done += 1
        if self._live:
            now = time.monotonic()
            if now >= self._next:
                self.redraw(now)
        if self._total and self._done >= self._total:
            self._epoch_done()

    def _epoch_done(self):
        if self._label is None:
            return
        if self._mode == 'train':
            self._train_iters += self._done
            self._train_time += time.monotonic() - self._start
        self._finish()

    def log(self, runner):
        """Keep the last logged loss for the bar (the loggers averaged it)."""
        loss = runner.log_buffer.output.get('loss')
        if isinstance(loss, (int, float)) and not isinstance(loss, bool):
            self.loss = float(loss)

    def after_train_iter(self, runner):
        # No averaging here (the loggers did it): read what they logged, clear it if last.
        self._log_ready(runner)
        if runner.iter != self._counted:  # an evaluation by iterations calls loggers early too
            self._counted = runner.iter
            self._advance()

    def after_val_iter(self, runner):
        if not self._iter_based:
            self._advance()

    def after_train_epoch(self, runner):
        self._log_ready(runner)
        self._epoch_done()

    def after_val_epoch(self, runner):
        self._log_ready(runner)
        if not self._iter_based:
            self._epoch_done()

    def after_run(self, runner):
        self.flush_and_close(runner)

    def flush_and_close(self, runner):
        """End the line and give the terminal back; called at the end and when a run fails."""
        if self.stream is None:
            return
        if self._drawn:
            self._write('\n')
            self._drawn = False
        self._label = None
        if live_line_is(self):
            set_live_line(None)
        if getattr(self, '_showwarning', None) is not None:
            warnings.showwarning = self._showwarning
            self._showwarning = None
