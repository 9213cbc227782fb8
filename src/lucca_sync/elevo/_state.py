"""The sink's memory of what Elevo holds: the last published snapshot, as a JSON file.

Elevo cannot be read back (no API), so the last file the sink delivered *is* the target's state.
Two files live in the state folder:

* ``elevo-state.json`` — the snapshot last confirmed delivered;
* ``elevo-state.pending.json`` — written just before a delivery starts and renamed over the
  first once the delivery succeeded. Finding it on start means the previous run stopped between
  the two; see :meth:`StateStore.load`.

Beside them, ``elevo-history.jsonl`` holds the run history: one JSON object per line, one line
per applied run, appended (see :meth:`StateStore.append_history`), and
``elevo-history.count`` how many lines it held after the last recorded run (a shorter history
was cut). ``elevo-sync-state.json`` holds the incremental-sync state of the last applied plan.

In an entry, ``fields["uniq_identifier"]`` is the identifier Elevo knows the user by. It is the
entry's key (the Lucca id) except for a user adopted from an Elevo export who already had an
identifier: that user keeps it (since format version 2; version 1 states never differ, and are
read as they are). Manager references in ``fields`` are keys; the file writes identifiers.

Format version 3 writes each user as one row, ``[key, status, columns, value, ...]``: the
field names are listed once in ``columns`` (one list per distinct set of names) and the status
is made of letters, ``s`` suspended, ``x`` excluded, ``u`` unmanaged (none: a managed, active
user). Versions 1 and 2 (one object per user, the names repeated) are still read; the next
publication writes version 3. Half the size, read in about half the time at 100,000 users.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Final, cast

import attrs

from lucca_sync.elevo._atomic import fsync_dir, write_atomic
from lucca_sync.elevo._csv import row_order
from lucca_sync.exceptions import SinkError
from lucca_sync.sinks import TargetUser

__all__ = ["FORMAT", "SYNC_STATE_NAME", "VERSION", "Entry", "Snapshot", "StateStore"]

FORMAT = "lucca_sync.elevo.state"
VERSION = 3
#: Versions this lucca_sync reads: 1 and 2 write an object per user; 1 never holds a kept
#: identifier.
_READABLE = frozenset({1, 2, VERSION})
STATE_NAME = "elevo-state.json"
PENDING_NAME = "elevo-state.pending.json"
#: Present while a delivery may or may not have reached Elevo (the connection broke).
UNCONFIRMED_NAME = "elevo-delivery.unconfirmed"
#: The run history, one JSON document per line.
HISTORY_NAME = "elevo-history.jsonl"
#: How many records the run history holds (at least), updated by every recorded run.
COUNT_NAME = "elevo-history.count"
#: The incremental-sync state, tagged with the digest of the snapshot it follows.
SYNC_STATE_NAME = "elevo-sync-state.json"
#: What to do about a lost or damaged run history, in Python and CLI terms.
HISTORY_RECOVERY = (
    "The rolling safety limits cannot be measured without it, so no run plans or publishes "
    "until it is fixed. Restore elevo-history.jsonl from a backup, or start a new history "
    "knowingly (the rolling limits then count from zero): sink.restart_history() in Python, "
    "lucca-sync history --config FILE --restart on the command line"
)

#: What to do about a lost or damaged history count.
COUNT_RECOVERY = (
    "The rolling safety limits cannot be trusted without it, so no run plans or publishes "
    "until it is fixed. Restore elevo-history.jsonl and elevo-history.count from the same "
    "backup, or start a new history knowingly (the rolling limits then count from zero): "
    "sink.restart_history() in Python, lucca-sync history --config FILE --restart on the "
    "command line"
)

_log = logging.getLogger("lucca_sync.elevo")


@attrs.frozen(repr=False)
class Entry(TargetUser):
    """One user the sink knows Elevo holds: the target user ``users()`` reports, as it is.

    ``managed=False`` users come from an adoption export; ``excluded`` users are written as
    ``skip`` rows with their last published fields kept here; ``suspended`` users are left out.
    """

    #: The key this entry had in the published snapshot (differs after an adoption).
    origin: str | None = attrs.field(default=None, eq=False)

    def __repr__(self) -> str:  # never the fields: they are personal data
        return (
            f"Entry(key={self.key!r}, suspended={self.suspended!r}, managed={self.managed!r}, "
            f"excluded={self.excluded!r}, origin={self.origin!r})"
        )


@attrs.frozen
class Snapshot:
    """What one delivered file told Elevo: every known user, and the file's digest."""

    users: Mapping[str, Entry] = attrs.field(factory=dict, hash=False)
    sha256: str | None = None
    published_at: str | None = None
    #: The OpenPGP key the file was encrypted for (``RecipientKey.identity``); ``None``: clear.
    encrypted_for: str | None = None
    #: How many snapshots were published so far (0: none); reviewed plans are bound to it.
    generation: int = 0
    #: Where the file went (``DirectoryDelivery``: the file's absolute path; SFTP: its URL);
    #: a state used with another target is refused. ``None`` in states written before.
    target: str | None = None
    #: Records the run history held when this snapshot was published: a shorter history was
    #: lost or cut. ``None`` in states written before the count was kept (taken as it is).
    history_runs: int | None = None
    #: ``elevo-history.count`` accompanies this state (written with it since format 3): a
    #: missing count file is then damage, not an older state folder.
    history_counted: bool = False
    #: Users written as ``skip`` rows because the change of their row was refused: the next
    #: commit checks them again. ``None``: not recorded (a state written before format 3, or
    #: rebuilt), so the next commit checks every row.
    held: frozenset[str] | None = attrs.field(default=None, hash=False)


