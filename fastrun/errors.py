"""Exception types shared by every layer; this module imports nothing of fastrun.

mmcv 1.x checks arguments with ``assert``, so code written for it catches ``AssertionError``
(``except AssertionError``, ``pytest.raises(AssertionError)``). fastrun never uses ``assert``
for argument checks (``python -O`` removes them); it raises these instead: each is the clear
type fastrun means (``ValueError``, ``TypeError``) and is also caught as mmcv's.
"""


class ArgumentError(ValueError, AssertionError):
    """A bad argument value (also an ``AssertionError``, where mmcv asserts)."""


class ArgumentTypeError(TypeError, AssertionError):
    """An argument of the wrong type (also an ``AssertionError``, where mmcv asserts)."""


class ArgumentKeyError(KeyError, AssertionError):
    """A required key missing from a config dict (also an ``AssertionError``, where mmcv asserts)."""


class DataError(ValueError):
    """A sample of a data set that cannot be used (its image size, its label); names the data set,
    the sample and the iteration."""


class LauncherError(RuntimeError):
    """A distributed launch whose processes lack what their launcher (torchrun, srun, mpirun)
    sets; the message says how to start them."""
