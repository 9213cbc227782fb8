"""Turning what a source produced into the text a target stores.

Sources and transforms signal a value they cannot handle by raising :class:`ValueProblem`; the
field that ran them turns it into a :class:`~lucca_sync.exceptions.MappingError` naming the
employee and the target key. Problem messages describe the *kind* of value, never the value
itself: values are HR data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal

__all__ = ["ValueProblem", "is_empty", "kind", "to_text"]


class ValueProblem(Exception):  # noqa: N818 - internal signal, wrapped into MappingError
    """A value cannot be used as it is; the message says why, without quoting the value."""


def kind(value: object) -> str:
    """A short description of a value's type, safe to put in an error message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def is_empty(value: object) -> bool:
    """Whether a value counts as "no value": None, blank text, an empty list or object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | Mapping):
        return not value
    return False


def _number_text(value: float | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueProblem("is not a finite number")
    if value == 0:
        return "0"
    # Plain notation, no exponent and no trailing zeros: 80.0 -> "80", 1e-05 -> "0.00001".
    decimal = Decimal(repr(value)) if isinstance(value, float) else value
    if not decimal.is_finite():
        raise ValueProblem("is not a finite number")
    return format(decimal.normalize(), "f")


def to_text(value: object) -> str:
    """Convert a scalar to the text a target stores.

    Strings pass through; booleans become ``"true"``/``"false"``; numbers are written plainly;
    dates, datetimes and times use ISO 8601.

    Raises:
        ValueProblem: for lists, objects and any other type (a transform must turn them into
            text first).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _number_text(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    raise ValueProblem(f"is {kind(value)}, not text; add a transform that turns it into text")
