"""The typed view of one Lucca employee, whichever Lucca API it was read from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import Literal

import attrs

__all__ = ["Employee", "Ref", "Status", "custom_fields_read", "reads_raw", "slim_raw"]

Status = Literal["active", "upcoming", "former"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


def _frozen_mapping(value: Mapping[str, object]) -> Mapping[str, object]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@attrs.frozen
class Ref:
    """A reference to a Lucca object embedded in an employee: a department or an establishment."""

    id: int
    name: str


@attrs.frozen
class Employee:
    """One employee of the Lucca directory, as lucca_sync reads it.

    Instances are immutable. ``extended_data`` holds the HR-folder custom fields (``e_*`` codes)
    with Lucca's ``{id, value}`` wrappers removed; ``raw`` is the user's JSON exactly as received,
    for custom rules and mappings (only its ``extendedData`` when read with
    ``list_employees(keep_raw=False)``). Neither takes part in hashing, and ``raw`` takes no part
    in equality either, so the same person read through two Lucca APIs compares equal.

    The repr shows only the id: employees carry personal data, and reprs end up in logs.
    """

    id: int
    first_name: str
    last_name: str
    email: str | None = None
    login: str | None = None
    employee_number: str | None = None
    job_title: str | None = None
    manager_id: int | None = None
    department: Ref | None = None
    legal_entity: Ref | None = None
    contract_start: date | None = None
    contract_end: date | None = None
    modified_at: datetime | None = None
    extended_data: Mapping[str, object] = attrs.field(
        default=_EMPTY, converter=_frozen_mapping, hash=False
    )
    raw: Mapping[str, object] = attrs.field(
        default=_EMPTY, converter=_frozen_mapping, eq=False, hash=False
    )

    def __repr__(self) -> str:
        return f"Employee(id={self.id!r})"

    def status(self, today: date) -> Status:
        """Classify the employee on ``today`` (a date in the tenant's time zone).

        ``"former"`` when the contract ended before ``today``, ``"upcoming"`` when it starts after
        ``today``, ``"active"`` otherwise (including employees with no contract dates).
        """
        if self.contract_end is not None and self.contract_end < today:
            return "former"
        if self.contract_start is not None and self.contract_start > today:
            return "upcoming"
        return "active"


#: The key of a user's JSON that ``Employee.raw`` keeps when a read keeps no raw JSON: the
#: skip flag tells a check box sent empty (``null``) from one not sent at all by it.
RAW_KEPT = "extendedData"
_FIELDS = frozenset(field.name for field in attrs.fields(Employee))


def slim_raw(item: Mapping[str, object]) -> Mapping[str, object]:
    """What ``Employee.raw`` holds for a read that keeps no raw JSON: ``extendedData`` alone.

    The rest of the decoded JSON is most of an employee's memory (about 2 KB in memory for
    470 bytes received, see docs/performance.md).
    """
    kept = item.get(RAW_KEPT)
    return MappingProxyType({RAW_KEPT: kept}) if kept else _EMPTY


def reads_raw(path: Sequence[str]) -> bool:
    """Whether reading a dotted path of an employee (``job_title``, ``legalEntity.name``,
    ``raw.gender``) needs more of ``Employee.raw`` than `slim_raw` keeps."""
    head = path[0]
    if head == "raw":
        path = path[1:]
    elif head in _FIELDS:
        return False
    # A key inside extendedData reads the same either way; extendedData itself may not
    # (an empty one is not kept).
    return len(path) < 2 or path[0] != RAW_KEPT


def custom_fields_read(path: Sequence[str]) -> frozenset[str] | None:
    """The custom-field codes that reading a dotted path of an employee needs
    (``extended_data.e_site`` and ``extendedData.e_site`` need ``e_site``; ``job_title`` and
    ``legalEntity.name`` none); ``None`` when it may read any (``extended_data``, ``raw``)."""
    head = path[0]
    if head == "extended_data":
        return frozenset(path[1:2]) or None
    if head in _FIELDS and head != "raw":
        return frozenset()
    rest = path[1:] if head == "raw" else path
    if not rest:
        return None  # the whole JSON, extendedData included
    # Rules look keys up case-insensitively; any other key of the JSON is no custom field.
    if rest[0].casefold() != RAW_KEPT.casefold():
        return frozenset()
    return frozenset(rest[1:2]) or None
