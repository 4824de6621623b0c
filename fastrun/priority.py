"""Hook priorities: the spec's table, and the one function that reads them."""
import difflib
from enum import IntEnum


class Priority(IntEnum):
    """Hook priority levels; a smaller value runs earlier."""

    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


class PriorityError(ValueError, TypeError):
    """A priority that is not one of the allowed values (a ValueError, and a TypeError as mmcv raised for wrong types)."""


_ALLOWED = ('an int in [0, 100], a Priority, or one of ' +
            ', '.join(p.name for p in Priority) + ' (any case)')


def get_priority(priority):
    """Return the int value of ``priority`` (int 0-100, level name in any case, or Priority)."""
    if isinstance(priority, Priority):
        return priority.value
    if isinstance(priority, int) and not isinstance(priority, bool):
        if 0 <= priority <= 100:
            return priority
        raise ValueError(f'priority must be {_ALLOWED}; got {priority!r}')
    if isinstance(priority, str):
        try:
            return Priority[priority.strip().upper()].value
        except KeyError:
            pass
        close = difflib.get_close_matches(priority.strip().upper(), [p.name for p in Priority], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise ValueError(f'unknown priority {priority!r}{hint} (allowed: {_ALLOWED})')
    raise PriorityError(f'priority must be {_ALLOWED}; got {type(priority).__name__} {priority!r}')
