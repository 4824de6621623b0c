"""``python -m fastrun`` works like the ``fastrun`` command."""
import sys

from .cli import main

sys.exit(main())
