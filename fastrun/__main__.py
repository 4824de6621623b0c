"""``python -m fastrun`` works like the ``fastrun`` command."""
from .cli import entry

entry()