def _status(entry: Entry) -> str:
    """The letters of a user's status in a version 3 row (see the module docstring)."""
    return (
        ("s" if entry.suspended else "")
        + ("x" if entry.excluded else "")
        + ("" if entry.managed else "u")
    )


def _encode(snapshot: Snapshot) -> bytes:
    # Each distinct list of field names is written once, in "columns"; a user is one row:
    # [key, status letters, index of its columns, value, value, ...].
    columns: dict[tuple[str, ...], int] = {}
    users = []
    for key, entry in sorted(snapshot.users.items(), key=lambda item: row_order(item[0])):
        names = tuple(entry.fields)
        shape = columns.setdefault(names, len(columns))
        users.append([key, _status(entry), shape, *entry.fields.values()])
    document = {
        "format": FORMAT,
        "version": VERSION,
        "sha256": snapshot.sha256,
        "published_at": snapshot.published_at,
        "encrypted_for": snapshot.encrypted_for,
        "generation": snapshot.generation,
        "target": snapshot.target,
        "history_runs": snapshot.history_runs,
        "history_counted": snapshot.history_counted,
        "held": None if snapshot.held is None else sorted(snapshot.held, key=row_order),
        "columns": [list(names) for names in columns],
        "users": users,
    }
    # Compact: the state of 100,000 users is read at every run (any JSON layout reads back).
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


_TEXTS: Final = frozenset({str, type(None)})
#: A row's status letters -> (suspended, managed, excluded), in every order they may come.
_FLAGS: Final = {
    "".join(letters): ("s" in letters, "u" not in letters, "x" in letters)
    for size in range(4)
    for letters in itertools.permutations("sxu", size)
}


def _flag(item: dict[str, object], name: str) -> bool:
    # bool("false") is True: a hand-edited state must not silently flip a user's status.
    value = item[name]
    if not isinstance(value, bool):
        raise TypeError(f"{name} is not true or false")
    return value


def _text(value: object) -> str | None:
    """A value of a hand-edited state as text: numbers and booleans as ``str()`` writes them."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TypeError("a field value is neither text, a number, true, false nor null")


def _texts(fields: dict[str, object]) -> dict[str, str | None]:
    """``fields`` with every value text or ``None``: a hand edit's numbers become their text."""
    if type(fields) is dict and _TEXTS.issuperset(map(type, fields.values())):
        return fields  # type: ignore[return-value]  # checked just above
    return {str(k): _text(v) for k, v in fields.items()}


def _rows(columns: list[list[str]], rows: list[list[object]]) -> dict[str, Entry]:
    """The users of a version 3 state."""
    names = [tuple(map(str, each)) for each in columns]
    sizes = [len(each) for each in names]
    users: dict[str, Entry] = {}
    for row in rows:
        key, status, shape = row[0], row[1], row[2]
        flags = _FLAGS.get(status) if type(status) is str else None
        if flags is None:
            raise ValueError("a status is not made of the letters s, x and u")
        if type(shape) is not int or not 0 <= shape < len(names):
            raise IndexError("a row names columns that do not exist")
        values = row[3:]
        if len(values) != sizes[shape]:
            raise ValueError("a row has more or fewer values than its columns")
        if _TEXTS.issuperset(map(type, values)):
            texts = cast("list[str | None]", values)
        else:  # a hand edit: numbers and the like are taken as their text
            texts = [_text(value) for value in values]
        if type(key) is not str or not key:
            raise TypeError("a user's key is not a non-empty text")
        if key in users:
            raise ValueError(f"user {key} appears twice")
        # The lengths were compared just above.
        fields = dict(zip(names[shape], texts, strict=False))
        users[key] = Entry(key, MappingProxyType(fields), *flags)
    return users


