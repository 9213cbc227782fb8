"""Elevo's constraints on a user record, checked before anything is written.

A row Elevo would reject is skipped by Elevo and flagged "sync error" there; checking here
turns it into a MappingError the plan reports, naming the employee and the field. Messages say
what is expected and never repeat the value (it is HR data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = ["check_record", "check_value", "date_check", "value_check"]

# Pragmatic address syntax: one "@", no whitespace, a dot in the domain, no dot at either end.
# Possessive (no run can end earlier and still match: the next character is one its class
# excludes), so a mismatch is found without backtracking; checked for every employee.
_EMAIL = re.compile(r"[^@\s]++@[^@\s.]++(?:\.[^@\s.]++)+")
_USERNAME = re.compile(r"[A-Za-z0-9._-]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_GENDERS = frozenset({"m", "f", "other", "male", "female"})


def _email(value: str) -> str | None:
    if len(value) > 254 or not _EMAIL.fullmatch(value) or value.startswith("."):
        return "is not a valid e-mail address"
    return None


def _username(value: str) -> str | None:
    if not _USERNAME.fullmatch(value):
        return "may only contain letters A-Z, digits, '.', '-' and '_'"
    return None


def _iso_date(value: str) -> str | None:
    try:
        if _ISO_DATE.fullmatch(value):
            date.fromisoformat(value)
            return None
    except ValueError:
        pass
    return "is not a date written YYYY-MM-DD"


def _ratio(value: str) -> str | None:
    try:
        if _NUMBER.fullmatch(value) and 0 <= Decimal(value) <= 100:
            return None
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        pass
    return "must be a number from 0 to 100"


def _gender(value: str) -> str | None:
    if value.lower() not in _GENDERS:
        return "must be one of m, f, other (or male, female)"
    return None


_CHECKS = {
    "email": _email,
    "username": _username,
    "work_start_date": _iso_date,
    "working_time_ratio": _ratio,
    "gender": _gender,
}


def value_check(key: str) -> Callable[[str], str | None] | None:
    """The check of target ``key`` (None when unchecked): what is wrong with a value."""
    return _CHECKS.get(key)


def date_check(key: str) -> Callable[[str], str | None] | None:
    """The check of target ``key`` for a date written ``YYYY-MM-DD``: None when unchecked or
    when every such date is acceptable (the date keys)."""
    check = _CHECKS.get(key)
    return None if check is _iso_date else check


def check_value(key: str, value: str) -> str | None:
    """What is wrong with ``value`` for target ``key`` (None when acceptable or unchecked)."""
    check = _CHECKS.get(key)
    return None if check is None else check(value)


def check_record(record: Mapping[str, str | None], targets: Collection[str]) -> str | None:
    """What is wrong with the record as a whole: Elevo needs an e-mail or a username.

    Only checked when the mapping targets ``email`` or ``username``. Returns the field to blame
    and nothing else: ``"email"`` (or ``"username"`` when only that is targeted).
    """
    blamed = None
    for key in ("email", "username"):
        if key in targets:
            if record.get(key) is not None:
                return None
            blamed = blamed or key
    return blamed
