"""Root pytest configuration: benchmarks are measured only with ``--benchmark-only``.

A plain ``pytest`` runs each benchmark once as a test (``--benchmark-disable``), so the suite
stays fast and timing noise never fails it.

The local S3 server (moto) is one per session, shared by the storage tests and benchmarks.
"""
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    opt = config.option
    if hasattr(opt, 'benchmark_disable') and not getattr(opt, 'benchmark_only', False):
        opt.benchmark_disable = True


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='session')
def s3_server(tmp_path_factory):
    """The endpoint of a moto S3 server on a free local port, for the whole session."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp('moto') / 'server.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p',
                             str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f'http://127.0.0.1:{port}'
    end = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                pytest.fail(f'the S3 server did not start (see {log.name})')
            time.sleep(0.1)
    yield endpoint
    proc.terminate()
    proc.wait(30)
    log.close()
