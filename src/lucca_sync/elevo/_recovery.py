"""When the sink's memory cannot be trusted: the error that stops the run, and the rebuild.

Elevo cannot be read back, so the state folder is the sink's only knowledge of who Elevo holds.
A sink that lost it and carried on would believe Elevo empty, and its next file would leave out
everyone the state protected — which Elevo turns into suspensions. So a missing, unreadable or
mismatched state is never papered over while there is evidence of an earlier publication: the
run stops with :class:`StateRecoveryError`, whose message names the way back:

* **from the published file** (the users file still in the drop folder or on the SFTP server,
  or a copy of it): its full rows become managed users when their identifier is a Lucca id, and
  unmanaged users (adopted again with ``match_by``) otherwise; its ``skip`` rows become
  unmanaged users, so they stay ``skip`` rows;
* **from an export of Elevo's directory**: every user becomes unmanaged, as on a first run with
  ``adopt_from``; plan with ``match_by`` to take the managed ones back by identifier or e-mail.

Either way nobody leaves the next file without a ``Suspend`` in its plan.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from lucca_sync.elevo._csv import KEY, SKIP, accepts_field, read_export
from lucca_sync.elevo._delivery import Delivery, DirectoryDelivery, ReadableDelivery
from lucca_sync.elevo._state import Entry, Snapshot, StateStore, now_iso
from lucca_sync.exceptions import SinkError

__all__ = [
    "StateRecoveryError",
    "entries_from_file",
    "how_to_rebuild",
    "location",
    "read_memory",
    "rebuild",
    "seed",
]

_log = logging.getLogger("lucca_sync.elevo")
_PORT = re.compile(r"(?<=^sftp://)([^/]*?):\d+(?=/)")

_SKIP_VALUES = frozenset({"true", "yes", "oui"})


class StateRecoveryError(SinkError):
    """The sink's state is missing, unreadable or does not match what was published.

    Nothing was planned or published. The message says what was found and how to rebuild the
    state (:meth:`lucca_sync.elevo.ElevoSink.rebuild_state`, ``lucca-sync rebuild-state``).
    """


def how_to_rebuild(state_dir: Path, *, published: bool) -> str:
    """The recovery sentence of a :class:`StateRecoveryError`, in Python and CLI terms."""
    options = []
    if published:
        options.append(
            "from the published users file: sink.rebuild_state() in Python, "
            "lucca-sync rebuild-state --config FILE on the command line"
        )
    options.append(
        "from a copy of the last published file: sink.rebuild_state(from_file=PATH), "
        "lucca-sync rebuild-state --config FILE --from-file PATH"
    )
    options.append(
        "from an export of Elevo's directory: sink.rebuild_state(from_export=PATH), "
        "lucca-sync rebuild-state --config FILE --from-export PATH (then plan with match_by)"
    )
    return (
        f"Restore {state_dir} from a backup if you have one; otherwise rebuild it "
        + "; or ".join(options)
    )


def entries_from_file(data: bytes, *, where: str) -> dict[str, Entry]:
    """The state a published users file implies (see the module's docstring).

    Raises:
        SinkError: The file is not an Elevo users file (no ``uniq_identifier`` column, not
            UTF-8 CSV, an identifier twice).
    """
    try:
        text = data.decode("utf-8-sig")
        records = list(csv.DictReader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SinkError(f"{where} is not a readable Elevo users file ({exc})") from exc
    if not records and KEY not in text.split("\n", 1)[0]:
        raise SinkError(f"{where} has no {KEY} column: not an Elevo users file")
    entries: dict[str, Entry] = {}
    for line, record in enumerate(records, start=2):
        key = (record.get(KEY) or "").strip()
        if not key:
            raise SinkError(f"{where}:{line}: a row without {KEY}: not a file lucca_sync wrote")
        if key in entries:
            raise SinkError(f"{where}:{line}: {KEY} {key} appears twice")
        if (record.get(SKIP) or "").strip().casefold() in _SKIP_VALUES:
            entries[key] = Entry(key, fields={KEY: key}, managed=False)
            continue
        fields: Mapping[str, str | None] = {
            name: value or None
            for name, value in record.items()
            if name is not None and accepts_field(name)
        }
        # A Lucca id was written by the sync for a user it manages; any other identifier is a
        # user adopted with its own identifier: unmanaged until adopted again (match_by).
        managed = key.isascii() and key.isdigit()
        entries[key] = Entry(key, fields={**fields, KEY: key}, managed=managed)
    return entries


def read_copy(path: Path) -> bytes:
    """The bytes of a copy of a published file.

    Raises:
        SinkError: It cannot be read.
    """
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SinkError(f"cannot read {path} ({exc.strerror})") from exc


def location(delivery: Delivery, filename: str) -> str | None:
    """Where ``delivery`` puts the users file, when it can say."""
    if isinstance(delivery, ReadableDelivery):
        return delivery.location(filename)
    return None


def _read_published(delivery: Delivery, filename: str) -> bytes | None:
    """The users file at the target, when the delivery can read it back."""
    if isinstance(delivery, ReadableDelivery):
        return delivery.read_published(filename)
    return None


def _same(recorded: str, current: str) -> bool:
    """Whether two locations are the same target (an SFTP server may change its port)."""
    return _PORT.sub(r"\1", recorded) == _PORT.sub(r"\1", current)


def read_memory(store: StateStore, delivery: Delivery, filename: str) -> Snapshot | None:
    """The published snapshot, if it can be trusted; ``None`` when nothing was published.

    Raises:
        StateRecoveryError: The state is unreadable, recorded for another target, missing
            while the target holds a users file, or (a drop folder) the file there is not the
            last one it recorded.
    """
    folder = store.folder
    try:
        snapshot = store.load()
    except SinkError as exc:
        raise StateRecoveryError(
            f"{exc}; nothing was planned or published. "
            + how_to_rebuild(folder, published=isinstance(delivery, ReadableDelivery))
        ) from exc
    where = location(delivery, filename)
    if snapshot is None:
        if _read_published(delivery, filename) is not None:
            raise StateRecoveryError(
                f"there is no Elevo state in {folder}, but {where} holds a users file "
                "published earlier: the state was lost, moved or never kept there (did "
                "state_dir or the drop folder change?). The sink will not assume that Elevo "
                "is empty; nothing was planned or published. "
                + how_to_rebuild(folder, published=True)
            )
        return None
    if snapshot.target is not None and where is not None and not _same(snapshot.target, where):
        raise StateRecoveryError(
            f"the Elevo state in {folder} records publications to {snapshot.target}, but "
            f"this sink delivers to {where}: it is the state of another target, or the "
            "target moved; nothing was planned or published. "
            + how_to_rebuild(folder, published=True)
        )
    if isinstance(delivery, DirectoryDelivery) and snapshot.encrypted_for is None:
        # Reading a local file is cheap: check it is the one this state last sent (the
        # digests are those of the clear file, so an encrypted one cannot be compared).
        data = _read_published(delivery, filename)
        if data is not None and hashlib.sha256(data).hexdigest() not in store.known_digests():
            raise StateRecoveryError(
                f"{where} is not the last users file recorded in {folder}: another run or "
                "tool published there, or the state was restored from an older backup; "
                "nothing was planned or published. " + how_to_rebuild(folder, published=True)
            )
    return snapshot


def seed(path: Path) -> dict[str, Entry]:
    """The users of an export of Elevo's directory, as unmanaged entries.

    Raises:
        ConfigurationError: The export is unreadable or ambiguous.
    """
    rows = read_export(path)
    _log.info("seeded the Elevo state with %d users from an export", len(rows))
    return {row.key: Entry(row.key, fields=row.fields, managed=False) for row in rows}


def rebuild(
    store: StateStore,
    delivery: Delivery,
    filename: str,
    *,
    encrypted: bool,
    from_file: Path | None,
    from_export: Path | None,
) -> tuple[dict[str, Entry], Path | None]:
    """Replace the state by one rebuilt from the target's file, a copy of it or an export.

    The caller holds the state lock. See ``ElevoSink.rebuild_state``.

    Returns:
        The new state's users, and where the state it replaced was kept (if there was one).

    Raises:
        SinkError: There is nothing to rebuild from, or it cannot be read or written.
        ConfigurationError: The export is unusable.
    """
    published = _read_published(delivery, filename)
    where = location(delivery, filename) or repr(delivery)
    if from_export is not None:
        users = seed(from_export)
    elif from_file is not None:
        copy = read_copy(from_file)
        users = entries_from_file(copy, where=str(from_file))
        published = published if published is not None else copy
    elif encrypted:
        raise SinkError(
            f"the users file at {where} is encrypted for Elevo and cannot be read back; "
            "rebuild from a clear copy of it (from_file=, --from-file) or from an "
            "export of Elevo's directory (from_export=, --from-export)"
        )
    elif published is None:
        raise SinkError(
            f"there is no users file at {where} to rebuild the state from; use a copy "
            "of the last published file (from_file=, --from-file) or an export of "
            "Elevo's directory (from_export=, --from-export)"
        )
    else:
        users = entries_from_file(published, where=where)
    try:
        previous = store.load()
    except SinkError:  # unreadable: what is being rebuilt
        previous = None
    snapshot = Snapshot(
        users=users,
        # A new state: plans made against the old one no longer apply.
        generation=(0 if previous is None else previous.generation) + 1,
        # The file at the target is the one the next run compares the state with.
        sha256=None if published is None else hashlib.sha256(published).hexdigest(),
        published_at=now_iso(),
        target=location(delivery, filename),
        # The history is not what was lost: it is still checked against its count.
        history_runs=None if previous is None else previous.history_runs,
        history_counted=(previous is not None and previous.history_counted)
        or store.count_path.exists(),
    )
    try:
        kept = store.replace(snapshot)
    except OSError as exc:
        raise SinkError(f"cannot write the Elevo state in {store.folder} ({exc.strerror})") from exc
    return users, kept
