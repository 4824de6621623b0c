"""A stand-in for torchvision, put on the path only where the real one cannot be imported.

PyPI's torchvision does not load beside the CPU torch wheel of the interop environment
(``operator torchvision::nms does not exist``); ``mmcv.runner`` imports it only to list the
``torchvision://`` checkpoint URLs, which no test here opens. Nothing else of it exists.
"""
__version__ = '0.0.0'

from . import models  # noqa: E402,F401