def _objects(items: list[dict[str, object]]) -> dict[str, Entry]:
    """The users of a state of version 1 or 2 (one object per user)."""
    users: dict[str, Entry] = {}
    for item in items:
        fields = item["fields"]
        if not isinstance(fields, dict):
            raise TypeError("fields is not an object")
        key = str(item["key"])
        users[key] = Entry(
            key,
            MappingProxyType(_texts(fields)),
            _flag(item, "suspended"),
            _flag(item, "managed"),
            _flag(item, "excluded"),
        )
    return users


def _decode(path: Path, data: bytes) -> Snapshot:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SinkError(
            f"the Elevo state file {path} is not valid JSON ({exc.__class__.__name__}); "
            "restore it from a backup or re-adopt from an Elevo export"
        ) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SinkError(f"{path} is not an Elevo state file of lucca_sync")
    if document.get("version") not in _READABLE:
        raise SinkError(
            f"the Elevo state file {path} has format version {document.get('version')!r}; "
            f"this version of lucca_sync reads version {VERSION}"
        )
    try:
        if document["version"] >= 3:
            users = _rows(document["columns"], document["users"])
        else:
            users = _objects(document["users"])
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise SinkError(
            f"the Elevo state file {path} has a malformed users list ({exc}); restore it from "
            "a backup, or rebuild it: sink.rebuild_state() in Python, lucca-sync "
            "rebuild-state --config FILE on the command line"
        ) from exc
    encrypted_for = document.get("encrypted_for")
    # States written before generations existed count as one publication.
    generation = document.get("generation", 1)
    if type(generation) is not int or generation < 0:
        raise SinkError(
            f"the Elevo state file {path} has a generation that is not a whole number >= 0; "
            "restore it from a backup"
        )
    target = document.get("target")
    history_runs = document.get("history_runs")
    if history_runs is not None and (type(history_runs) is not int or history_runs < 0):
        raise SinkError(
            f"the Elevo state file {path} has a history_runs that is not a whole number >= 0; "
            "restore it from a backup"
        )
    held = document.get("held")
    if held is not None and (
        not isinstance(held, list) or not all(isinstance(key, str) for key in held)
    ):
        raise SinkError(
            f"the Elevo state file {path} has a held list that is not a list of keys; "
            "restore it from a backup"
        )
    return Snapshot(
        users=users,
        held=None if held is None else frozenset(held),
        history_counted=document.get("history_counted") is True,
        sha256=document.get("sha256"),
        published_at=document.get("published_at"),
        encrypted_for=encrypted_for if isinstance(encrypted_for, str) else None,
        generation=generation,
        target=target if isinstance(target, str) else None,
        history_runs=history_runs,
    )


