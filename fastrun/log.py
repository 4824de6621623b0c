"""The ``fastrun`` logger: console plus an optional file, quiet on ranks other than 0."""
import getpass
import logging
import socket
import sys
import time

from .dist import get_dist_info

_FORMAT = '%(asctime)s - %(name)s - %(levelname)s - %(message)s'


def get_logger(name='fastrun', log_file=None, log_level=logging.INFO, file_mode='w'):
    """The logger ``name``, with a console handler (once) and a file handler for ``log_file``."""
    logger = logging.getLogger(name)
    if isinstance(log_level, str):
        log_level = logging.getLevelName(log_level.upper())
    rank = get_dist_info()[0]
    if not any(getattr(h, '_fastrun', False) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream._fastrun = True
        stream.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(stream)
        logger.propagate = False
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
