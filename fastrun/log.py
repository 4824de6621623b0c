"""The ``fastrun`` logger: console plus an optional file, quiet on ranks other than 0."""
import getpass
import logging
import socket
import sys
import time

from .dist import get_dist_info

_FORMAT = '%(asctime)s - %(name)s - %(levelname)s - %(message)s'

#: The live line (a progress bar) at the bottom of the terminal, or None (see set_live_line).
_live_line = None


def set_live_line(line):
    """Register ``line``, a progress bar drawn at the bottom of the terminal; None removes it.

    ``line`` has ``clear()``, ``redraw()`` and ``stream``. Console log records are then printed
    above it: the line is cleared, the record written and the line drawn again below it.
    """
    global _live_line
    _live_line = line


def live_line_is(line):
    """Whether ``line`` is the registered live line."""
    return _live_line is line


def _is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def live_line_shares(stream):
    """The live line, if one is drawn on the terminal ``stream`` writes to; else None."""
    line = _live_line
    if line is None:
        return None
    if stream is line.stream or (_is_tty(stream) and _is_tty(line.stream)):
        return line
    return None


class ConsoleHandler(logging.StreamHandler):
    """The console handler: prints each record above the live progress line, never glued to it."""

    def emit(self, record):
        line = live_line_shares(self.stream)
        if line is None:
            super().emit(record)
            return
        line.clear()
        try:
            super().emit(record)
        finally:
            line.redraw()


def get_logger(name='fastrun', log_file=None, log_level=logging.INFO, file_mode='w'):
    """The logger ``name``, with a console handler (once) and a file handler for ``log_file``."""
    logger = logging.getLogger(name)
    if isinstance(log_level, str):
        log_level = logging.getLevelName(log_level.upper())
    rank = get_dist_info()[0]
    console = [h for h in logger.handlers
               if getattr(h, '_fastrun', False) and not isinstance(h, logging.FileHandler)]
    if not console:
        stream = ConsoleHandler(sys.stderr)
        stream._fastrun = True
        stream.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(stream)
        logger.propagate = False
    else:
        # A later run in the same process writes where stderr is now (it may be redirected).
        for h in console:
            if h.stream is not sys.stderr:
                with h.lock:  # not setStream(): it flushes the old stream, which may be closed
                    h.stream = sys.stderr
    if log_file is not None and rank == 0:
        for h in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(h)
            h.close()
        fh = logging.FileHandler(log_file, file_mode)
        fh._fastrun = True
        fh.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(fh)
    # Other ranks report only warnings and errors, so logs are not written N times.
    level = log_level if rank == 0 else max(logging.WARNING, log_level)
    logger.setLevel(level)
    for h in logger.handlers:
        h.setLevel(level)
    return logger


def print_log(msg, logger=None, level=logging.INFO):
    """Log ``msg`` to ``logger`` (a Logger, a name, 'silent') or print it when None."""
    if logger is None:
        print(msg)
    elif isinstance(logger, logging.Logger):
        logger.log(level, msg)
    elif logger == 'silent':
        pass
    elif isinstance(logger, str):
        logging.getLogger(logger).log(level, msg)
    else:
        raise TypeError(f'logger must be a Logger, a name, "silent" or None, got {type(logger).__name__}')


def get_host_info():
    """``user@host`` of this process."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = 'unknown'
    return f'{user}@{socket.gethostname()}'


def get_time_str():
    """The current local time as ``%Y%m%d_%H%M%S`` (log and work-dir names)."""
    return time.strftime('%Y%m%d_%H%M%S', time.localtime())
