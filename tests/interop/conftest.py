"""Interop tests: fastrun judged against the real mmcv 1.7.2 and mmcls 0.25.0.

They run in the oracle environment that ``.ci/oracle-env`` builds (CI runs them with
``FASTRUN_INTEROP=1``, where a missing mmcv or mmcls is an error). In an environment without
those libraries (the README's test command) every test here is skipped, saying why.

Real mmcls configs are read from the installed package (``mmcls/.mim/configs``):
the ``mmcls_configs`` fixture is that folder.
"""
import importlib.util
import os
import os.path as osp
import sys

import pytest

REQUIRED = os.environ.get('FASTRUN_INTEROP') == '1'
_STUBS = osp.join(osp.dirname(__file__), 'stubs')


def _torchvision_importable():
    if importlib.util.find_spec('torchvision') is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # the PyPI wheel fails to load beside the CPU torch wheel
        for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
            del sys.modules[name]
        return False
    return True


def _oracle_missing():
    missing = [name for name in ('mmcv', 'mmcls') if importlib.util.find_spec(name) is None]
    return ', '.join(missing)


_MISSING = _oracle_missing()
if not _MISSING and not _torchvision_importable():
    sys.path.insert(0, _STUBS)


def pytest_collection_modifyitems(config, items):
    if not _MISSING:
        return
    if REQUIRED:
        raise pytest.UsageError(f'FASTRUN_INTEROP=1 but {_MISSING} cannot be imported: '
                                'build the oracle environment with .ci/oracle-env')
    here = osp.dirname(__file__)
    skip = pytest.mark.skip(reason=f'{_MISSING} not installed (the interop oracle: .ci/oracle-env)')
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)


def pytest_ignore_collect(collection_path, config):
    # Modules here import mmcv/mmcls at the top: without them they are not even collected
    # (and FASTRUN_INTEROP=1 fails above instead).
    if _MISSING and not REQUIRED and collection_path.suffix == '.py' \
            and collection_path.name.startswith('test_'):
        return True
    return None


@pytest.fixture(scope='session')
def mmcls_configs():
    """The folder of the real MMClassification 0.25 configs the installed mmcls ships."""
    import mmcls
    folder = osp.join(osp.dirname(mmcls.__file__), '.mim', 'configs')
    assert osp.isdir(folder), folder
    return folder
