"""What both Lucca decoders share: wire errors with their JSON path, and naming JSON values.

Messages name the *kind* of value found ("a string", "null"), never the value: it may be an
employee's personal data.
"""

from __future__ import annotations

from collections.abc import Callable

from cattrs.errors import BaseValidationError, ClassValidationError, IterableValidationError

__all__ = ["WireError", "explain", "json_type"]

_JSON_TYPES = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


class WireError(ValueError):
    """A value has the wrong shape; ``path`` is relative to the object being decoded."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(message)


def json_type(value: object) -> str:
    """The JSON kind of ``value`` in words ("a string", "an object", "null")."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def explain(exc: BaseException, *, rename: Callable[[str], str]) -> tuple[str, str]:
    """The path and the reason of the first problem in a cattrs structuring error.

    Args:
        exc: What cattrs raised (its validation groups are walked down to the first leaf).
        rename: Maps an attribute name to its name on the wire (``first_name`` → ``firstName``).
    """
    parts: list[str] = []
    while isinstance(exc, BaseValidationError):
        if isinstance(exc, ClassValidationError):
            with_notes, others = exc.group_exceptions()
            if with_notes:
                exc, note = with_notes[0]
                parts.append("." + rename(note.name))
                continue
            exc = others[0]
        elif isinstance(exc, IterableValidationError):
            with_index, others = exc.group_exceptions()
            if with_index:
                exc, index_note = with_index[0]
                parts.append(f"[{index_note.index}]")
                continue
            exc = others[0]
        else:
            exc = exc.exceptions[0]
    path = "".join(parts).lstrip(".")
    if isinstance(exc, WireError):
        return ".".join(part for part in (path, exc.path) if part), str(exc)
    if isinstance(exc, KeyError):
        return path, "missing"
    return path, f"unexpected value ({type(exc).__name__})"
