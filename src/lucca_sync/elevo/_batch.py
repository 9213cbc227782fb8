"""One run's changes to the published snapshot: a copy-on-write working copy.

A :class:`Batch` reads unchanged users from the published snapshot as they are and keeps only
the users an action touched: a run that changes ten users of 100,000 copies ten. The actions
are those of the ``Sink`` protocol (create, update, suspend, reactivate, exclude), with the
checks the sink promises for each; ``ElevoSink`` runs them for :func:`lucca_sync.apply` and
replays a plan on a throw-away batch to check it (``check_plan``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

from lucca_sync.elevo._csv import KEY, accepts_field
from lucca_sync.elevo._rows import identifier
from lucca_sync.elevo._state import Entry
from lucca_sync.exceptions import SinkError

__all__ = ["Batch"]


class Batch:
    """The published snapshot plus the changes of one run.

    Every entry read through the batch knows its ``origin``, the key it had in the published
    snapshot (``None`` for a new user), so that a refused change can go back to it.

    Args:
        published: The last published snapshot; never modified.
    """

    def __init__(self, published: Mapping[str, Entry]) -> None:
        self.published = published
        # key -> its entry now; None: a published key that left (adopted under another key).
        self._changes: dict[str, Entry | None] = {}
        #: Identifiers suspended by this batch: the only ones the next file may leave out.
        self.suspended: set[str] = set()

    @property
    def changed(self) -> bool:
        """Whether any action changed a user (a batch that did not is a no-op run)."""
        return bool(self._changes)

    @property
    def touched(self) -> set[str]:
        """The keys an action added, changed or removed."""
        return set(self._changes)

    def get(self, key: str) -> Entry | None:
        """The entry of ``key`` now, with its ``origin``, or ``None``."""
        if key in self._changes:
            return self._changes[key]
        entry = self.published.get(key)
        return None if entry is None else attrs.evolve(entry, origin=key)

    def peek(self, key: str) -> Entry | None:
        """The entry of ``key`` now, or ``None``; its ``origin`` is :meth:`origin`'s."""
        if key in self._changes:
            return self._changes[key]
        return self.published.get(key)

    def origin(self, key: str) -> str | None:
        """The published key of ``key``'s user (``None``: a new user, or no such key)."""
        if key in self._changes:
            now = self._changes[key]
            return None if now is None else now.origin
        return key if key in self.published else None

    def __contains__(self, key: str) -> bool:
        if key in self._changes:
            return self._changes[key] is not None
        return key in self.published

    def items(self) -> Iterator[tuple[str, Entry]]:
        """Every entry now: the published ones in their order, then the new ones."""
        changes = self._changes
        for key, entry in self.published.items():
            if key not in changes:
                yield key, entry
            else:
                now = changes[key]
                if now is not None:
                    yield key, now
        for key, now in changes.items():
            if now is not None and key not in self.published:
                yield key, now

    def put(self, key: str, entry: Entry) -> None:
        """Set the entry of ``key``."""
        self._changes[key] = entry

    def remove(self, key: str) -> None:
        """Remove ``key`` (a published key is remembered as gone)."""
        if key in self.published:
            self._changes[key] = None
        else:
            self._changes.pop(key, None)

    def revert(self, key: str) -> str | None:
        """Undo every change to ``key``'s user: it goes back to its published entry.

        Returns:
            The published key of the user, if it was published and is back under it.
        """
        entry = self.get(key)
        origin = None if entry is None else entry.origin
        self.remove(key)
        if origin is None or origin not in self.published or origin in self:
            return None
        self._changes.pop(origin, None)
        return origin

    def after(self) -> dict[str, Entry]:
        """The snapshot this batch would publish (entries without ``origin``)."""
        result = dict(self.published)
        for key, now in self._changes.items():
            if now is None:
                del result[key]
            else:
                result[key] = attrs.evolve(now, origin=None) if now.origin is not None else now
        return result

    def differs(self) -> bool:
        """Whether the batch's entries differ from the published ones (``origin`` aside)."""
        return any(now != self.published.get(key) for key, now in self._changes.items())

    # -- the Sink actions ----------------------------------------------------------------------

    def _get(self, key: str) -> Entry:
        entry = self.get(key)
        if entry is None:
            raise SinkError(
                f"Elevo user {key} is not in the last published snapshot; re-plan against the "
                "current state",
                key=key,
            )
        return entry

    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        """Add ``key`` as an active, managed user (a row in the next file)."""
        previous = self.get(key)
        self.put(
            key,
            Entry(
                key,
                fields=_fields(key, {}, fields),
                origin=None if previous is None else previous.origin,
            ),
        )

    def update(
        self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
    ) -> None:
        """Change fields of ``key``; with ``new_key``, adopt the user under that key."""
        if new_key is not None and key not in self and new_key in self:
            key, new_key = new_key, None  # the adoption was already applied: idempotent
        entry = self._get(key)
        target = key if new_key is None else new_key
        if target != key and target in self:
            raise SinkError(
                f"cannot adopt Elevo user {key} as {target}: that key is already used",
                key=key,
            )
        fields = _fields(target, entry.fields, changes)
        self.remove(key)
        self.put(
            target,
            Entry(
                target,
                fields=fields,
                suspended=entry.suspended,
                managed=True,
                origin=entry.origin,
            ),
        )

    def suspend(self, key: str) -> None:
        """Leave ``key`` out of the next file."""
        entry = self._get(key)
        if not entry.managed:
            raise SinkError(f"Elevo user {key} is not managed by the sync", key=key)
        self.put(key, attrs.evolve(entry, suspended=True, excluded=False))
        self.suspended.add(identifier(key, entry))

    def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
        """Put ``key`` back in the next file with ``changes``."""
        entry = self._get(key)
        self.put(key, Entry(key, fields=_fields(key, entry.fields, changes), origin=entry.origin))

    def exclude(self, key: str) -> None:
        """Write ``key`` as a ``skip`` row (unmanaged users are protected already)."""
        entry = self._get(key)
        if entry.managed:
            self.put(key, attrs.evolve(entry, excluded=True))


def _fields(
    key: str, base: Mapping[str, str | None], changes: Mapping[str, str | None]
) -> dict[str, str | None]:
    for name, value in changes.items():
        if not accepts_field(name):
            raise SinkError(
                f"field {name!r} of user {key} is not a column of Elevo's users file", key=key
            )
        if value is not None and not isinstance(value, str):
            raise SinkError(f"field {name!r} of user {key} is not text", key=key)
    if changes.get(KEY, key) != key:
        raise SinkError(f"user {key}: the uniq_identifier field differs from the key", key=key)
    # An adopted user's own identifier stays: Elevo would take another one for a new user.
    return {**base, **changes, KEY: base.get(KEY) or key}
