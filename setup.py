"""Builds the compiled dispatch core (csrc/_core.pyx -> fastrun._core_cy); metadata is in pyproject.toml.

The compiled core is optional: ``fastrun._core`` uses its pure-Python twin when it is missing.
So ``pip install .`` never fails for want of a C compiler: a build that cannot compile the core
says so and installs the package without it. ``FASTRUN_NO_EXTENSIONS=1`` skips the compilation
on purpose (as propcache's and yarl's opt-outs do).
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NO_EXTENSIONS = os.environ.get('FASTRUN_NO_EXTENSIONS', '') not in ('', '0')
# FASTRUN_CYTHON_DEBUG=1 turns bounds checks and line tracing back on (for coverage/profilers).
DEBUG = os.environ.get('FASTRUN_CYTHON_DEBUG', '') not in ('', '0')
DIRECTIVES = dict(
    language_level=3,
    boundscheck=DEBUG,
    wraparound=DEBUG,
    initializedcheck=DEBUG,
    nonecheck=DEBUG,
    cdivision=not DEBUG,
    linetrace=DEBUG,
    embedsignature=True,
)
macros = [('CYTHON_TRACE', '1'), ('CYTHON_TRACE_NOGIL', '1')] if DEBUG else []

PURE_PYTHON_NOTE = ('the package works without it: fastrun uses the pure-Python twin of the '
                    'dispatch core (slower per hook call; same behaviour)')


class OptionalBuildExt(build_ext):
    """build_ext that installs the package without the compiled core when it cannot be built."""

    def run(self):
        try:
            super().run()
        except Exception as e:  # no compiler at all (distutils' errors are Exceptions)
            self._skip(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # the compiler failed
            self._skip(e)

    @staticmethod
    def _skip(error):
        print(f'fastrun: the compiled core could not be built ({type(error).__name__}: {error}); '
              f'{PURE_PYTHON_NOTE}. Install a C compiler and reinstall to get it, or set '
              f'FASTRUN_NO_EXTENSIONS=1 to skip it on purpose.', file=sys.stderr)


def extensions():
    if NO_EXTENSIONS:
        print(f'fastrun: FASTRUN_NO_EXTENSIONS is set: the compiled core is not built; '
              f'{PURE_PYTHON_NOTE}.', file=sys.stderr)
        return []
    from Cython.Build import cythonize
    return cythonize([Extension('fastrun._core_cy', ['csrc/_core.pyx'], define_macros=macros)],
                     compiler_directives=DIRECTIVES)


setup(ext_modules=extensions(), cmdclass={'build_ext': OptionalBuildExt})
