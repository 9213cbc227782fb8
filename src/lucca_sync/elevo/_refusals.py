"""What Elevo would refuse in a file, and settling a batch until it refuses nothing.

Elevo rejects a row with an invalid value, an e-mail, username or registration number that
another user has (compared trimmed, case-insensitively, composed alike), an identifier used
twice, or a manager that is not a row of the file. :class:`FileCheck` finds those rows for a
:class:`~lucca_sync.elevo._batch.Batch`; :meth:`FileCheck.settle` refuses them one round at a
time (a refused manager can invalidate their reports) until every row left is valid.

Rows the batch did not touch passed these checks when they were published, but for the users
the last commit *held* (written as ``skip`` rows, recorded in the state): a batch that touches
a few users of a large snapshot checks those users, the held ones, and the ones that share a
value, an identifier or a manager link with them, found through an index of the published
snapshot built once. A state that does not record who was held (written before format 3, or
rebuilt) has every row checked.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping

import attrs

from lucca_sync.elevo._batch import Batch
from lucca_sync.elevo._csv import MANAGER, check_record, row_order
from lucca_sync.elevo._rows import identifier, writes_row, writes_skip
from lucca_sync.elevo._state import Entry

__all__ = ["FileCheck", "Refusals", "fold"]

#: Columns Elevo needs unique across its users (compared as :func:`fold` does).
UNIQUE = ("email", "username", "registration_number")
#: Past this share of the snapshot touched, checking everyone is cheaper than the index.
_WHOLE_FILE_SHARE = 0.25


def fold(value: str | None) -> str:
    """``value`` as Elevo compares it: trimmed, case-insensitive, and composed alike (NFC).

    ``"Zoé@x"`` typed with a combining accent and ``"ZOÉ@X"`` typed with a precomposed one
    are the same address: both fold to one text, so they count as duplicates.
    """
    text = (value or "").strip()
    if text.isascii():
        return text.lower()  # the usual case; the same result, without normalising
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


@attrs.define
class Refusals:
    """The outcome of :meth:`FileCheck.settle`."""

    #: Refused records, ``{key: reason}``.
    reasons: dict[str, str] = attrs.Factory(dict)
    #: Published users written as ``skip`` rows because their change was refused.
    held: set[str] = attrs.Factory(set)


class _Index:
    """Who holds what in the published snapshot: unique values, identifiers, reports."""

    def __init__(self, published: Mapping[str, Entry]) -> None:
        self.values: dict[str, dict[str, list[str]]] = {column: {} for column in UNIQUE}
        self.identifiers: dict[str, list[str]] = {}
        self.reports: dict[str, list[str]] = {}
        for key, entry in published.items():
            fields = entry.fields
            for column in UNIQUE:
                value = fold(fields.get(column))
                if value:
                    self.values[column].setdefault(value, []).append(key)
            self.identifiers.setdefault(identifier(key, entry), []).append(key)
            manager = fields.get(MANAGER)
            if manager:
                self.reports.setdefault(manager, []).append(key)

    def linked(self, batch: Batch, dirty: Collection[str]) -> set[str]:
        """``dirty`` and every user whose check may change with them."""
        found = set(dirty)
        for key in dirty:
            for entry in (batch.published.get(key), batch.peek(key)):
                if entry is None:
                    continue
                for column in UNIQUE:
                    value = fold(entry.fields.get(column))
                    if value:
                        found.update(self.values[column].get(value, ()))
                found.update(self.identifiers.get(identifier(key, entry), ()))
            found.update(self.reports.get(key, ()))
        return found


class FileCheck:
    """The checks of the file a batch over ``published`` would write.

    Args:
        published: The last published snapshot (its index is built at the first use).
        held: The users the last commit wrote as ``skip`` rows because their change was
            refused (checked again); ``None``: not known, every row is checked.
    """

    def __init__(
        self, published: Mapping[str, Entry], held: Collection[str] | None = frozenset()
    ) -> None:
        self.published = published
        self.held = held
        self._index: _Index | None = None

    def _keys(self, batch: Batch, dirty: Collection[str]) -> list[str]:
        if self.held is None or len(dirty) > _WHOLE_FILE_SHARE * len(self.published):
            keys = [key for key, _ in batch.items()]
        else:
            if self._index is None:
                self._index = _Index(self.published)
            keys = [key for key in self._index.linked(batch, dirty) if key in batch]
        return sorted(keys, key=row_order)

    def check(self, batch: Batch, held: Collection[str] = ()) -> dict[str, str]:
        """The records Elevo would refuse in the file of ``batch``, ``{key: reason}``.

        ``held`` users are written as ``skip`` rows. Once, without taking a refused manager's
        reports along (see :meth:`settle`).
        """
        dirty = batch.touched | set(held) | set(self.held or ())
        if not dirty and self.held is not None:
            return {}
        return _check(batch, self._keys(batch, dirty), held)

    def settle(self, batch: Batch) -> Refusals:
        """Refuse the records Elevo would reject, until every remaining row is valid.

        A refused record goes back to its published entry (under its published key); when
        that entry was an active row it is *held*: written as a ``skip`` row, so that Elevo
        keeps the user as is. Refusing a manager can invalidate their reports, hence the rounds.
        """
        result = Refusals()
        while True:
            refused = self.check(batch, result.held)
            if not refused:
                return result
            for key, reason in refused.items():
                result.reasons[key] = reason
                origin = batch.revert(key)
                if origin is not None and writes_row(self.published[origin]):
                    result.held.add(origin)


def _check(batch: Batch, keys: list[str], held: Collection[str]) -> dict[str, str]:
    """The refusals among ``keys``: every user whose row's validity can have changed."""
    working = {key: entry for key in keys if (entry := batch.peek(key)) is not None}
    full = {key: entry for key, entry in working.items() if writes_row(entry) and key not in held}

    def is_target(key: str) -> bool:
        if key in held:
            return key in batch
        entry = batch.peek(key)
        return entry is not None and (writes_row(entry) or writes_skip(entry))

    refused: dict[str, str] = {}
    for key, entry in full.items():
        reason = check_record(key, entry.fields)
        if reason is not None:
            refused[key] = reason
    for column in UNIQUE:
        # Users Elevo holds without a full row still own their e-mail and username there.
        owners = {
            folded: key
            for key, entry in working.items()
            if key not in full and (folded := fold(entry.fields.get(column)))
        }
        groups: dict[str, list[str]] = {}
        for key, entry in full.items():
            value = fold(entry.fields.get(column))
            if value:
                groups.setdefault(value, []).append(key)
        for value, group in groups.items():
            if value in owners:
                for key in group:
                    refused.setdefault(
                        key,
                        f"{column} is already used by Elevo user {owners[value]} "
                        "(compared case-insensitively)",
                    )
                continue
            if len(group) == 1:
                continue
            # The user that already had this value in Elevo keeps it; the newcomers are refused.
            keepers = [key for key in group if _published_with(batch, key, column, value)]
            keep = keepers[0] if len(keepers) == 1 else None
            for key in group:
                if key != keep:
                    other = next(k for k in group if k != key)
                    refused.setdefault(
                        key,
                        f"{column} is also used by user {other} (Elevo needs it unique, "
                        "compared case-insensitively)",
                    )
    by_identifier: dict[str, list[str]] = {}
    for key, entry in working.items():
        if key in full or is_target(key):
            by_identifier.setdefault(identifier(key, entry), []).append(key)
    for name, group in by_identifier.items():
        if len(group) < 2:
            continue
        # An adopted user kept its identifier; a newcomer whose Lucca id is that identifier
        # would merge into them (or make Elevo cancel the file): the newcomer is refused.
        for key in group:
            if key in full and not _published_as(batch, key, name):
                other = next(k for k in group if k != key)
                refused.setdefault(
                    key,
                    f"uniq_identifier {name} is already the identifier of Elevo user "
                    f"{other} (kept when it was adopted)",
                )
    for key, entry in full.items():
        manager = entry.fields.get(MANAGER)
        if manager and key not in refused and not is_target(manager):
            refused[key] = (
                f"manager_uniq_identifier {manager} is not a row of the file "
                "(manager not synced, refused or suspended)"
            )
    return refused


def _published_as(batch: Batch, key: str, name: str) -> bool:
    """Whether ``key``'s user was published under the identifier ``name``."""
    origin = batch.origin(key)
    before = None if origin is None else batch.published.get(origin)
    return before is not None and identifier(origin or "", before) == name


def _published_with(batch: Batch, key: str, column: str, value: str) -> bool:
    """Whether ``key``'s user was a row of the published file with ``value`` in ``column``."""
    origin = batch.origin(key)
    before = None if origin is None else batch.published.get(origin)
    return before is not None and writes_row(before) and fold(before.fields.get(column)) == value
