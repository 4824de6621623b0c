"""Selects the dispatch core: the compiled extension unless ``FASTRUN_PURE_PYTHON=1`` or it is missing."""
import os
import warnings

from . import _core_py

CORE = 'python'
impl = _core_py

if os.environ.get('FASTRUN_PURE_PYTHON', '') not in ('', '0'):
    pass
else:
    try:
        from . import _core_cy as impl  # noqa: F811
        CORE = 'cython'
    except ImportError as e:  # a source checkout without a build, or a broken build
        # Installed without it (no C compiler, or FASTRUN_NO_EXTENSIONS=1 at install time).
        warnings.warn(f'fastrun: the compiled core is unavailable ({e}); using the pure-Python twin '
                      '(FASTRUN_PURE_PYTHON=1 chooses it without this warning). Reinstall with a '
                      'C compiler to build it.', RuntimeWarning, stacklevel=2)



def get(name):
    """The core module called ``name`` ('cython' or 'python'); ImportError if it is not built."""
    if name == 'python':
        return _core_py
    if name == 'cython':
        from . import _core_cy
        return _core_cy
    raise ValueError(f"core must be 'cython' or 'python', got {name!r}")