@attrs.define
class StateStore:
    """Reads and writes the state files of one sink in ``folder``."""

    folder: Path
    # The digest each state file held when it was last decoded, by the file's identity: the
    # check of the published file (known_digests) does not decode the whole state again.
    _digests: dict[Path, tuple[tuple[int, int, int], str | None]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )

    @property
    def path(self) -> Path:
        """The confirmed state file."""
        return self.folder / STATE_NAME

    @property
    def pending_path(self) -> Path:
        """The state of a delivery that was started but not confirmed."""
        return self.folder / PENDING_NAME

    def _decode_noting_digest(self, path: Path, data: bytes) -> Snapshot:
        """Decode a state file and remember its digest for :meth:`known_digests`."""
        snapshot = _decode(path, data)
        with contextlib.suppress(OSError):
            self._digests[path] = (_identity(path), snapshot.sha256)
        return snapshot

    def _digest(self, path: Path) -> str | None:
        """The digest recorded in the state file ``path``, decoded only if it changed since.

        Raises:
            OSError: The file cannot be read (FileNotFoundError: there is none).
        """
        known = self._digests.get(path)
        if known is not None and known[0] == _identity(path):
            return known[1]
        return self._decode_noting_digest(path, path.read_bytes()).sha256

    def load(self) -> Snapshot | None:
        """The last published snapshot, ``None`` before the first publish.

        A pending file left by an interrupted run wins over the confirmed one: that delivery
        may have reached Elevo, and since every file is a complete snapshot, assuming it did is
        safe — the next commit re-sends the whole desired state either way.

        Raises:
            SinkError: A state file is unreadable, corrupt or of another format version.
        """
        for path in (self.pending_path, self.path):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SinkError(f"cannot read the Elevo state file {path}: {exc}") from exc
            snapshot = self._decode_noting_digest(path, data)
            if path == self.pending_path:
                _log.warning(
                    "found %s: the previous run stopped after starting a delivery (sha256 %s) "
                    "and before recording it; assuming it reached Elevo, the next commit "
                    "re-sends a complete snapshot",
                    path,
                    snapshot.sha256,
                )
            return snapshot
        return None

    def recover(self) -> bool:
        """Promote a pending state left by an interrupted run (see :meth:`load`).

        Returns:
            Whether there was one: its delivery is unconfirmed, so the next one must happen.
        """
        if not self.pending_path.exists():
            return False
        os.replace(self.pending_path, self.path)
        fsync_dir(self.folder)
        return True

    def write_pending(self, snapshot: Snapshot) -> None:
        """Record the snapshot about to be delivered."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.pending_path, _encode(snapshot), mode=0o600)

    def confirm(self) -> None:
        """The delivery succeeded: the pending snapshot becomes the published one."""
        os.replace(self.pending_path, self.path)
        fsync_dir(self.folder)

    def discard_pending(self) -> None:
        """The delivery failed: forget the snapshot that was not delivered."""
        with contextlib.suppress(FileNotFoundError):
            self.pending_path.unlink()

    @property
    def unconfirmed_path(self) -> Path:
        """The marker of a delivery whose outcome is unknown."""
        return self.folder / UNCONFIRMED_NAME

    def mark_unconfirmed(self, sha256: str) -> None:
        """A delivery failed midway: Elevo may hold that file even though it is not recorded.

        The published state stays the previous one, and the next commit delivers its file
        whatever it holds, so that Elevo ends up with the state lucca_sync records.
        """
        write_atomic(self.unconfirmed_path, f"{sha256}\n".encode(), mode=0o600)

    def unconfirmed(self) -> bool:
        """Whether the last delivery's outcome is unknown (see :meth:`mark_unconfirmed`)."""
        return self.unconfirmed_path.exists()

    @property
    def history_path(self) -> Path:
        """The run history (JSON Lines)."""
        return self.folder / HISTORY_NAME

    def read_history(self) -> list[Mapping[str, object]]:
        """Every line of the run history, decoded (a missing file is an empty history).

        Raises:
            SinkError: The file cannot be read, or a line is not a JSON object (a hand edit,
                a line cut short by a crash): the rolling limits cannot be measured.
        """
        try:
            data = self.history_path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise SinkError(
                f"cannot read the run history {self.history_path}: {exc.strerror}"
            ) from exc
        documents: list[Mapping[str, object]] = []
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError:
                document = None
            if not isinstance(document, dict):
                raise SinkError(
                    f"the run history {self.history_path} is damaged: line {number} is not a "
                    f"record. {HISTORY_RECOVERY}"
                )
            documents.append(document)
        return documents

    @property
    def count_path(self) -> Path:
        """The count of records the run history holds (at least), updated by every run."""
        return self.folder / COUNT_NAME

    def count_history(self, runs: int) -> None:
        """Record that the history holds ``runs`` records, so that losing one shows too.

        Kept in a small file of its own rather than in the state, which is rewritten only when
        a file is published: a run that publishes nothing does not re-encode every user. The
        count never goes down (but by :meth:`restart_history`); the file is created if missing.
        """
        counted = self.counted()
        if counted is None or runs > counted:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.count_path, f"{max(runs, counted or 0)}\n".encode(), mode=0o600)

    def counted(self) -> int | None:
        """The count file's value; ``None`` when there is none.

        Raises:
            SinkError: The count file is damaged or unreadable.
        """
        try:
            text = self.count_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise SinkError(
                f"cannot read the run history's count {self.count_path}: {exc}"
            ) from exc
        if not text.isdigit():
            raise SinkError(
                f"the run history's count {self.count_path} is damaged. {COUNT_RECOVERY}"
            )
        return int(text)

    def expected_runs(self, published: int | None, *, counted_file: bool) -> int | None:
        """How many records the history must hold at least (``None``: not known).

        ``published`` is the count recorded with the published snapshot; the count file may
        record more since (runs that published nothing). ``counted_file``: the state says a
        count file accompanies it, so a missing one was lost.

        Raises:
            SinkError: The count file is missing while it should be there, damaged or
                unreadable.
        """
        counted = self.counted()
        if counted is None and counted_file:
            raise SinkError(
                f"the run history's count {self.count_path} is missing, but the Elevo state "
                f"was published with one. {COUNT_RECOVERY}"
            )
        if counted is None:
            return published
        return max(counted, published or 0)

    def restart_history(self) -> Path | None:
        """Start a new, empty run history; the old one is kept beside it, renamed.

        The published state then records an empty history, so that the next plan accepts it.

        Returns:
            Where the previous history was moved, if there was one.
        """
        kept = None
        if self.history_path.exists():
            kept = self.folder / f"elevo-history.replaced-{now_iso().replace(':', '')}.jsonl"
            os.replace(self.history_path, kept)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.count_path, b"0\n", mode=0o600)
        for path in (self.pending_path, self.path):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            snapshot = attrs.evolve(_decode(path, data), history_runs=0)
            write_atomic(path, _encode(snapshot), mode=0o600)
        fsync_dir(self.folder)
        return kept

    def append_history(self, document: Mapping[str, object]) -> None:
        """Append one record to the run history and make it durable.

        Raises:
            OSError: The state folder is not writable.
        """
        line = (json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.history_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # A line cut short by an earlier crash would swallow this one: start on a new line.
            if os.fstat(fd).st_size and not _ends_with_newline(self.history_path):
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    @property
    def sync_state_path(self) -> Path:
        """The incremental-sync state."""
        return self.folder / SYNC_STATE_NAME

    def load_sync_state(self, snapshot_sha256: str | None) -> dict[str, object] | None:
        """The sync state saved with the snapshot of digest ``snapshot_sha256``, if any.

        Raises:
            SinkError: The file cannot be read.
        """
        path = self.sync_state_path
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SinkError(f"cannot read the sync state {path}: {exc.strerror}") from exc
        except ValueError:
            _log.warning("the sync state %s is not JSON; the next plan reads everyone", path)
            return None
        if not isinstance(document, dict) or not isinstance(document.get("state"), dict):
            return None
        if document.get("snapshot_sha256") != snapshot_sha256:
            _log.info("the sync state does not follow the published snapshot; ignored")
            return None
        state: dict[str, object] = document["state"]
        return state

    def save_sync_state(self, snapshot_sha256: str | None, state: Mapping[str, object]) -> None:
        """Save ``state``, tagged with the digest of the snapshot it follows (atomically).

        Raises:
            OSError: The state folder is not writable.
        """
        document = {"snapshot_sha256": snapshot_sha256, "state": dict(state)}
        data = (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8")
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.sync_state_path, data, mode=0o600)

    def clear_unconfirmed(self) -> None:
        """A delivery went through: the marker has served its purpose."""
        with contextlib.suppress(FileNotFoundError):
            self.unconfirmed_path.unlink()

    def known_digests(self) -> set[str]:
        """Digests of every file this state may have sent: recorded, pending or unconfirmed.

        Raises:
            SinkError: A state file is unreadable or corrupt.
        """
        digests = set()
        for path in (self.pending_path, self.path):
            try:
                digests.add(self._digest(path))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SinkError(f"cannot read the Elevo state file {path}: {exc}") from exc
        with contextlib.suppress(OSError):
            digests.add(self.unconfirmed_path.read_text(encoding="utf-8").strip())
        return {digest for digest in digests if digest}

    def replace(self, snapshot: Snapshot) -> Path | None:
        """Make ``snapshot`` the published state (a rebuild), keeping the one it replaces.

        A previous state file (and a pending one) is renamed ``elevo-state.replaced-<time>.json``
        rather than deleted: it may still be needed to understand what happened.

        Returns:
            Where the previous state was moved, if there was one.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        kept = None
        stamp = now_iso().replace(":", "")
        for index, path in enumerate((self.path, self.pending_path)):
            if path.exists():
                suffix = "" if index == 0 else ".pending"
                target = self.folder / f"elevo-state.replaced-{stamp}{suffix}.json"
                os.replace(path, target)
                kept = kept or target
        write_atomic(self.path, _encode(snapshot), mode=0o600)
        self.clear_unconfirmed()
        return kept


def _identity(path: Path) -> tuple[int, int, int]:
    """What changes when a file is replaced or rewritten: inode, size, modification time."""
    status = path.stat()
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def now_iso() -> str:
    """The current UTC time, ISO 8601, for ``published_at``."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
