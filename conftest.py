"""Root pytest configuration: benchmarks are measured only with ``--benchmark-only``.

A plain ``pytest`` runs each benchmark once as a test (``--benchmark-disable``), so the suite
stays fast and timing noise never fails it.
"""
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    opt = config.option
    if hasattr(opt, 'benchmark_disable') and not getattr(opt, 'benchmark_only', False):
        opt.benchmark_disable = True
