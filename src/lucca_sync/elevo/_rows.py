"""Which users a file names, and how: full rows, ``skip`` rows, and their identifiers.

Elevo suspends every user the file leaves out, so these few predicates decide who Elevo keeps:
a managed, active, in-scope user is a full row; an excluded user, or an unmanaged user Elevo
knows by identifier, is a ``skip`` row; a suspended user is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lucca_sync.elevo._csv import KEY, MANAGER, FileRow
from lucca_sync.elevo._state import Entry

__all__ = ["identifier", "in_file", "rows", "writes_row", "writes_skip"]


def writes_row(entry: Entry) -> bool:
    """A managed user in scope and active: a full row."""
    return entry.managed and not entry.excluded and not entry.suspended


def writes_skip(entry: Entry) -> bool:
    """Users Elevo must leave as they are: excluded ones, and unmanaged ones it knows by key."""
    if entry.managed:
        return entry.excluded
    return bool(entry.fields.get(KEY))


def identifier(key: str, entry: Entry) -> str:
    """The ``uniq_identifier`` Elevo knows the user by: the key, unless adoption kept another."""
    return entry.fields.get(KEY) or key


def in_file(entries: Mapping[str, Entry]) -> set[str]:
    """The identifiers a file written from ``entries`` names (rows and ``skip`` rows)."""
    return {
        identifier(key, entry)
        for key, entry in entries.items()
        if writes_row(entry) or writes_skip(entry)
    }


def rows(working: Iterable[tuple[str, Entry]], held: set[str]) -> list[FileRow]:
    """The file's rows: full rows under each user's identifier, ``skip`` rows for the others.

    ``held`` users are written as ``skip`` rows whatever their entry (see ``_refusals.py``).
    """
    entries = dict(working)
    result = []
    for key, entry in entries.items():
        if key in held or writes_skip(entry):
            result.append(FileRow(identifier(key, entry), skip=True))
        elif writes_row(entry):
            fields = entry.fields
            manager = fields.get(MANAGER)
            boss = entries.get(manager) if manager else None
            if manager and boss is not None and identifier(manager, boss) != manager:
                # Managers are referred to by key; the file names them by identifier.
                fields = {**fields, MANAGER: identifier(manager, boss)}
            result.append(FileRow(identifier(key, entry), fields))
    return result
