"""Reading values out of an `Employee` for the exclusion rules.

Three small jobs: following a dotted path into the typed attributes or the raw Lucca JSON,
removing Lucca's ``{id, value}`` wrappers, and reading a check box whatever its wire shape.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import attrs

from lucca_sync._employee import Employee, Ref

__all__ = ["MISSING", "Missing", "comparable", "lookup", "read_flag", "resolve_path", "unwrap"]


class Missing(enum.Enum):
    """The type of `MISSING`: a path or key that leads nowhere (distinct from JSON ``null``)."""

    MISSING = enum.auto()


MISSING: Final = Missing.MISSING

_EMPLOYEE_FIELDS = frozenset(field.name for field in attrs.fields(Employee))
_FLAG_SET = frozenset({"true", "1", "yes", "oui"})
_FLAG_UNSET = frozenset({"false", "0", "no", "non", ""})


def unwrap(value: object) -> object:
    """Remove Lucca's ``{id, value}`` wrappers, repeatedly (composites keep their sub-map)."""
    while isinstance(value, Mapping) and "value" in value:
        value = value["value"]
    return value


def lookup(mapping: Mapping[Any, object], key: str) -> object:
    """``mapping[key]``, else the first key equal to it case-insensitively, else `MISSING`.

    Lucca spells some keys two ways (``managerId`` / ``managerID``), hence the fallback.
    """
    if key in mapping:
        return mapping[key]
    if not mapping:
        return MISSING
    found = _folded_keys(tuple(mapping)).get(key.casefold(), MISSING)
    return MISSING if found is MISSING else mapping[found]


@functools.lru_cache(maxsize=64)
def _folded_keys(keys: tuple[object, ...]) -> dict[str, object]:
    """Case-folded key -> the first of ``keys`` that folds to it.

    Cached by the keys themselves: a directory's users mostly share one set of custom-field
    codes, so a look-up that misses costs a hash of the keys instead of folding every one of
    them (for every employee, when the skip flag's box is not among them).
    """
    index: dict[str, object] = {}
    for candidate in keys:
        if isinstance(candidate, str):
            index.setdefault(candidate.casefold(), candidate)
    return index


def _step(current: object, segment: str) -> object:
    if isinstance(current, Mapping):
        found = lookup(current, segment)
        if found is MISSING and "value" in current:
            # ``extendedData.e_x.e_sub``: step through the wrapper of a composite value.
            inner = unwrap(current)
            return _step(inner, segment) if inner is not current else MISSING
        return found
    if isinstance(current, list | tuple):
        if segment.isdigit() and int(segment) < len(current):
            return current[int(segment)]
        return MISSING
    if isinstance(current, Ref) and segment in {"id", "name"}:
        return getattr(current, segment)
    return MISSING


def resolve_path(employee: Employee, path: str) -> object:
    """The value at ``path``, `MISSING` when the path leads nowhere.

    The first segment names an `Employee` attribute when it is one (``department.name``,
    ``extended_data.e_x``), otherwise a key of the raw Lucca JSON (``legalEntity.name``,
    ``extendedData.e_contract_type``). The result is unwrapped from ``{id, value}``.
    """
    head, *rest = path.split(".")
    current: object
    if head in _EMPLOYEE_FIELDS:
        current = getattr(employee, head)
    else:
        current, rest = employee.raw, [head, *rest]
    for segment in rest:
        current = _step(current, segment)
        if current is MISSING:
            return MISSING
    return unwrap(current)


def comparable(value: object) -> object:
    """A normal form so that configured values match Lucca's spellings.

    Strings are trimmed and case-folded, numbers and booleans become their JSON text (so
    ``84`` matches ``"84"`` and ``True`` matches ``"true"``), dates their ISO form.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_flag(value: object) -> bool | None:
    """Read a check box: True when ticked, False when not, None when the value is unreadable.

    Ticked: ``true``, ``1``, or a string that is ``true``/``1``/``yes``/``oui`` after trimming,
    in any case. Not ticked: `MISSING`, ``null``, ``false``, ``0``, ``"false"``, ``"0"``,
    ``"no"``, ``"non"``, ``""``. Both after removing ``{id, value}`` wrappers.
    """
    if value is MISSING or value is None:  # the usual case: no box, or an empty one
        return False
    value = unwrap(value)
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value == 1:
            return True
        if value == 0:
            return False
        return None
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _FLAG_SET:
            return True
        if text in _FLAG_UNSET:
            return False
    return None
