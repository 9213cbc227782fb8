"""What the safety limits measure in a plan beyond its counts: field changes and empty fields.

The planner hands its records and actions here once they are decided; :class:`Safety` turns
the numbers into violations. Nothing here reads Lucca or the sink.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attrs

from lucca_sync._engine._plan_model import Update
from lucca_sync.mapping import FieldMapping
from lucca_sync.mapping._sources import Constant, Source, attribute_path

__all__ = ["EmptyFields", "FieldChanges", "empty_fields", "field_changes"]


def _has_text(value: str | None) -> bool:
    return value is not None and bool(value.strip())


@attrs.frozen
class FieldChanges:
    """Per target field, the managed users whose value a plan overwrites.

    Args:
        changed: Field -> users whose non-empty value is changed or cleared (filling an empty
            value is not counted: it loses nothing).
        cleared: Field -> of those, the users whose value is cleared.
    """

    changed: Mapping[str, int]
    cleared: Mapping[str, int]


def field_changes(updates: Iterable[Update]) -> FieldChanges:
    """Count the overwritten values of plain updates (adoptions take over unmanaged users)."""
    changed: dict[str, int] = {}
    cleared: dict[str, int] = {}
    for update in updates:
        if update.new_key is not None:
            continue
        for change in update.changes:
            if _has_text(change.before):
                changed[change.field] = changed.get(change.field, 0) + 1
                if not _has_text(change.after):
                    cleared[change.field] = cleared.get(change.field, 0) + 1
    return FieldChanges(changed, cleared)


@attrs.frozen
class EmptyFields:
    """Mapped fields for which no employee read has a value.

    Args:
        clearing: Field -> (its source, users whose value the plan clears): a violation.
        suspicious: Fields not read from a typed attribute of the employee (custom fields,
            raw JSON paths, functions: where typos live) that clear nothing yet: a warning each.
    """

    clearing: Mapping[str, tuple[str, int]]
    suspicious: Mapping[str, str]


def empty_fields(
    records: Collection[Mapping[str, str | None]],
    mapping: object,
    changes: FieldChanges,
    *,
    fixed: Collection[str | None],
) -> EmptyFields:
    """The mapped fields with no value in any of ``records`` (the kept employees of a full read).

    Args:
        records: The mapped record of every kept employee.
        mapping: The plan's mapping; a :class:`FieldMapping` names each field's source.
        changes: The plan's field changes (for the values it would clear).
        fixed: Keys that are not mapped from a source (the key and manager fields).
    """
    if not records:
        return EmptyFields({}, {})
    sources: dict[str, Source | None]
    if isinstance(mapping, FieldMapping):
        sources = {key: field.source for key, field in mapping.fields.items() if key not in fixed}
    else:
        sources = dict.fromkeys(key for key in next(iter(records)) if key not in fixed)
    clearing: dict[str, tuple[str, int]] = {}
    suspicious: dict[str, str] = {}
    for key, source in sources.items():
        if any(_has_text(record.get(key)) for record in records):
            continue
        described = "of the mapping" if source is None else str(source)
        # One value cleared is a person's field emptied in Lucca; more is not a coincidence.
        if changes.cleared.get(key, 0) >= 2:
            clearing[key] = (described, changes.cleared[key])
        elif source is not None and not isinstance(source, Constant) and not attribute_path(source):
            suspicious[key] = described
    return EmptyFields(clearing, suspicious)
