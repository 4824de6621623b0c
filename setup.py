"""Builds the compiled dispatch core (csrc/_core.pyx -> fastrun._core_cy); metadata is in pyproject.toml."""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

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

setup(
    ext_modules=cythonize(
        [Extension('fastrun._core_cy', ['csrc/_core.pyx'], define_macros=macros)],
        compiler_directives=DIRECTIVES,
    ),
)
