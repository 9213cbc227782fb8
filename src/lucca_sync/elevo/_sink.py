"""ElevoSink: Elevo as a sync target, through its users snapshot file.

One class, `ElevoSink`, implementing the `Sink` lifecycle: what the last published file held
(from ``_state.py``), the pending changes, rendering (``_csv.py``) and delivery
(``_delivery.py``). It stays one module because the lifecycle steps share the pending state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from lucca_sync.elevo._atomic import probe_folder, write_atomic
from lucca_sync.elevo._csv import (
    KEY,
    MANAGER,
    FileRow,
    accepts_field,
    check_record,
    render,
    row_order,
)
from lucca_sync.elevo._csv import read_export as _read_export
from lucca_sync.elevo._delivery import (
    Delivery,
    DirectoryDelivery,
    ReadableDelivery,
    SftpDelivery,
    UncertainDeliveryError,
    require_paramiko,
)
from lucca_sync.elevo._encryption import Encryption, RecipientKey
from lucca_sync.elevo._lock import StateLock
from lucca_sync.elevo._recovery import (
    StateRecoveryError,
    entries_from_file,
    how_to_rebuild,
    read_copy,
)
from lucca_sync.elevo._state import HISTORY_RECOVERY, Entry, Snapshot, StateStore, now_iso
from lucca_sync.exceptions import ConfigurationError, SinkError
from lucca_sync.sinks import Sink, TargetUser

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import Plan

__all__ = ["ElevoSink"]

_log = logging.getLogger("lucca_sync.elevo")
# Elevo needs these unique across its users (compared as _fold does).
_UNIQUE = ("email", "username", "registration_number")
_PORT = re.compile(r"(?<=^sftp://)([^/]*?):\d+(?=/)")
#: The incremental-sync state (see :meth:`ElevoSink.save_sync_state`), beside the snapshot.
SYNC_STATE_NAME = "elevo-sync-state.json"

StrPath = str | os.PathLike[str]


def _writes_row(entry: Entry) -> bool:
    """A managed user in scope and active: a full row."""
    return entry.managed and not entry.excluded and not entry.suspended


def _writes_skip(key: str, entry: Entry) -> bool:
    """Users Elevo must leave as they are: excluded ones, and unmanaged ones it knows by key."""
    if entry.managed:
        return entry.excluded
    return bool(entry.fields.get(KEY))


def _identifier(key: str, entry: Entry) -> str:
    """The ``uniq_identifier`` Elevo knows the user by: the key, unless adoption kept another."""
    return entry.fields.get(KEY) or key


def _in_file(entries: Mapping[str, Entry]) -> set[str]:
    """The identifiers a file written from ``entries`` names (rows and ``skip`` rows)."""
    return {
        _identifier(key, entry)
        for key, entry in entries.items()
        if _writes_row(entry) or _writes_skip(key, entry)
    }


def _fold(value: str | None) -> str:
    """``value`` as Elevo compares it: trimmed, case-insensitive, and composed alike (NFC).

    ``"Zoé@x"`` typed with a combining accent and ``"ZOÉ@X"`` typed with a precomposed one
    are the same address: both fold to one text, so they count as duplicates.
    """
    text = (value or "").strip()
    if text.isascii():
        return text.lower()  # the usual case; the same result, without normalising
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


class ElevoSink(Sink):
    """Elevo's users snapshot file as a :class:`~lucca_sync.Sink`.

    Elevo has no API: each :meth:`commit` writes the complete users file (every managed, active
    user; ``skip`` rows for users Elevo must leave untouched) and delivers it to a folder or to
    Elevo's SFTP server. Elevo suspends every user absent from the file, so a suspension here
    is an omission and a reactivation a reappearance.

    What :meth:`users` reports is the last *published* snapshot, kept as JSON in ``state_dir``
    and replaced only after a successful delivery. Operations between :meth:`begin` and
    :meth:`commit` change a working copy; an operation outside a batch starts one.

    Build one with :meth:`to_directory` or :meth:`over_sftp`, or pass any
    :class:`~lucca_sync.elevo.Delivery`.

    Args:
        delivery: Where the file goes.
        state_dir: Folder of the state file (``elevo-state.json``); created when missing. Keep
            it out of the drop folder (Elevo consumes every file there) and back it up.
        filename: Name of the users file in the drop folder; ``None`` means ``users.csv``, or
            ``users.csv.gpg`` / ``users.csv.asc`` when encrypting.
        adopt_from: An export of Elevo's directory (CSV with Elevo's keys as header), read only
            when the state folder holds no state yet. Its users become unmanaged target users
            that the planner can adopt (``plan(..., match_by=("email", "registration_number"))``)
            and that are protected by ``skip`` rows meanwhile.
        omit_unidentified: Users of the export without a ``uniq_identifier`` cannot be named in
            the file, so Elevo may suspend them when a file omits them. By default
            :meth:`commit` refuses to publish while the sync has not adopted every such user;
            set this once Elevo support confirmed those users are outside the sync.
        encryption: Encrypt the file for Elevo's public OpenPGP key
            (``pip install 'lucca-sync[gpg]'``): only the encrypted file is delivered. The key
            is read and checked here, so a bad key stops a run before Lucca is read.
        lock_timeout: Seconds to wait for another run that holds the state folder's lock
            (see below); 0, the default, fails at once with
            :class:`~lucca_sync.elevo.StateLockedError`.

    **Identity.** An export user adopted by a plan (``match_by``) who already has a
    ``uniq_identifier`` keeps it: the state links the Lucca id to it, and every file names the
    user (and their reports' ``manager_uniq_identifier``) by that identifier. The sink's keys
    stay Lucca ids; ``users()`` reports the identifier as ``fields["uniq_identifier"]``.

    **Memory.** The last published file is the baseline. The sink never assumes that Elevo is
    empty: without a state, a users file found at the target (in the drop folder, on the SFTP
    server) stops the run with :class:`~lucca_sync.elevo.StateRecoveryError`, as do an
    unreadable state, a state recorded for another target and, for a drop folder, a users
    file that is not the last one the state recorded. See :meth:`rebuild_state`. Without
    any of those, the next commit is the *first publication*: :meth:`first_publication` says
    so, and :func:`lucca_sync.plan` marks the plan with the ``first_publication`` safety
    violation, to approve by digest after review. Last, :meth:`commit` refuses to publish a
    file that leaves out an identifier of the previous one unless that user was suspended.

    **One run at a time.** From its first read of the state (planning) to the end of
    :meth:`commit` (or :meth:`abort`, :meth:`close`), the sink holds an operating-system lock
    on ``lucca-sync.lock`` in the state folder. A lock of a process that died is released by
    the system.

    Raises:
        ConfigurationError: A bad file name, the state folder is in the drop folder, or the
            encryption key cannot be used (see :meth:`Encryption.load`).
    """

    key_field = KEY
    manager_field = MANAGER
    keeps_identifiers = True

    def __init__(
        self,
        delivery: Delivery,
        *,
        state_dir: StrPath,
        filename: str | None = None,
        adopt_from: StrPath | None = None,
        omit_unidentified: bool = False,
        encryption: Encryption | None = None,
        lock_timeout: float = 0.0,
    ) -> None:
        if filename is None:
            filename = "users.csv" if encryption is None else encryption.default_filename
        if not filename or filename != Path(filename).name or filename.startswith("."):
            raise ConfigurationError(
                f"filename must be a plain, visible file name such as 'users.csv', got {filename!r}"
            )
        if encryption is not None and filename.lower().endswith(".csv"):
            raise ConfigurationError(
                f"filename {filename!r} would present an encrypted file as clear CSV: use "
                f"{encryption.default_filename!r}"
            )
        state_path = Path(state_dir)
        if isinstance(delivery, DirectoryDelivery) and _within(state_path, delivery.path):
            raise ConfigurationError(
                "state_dir must not be in the drop folder: Elevo reads every file there"
            )
        self._recipient = None if encryption is None else encryption.load()
        self._armor = encryption is not None and encryption.armor
        self._delivery = delivery
        self._filename = filename
        self._store = StateStore(state_path)
        self._adopt_from = None if adopt_from is None else Path(adopt_from)
        self._omit_unidentified = omit_unidentified
        self._lock = StateLock(state_path)
        self._lock_timeout = lock_timeout
        # The sink has never published to this target (no state, no published file found).
        self._first = False
        # Identifiers suspended by the current batch: the only ones a file may leave out.
        self._suspended: set[str] = set()
        self._published: dict[str, Entry] | None = None
        # Records the history held at the last publication (None: not known, taken as it is).
        self._history_runs: int | None = None
        # The digest of the published snapshot: ties the sync state to the snapshot it follows.
        self._published_sha256: str | None = None
        # Publications so far, as recorded in the state (see generation()).
        self._generation = 0
        self._working: dict[str, Entry] | None = None
        # Whether an action of this batch changed it: a batch that did not (a no-op run)
        # is neither checked, nor rendered, nor compared entry by entry.
        self._changed = False
        # Deliver at the next commit even if nothing changed (unconfirmed previous delivery).
        self._force = False
        # The key the published snapshot was encrypted for (a new key alone re-delivers).
        self._published_for: str | None = None

    @classmethod
    def to_directory(
        cls,
        path: StrPath,
        *,
        state_dir: StrPath | None = None,
        filename: str | None = None,
        adopt_from: StrPath | None = None,
        omit_unidentified: bool = False,
        encryption: Encryption | None = None,
        lock_timeout: float = 0.0,
    ) -> ElevoSink:
        """A sink writing the users file into the local folder ``path``.

        Args:
            path: The drop folder (must exist when committing).
            state_dir: The state folder; ``None`` means ``<path>.lucca-sync-state`` next to the
                drop folder.
            filename: Name of the users file (see :class:`ElevoSink`).
            adopt_from: See :class:`ElevoSink`.
            omit_unidentified: See :class:`ElevoSink`.
            encryption: See :class:`ElevoSink`.
            lock_timeout: See :class:`ElevoSink`.

        Raises:
            ConfigurationError: See :class:`ElevoSink`.
        """
        folder = Path(path)
        if state_dir is None:
            state_dir = folder.absolute().with_name(folder.absolute().name + ".lucca-sync-state")
        return cls(
            DirectoryDelivery(folder),
            state_dir=state_dir,
            filename=filename,
            adopt_from=adopt_from,
            omit_unidentified=omit_unidentified,
            encryption=encryption,
            lock_timeout=lock_timeout,
        )

    @classmethod
    def over_sftp(
        cls,
        host: str,
        *,
        username: str,
        state_dir: StrPath,
        port: int = 22,
        private_key_path: StrPath | None = None,
        passphrase: str | None = None,
        known_hosts: StrPath | None = None,
        remote_dir: str = "/uploads/users",
        staging_dir: str | None = None,
        timeout: float = 30.0,
        filename: str | None = None,
        adopt_from: StrPath | None = None,
        omit_unidentified: bool = False,
        encryption: Encryption | None = None,
        lock_timeout: float = 0.0,
    ) -> ElevoSink:
        """A sink uploading the users file to Elevo's SFTP server.

        The server's host key must be in ``known_hosts`` (``~/.ssh/known_hosts`` by default);
        an unknown key is refused, never added. See :class:`SftpDelivery` for the connection
        arguments and :class:`ElevoSink` for the others.

        Raises:
            ConfigurationError: paramiko is missing (``pip install 'lucca-sync[sftp]'``), or
                see :class:`ElevoSink`.
        """
        require_paramiko()
        delivery = SftpDelivery(
            host=host,
            port=port,
            username=username,
            private_key_path=None if private_key_path is None else Path(private_key_path),
            passphrase=passphrase,
            known_hosts=None if known_hosts is None else Path(known_hosts),
            remote_dir=remote_dir,
            staging_dir=staging_dir,
            timeout=timeout,
        )
        return cls(
            delivery,
            state_dir=state_dir,
            filename=filename,
            adopt_from=adopt_from,
            omit_unidentified=omit_unidentified,
            encryption=encryption,
            lock_timeout=lock_timeout,
        )

    def __repr__(self) -> str:
        return f"ElevoSink({self._delivery!r}, state_dir={str(self._store.folder)!r})"

    # -- reading -------------------------------------------------------------------------------

    def accepts_field(self, name: str) -> bool:
        """Whether ``name`` is a column of Elevo's users file (fixed keys and ``custom_*``)."""
        return accepts_field(name)

    @property
    def encryption_key(self) -> RecipientKey | None:
        """Elevo's OpenPGP key the file is encrypted for, as loaded and checked; ``None``: clear."""
        return self._recipient

    @property
    def state_path(self) -> Path:
        """The JSON file holding the last published snapshot."""
        return self._store.path

    def probe(self) -> tuple[str, ...]:
        """Check, changing nothing, that a sync could read its state and deliver its file.

        - the state folder exists and accepts a file (a temporary one, removed), or can be
          created (its nearest existing parent accepts a new folder), and its state file, if
          any, can be read;
        - the delivery accepts a file: :meth:`DirectoryDelivery.probe`,
          :meth:`SftpDelivery.probe` (connection, host key, login, remote folder); a custom
          delivery without a ``probe(filename)`` method is not checked.

        Returns:
            One line per problem, each saying what to fix; empty when everything works.
        """
        problems: list[str] = []
        folder = self._store.folder
        if folder.exists():
            reason = probe_folder(folder, self._filename)
            if reason is not None:
                problems.append(
                    f"the state folder {folder} does not accept a new file ({reason}); give "
                    "this user write access to it or choose another state_dir"
                )
            else:
                try:
                    self._store.load()
                except SinkError as exc:
                    problems.append(str(exc))
        else:
            parent = next(p for p in folder.absolute().parents if p.exists())
            if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                problems.append(
                    f"the state folder {folder} does not exist and cannot be created in "
                    f"{parent} (no write access); create it or choose another state_dir"
                )
        probe = getattr(self._delivery, "probe", None)
        if callable(probe):
            try:
                probe(self._filename)
            except SinkError as exc:
                problems.append(str(exc))
        return tuple(problems)

    def _remember(self, snapshot: Snapshot) -> None:
        """Take ``snapshot`` as the published one (read from the state, or just delivered)."""
        self._published = dict(snapshot.users)
        self._published_sha256 = snapshot.sha256
        self._published_for = snapshot.encrypted_for
        self._generation = snapshot.generation
        self._history_runs = snapshot.history_runs

    def _load(self) -> dict[str, Entry]:
        """The published snapshot, read under the state lock (taken here if not held)."""
        if not self._lock.held:
            self._lock.acquire(self._lock_timeout)
            # Another run may have published since this sink last looked: read again.
            self._published = None
        if self._published is None:
            try:
                self._published = self._read_memory()
            except BaseException:
                self._lock.release()
                raise
        return self._published

    def _location(self) -> str | None:
        if isinstance(self._delivery, ReadableDelivery):
            return self._delivery.location(self._filename)
        return None

    def _read_published(self) -> bytes | None:
        """The users file at the target, when the delivery can read it back."""
        if isinstance(self._delivery, ReadableDelivery):
            return self._delivery.read_published(self._filename)
        return None

    def _read_memory(self) -> dict[str, Entry]:
        """Read the state, and refuse it when it cannot be the truth (see the class docstring)."""
        folder = self._store.folder
        readable = isinstance(self._delivery, ReadableDelivery)
        try:
            snapshot = self._store.load()
        except SinkError as exc:
            raise StateRecoveryError(
                f"{exc}; nothing was planned or published. "
                + how_to_rebuild(folder, published=readable)
            ) from exc
        where = self._location()
        if snapshot is None:
            if self._read_published() is not None:
                raise StateRecoveryError(
                    f"there is no Elevo state in {folder}, but {where} holds a users file "
                    "published earlier: the state was lost, moved or never kept there (did "
                    "state_dir or the drop folder change?). The sink will not assume that Elevo "
                    "is empty; nothing was planned or published. "
                    + how_to_rebuild(folder, published=True)
                )
            self._first = True
            self._published_sha256 = None
            self._generation = 0
            self._history_runs = None
            return {} if self._adopt_from is None else _seed(self._adopt_from)
        if snapshot.target is not None and where is not None and not _same(snapshot.target, where):
            raise StateRecoveryError(
                f"the Elevo state in {folder} records publications to {snapshot.target}, but "
                f"this sink delivers to {where}: it is the state of another target, or the "
                "target moved; nothing was planned or published. "
                + how_to_rebuild(folder, published=True)
            )
        if isinstance(self._delivery, DirectoryDelivery) and snapshot.encrypted_for is None:
            # Reading a local file is cheap: check it is the one this state last sent (the
            # digests are those of the clear file, so an encrypted one cannot be compared).
            data = self._read_published()
            if data is not None and hashlib.sha256(data).hexdigest() not in (
                self._store.known_digests()
            ):
                raise StateRecoveryError(
                    f"{where} is not the last users file recorded in {folder}: another run or "
                    "tool published there, or the state was restored from an older backup; "
                    "nothing was planned or published. " + how_to_rebuild(folder, published=True)
                )
        self._first = False
        self._remember(snapshot)
        assert self._published is not None  # noqa: S101 - set by _remember
        return self._published

    def first_publication(self) -> str | None:
        """``"the Elevo account at <target>"`` when this sink has never published there.

        Raises:
            StateRecoveryError: The state cannot be trusted (see the class docstring).
            StateLockedError: Another run holds the state folder.
        """
        self._load()
        if not self._first:
            return None
        return f"the Elevo account at {self._location() or repr(self._delivery)}"

    def users(self) -> Iterable[TargetUser]:
        """The users of the last published snapshot (plus an adoption export's, at first).

        ``fields["uniq_identifier"]`` is the identifier Elevo knows the user by (an adopted
        user's own, see the class docstring); manager references are keys.

        Raises:
            StateRecoveryError: The state is unreadable, or missing or mismatched while there
                is evidence of an earlier publication; the message says how to rebuild it.
            StateLockedError: Another run holds the state folder.
        """
        return [
            TargetUser(
                key=key,
                fields=entry.fields,
                suspended=entry.suspended,
                managed=entry.managed,
                excluded=entry.excluded,
            )
            for key, entry in self._load().items()
        ]

    def generation(self) -> int:
        """How many snapshots this sink has published (0 before the first).

        Kept in the state file and increased by every publication, so a plan made before
        another run published is refused by :func:`lucca_sync.apply`.

        Raises:
            SinkError: The state file is unreadable or of another format version.
        """
        self._load()
        return self._generation

    # -- the batch -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Start a batch from the published snapshot (finishing an interrupted run's record)."""
        published = self._load()
        try:
            if self._store.recover() or self._store.unconfirmed():
                self._force = True
        except OSError as exc:
            raise SinkError(
                f"cannot update the Elevo state in {self._store.folder}: {exc}"
            ) from exc
        self._working = {key: attrs.evolve(entry, origin=key) for key, entry in published.items()}
        self._suspended = set()

    def _batch(self) -> dict[str, Entry]:
        if self._working is None:
            self.begin()
        assert self._working is not None  # noqa: S101 - set by begin()
        return self._working

    def _get(self, key: str) -> Entry:
        entry = self._batch().get(key)
        if entry is None:
            raise SinkError(
                f"Elevo user {key} is not in the last published snapshot; re-plan against the "
                "current state",
                key=key,
            )
        return entry

    def _fields(
        self, key: str, base: Mapping[str, str | None], changes: Mapping[str, str | None]
    ) -> dict[str, str | None]:
        for name, value in changes.items():
            if not accepts_field(name):
                raise SinkError(
                    f"field {name!r} of user {key} is not a column of Elevo's users file",
                    key=key,
                )
            if value is not None and not isinstance(value, str):
                raise SinkError(f"field {name!r} of user {key} is not text", key=key)
        if changes.get(KEY, key) != key:
            raise SinkError(f"user {key}: the uniq_identifier field differs from the key", key=key)
        # An adopted user's own identifier stays: Elevo would take another one for a new user.
        return {**base, **changes, KEY: base.get(KEY) or key}

    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        """Add ``key`` as an active, managed user (a row in the next file)."""
        self._changed = True
        working = self._batch()
        previous = working.get(key)
        working[key] = Entry(
            fields=self._fields(key, {}, fields),
            origin=None if previous is None else previous.origin,
        )

    def update(
        self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
    ) -> None:
        """Change fields of ``key``; with ``new_key``, adopt the user under that key.

        An excluded user is back in scope; an unmanaged user becomes managed.
        """
        self._changed = True
        working = self._batch()
        if new_key is not None and key not in working and new_key in working:
            key, new_key = new_key, None  # the adoption was already applied: idempotent
        entry = self._get(key)
        target = key if new_key is None else new_key
        if target != key and target in working:
            raise SinkError(
                f"cannot adopt Elevo user {key} as {target}: that key is already used",
                key=key,
            )
        fields = self._fields(target, entry.fields, changes)
        del working[key]
        working[target] = Entry(
            fields=fields, suspended=entry.suspended, managed=True, origin=entry.origin
        )

    def suspend(self, key: str) -> None:
        """Leave ``key`` out of the next file, which makes Elevo suspend the user."""
        self._changed = True
        entry = self._get(key)
        if not entry.managed:
            raise SinkError(f"Elevo user {key} is not managed by the sync", key=key)
        self._batch()[key] = attrs.evolve(entry, suspended=True, excluded=False)
        self._suspended.add(_identifier(key, entry))

    def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
        """Put ``key`` back in the next file (Elevo reactivates it) with ``changes``."""
        self._changed = True
        entry = self._get(key)
        self._batch()[key] = Entry(
            fields=self._fields(key, entry.fields, changes), origin=entry.origin
        )

    def exclude(self, key: str) -> None:
        """Write ``key`` as a ``skip`` row: Elevo keeps the user as is and receives no data.

        The last published fields stay in the state. Unmanaged users are protected already.
        """
        self._changed = True
        entry = self._get(key)
        if entry.managed:
            self._batch()[key] = attrs.evolve(entry, excluded=True)

    def check_plan(self, plan: Plan) -> Mapping[str, str]:
        """The records Elevo would refuse if ``plan`` were applied now, ``{key: reason}``.

        Replays the plan's actions on a copy of the published snapshot with the methods
        :func:`lucca_sync.apply` calls, then checks the file that would result as
        :meth:`commit` does: values, e-mails, usernames and registration numbers unique
        (trimmed, case-insensitive, NFC), managers that are rows of the file. Once, without
        taking a refused manager's reports along: the planner re-attaches them. Writes nothing.

        Raises:
            SinkError: The state file is unreadable or of another format version.
        """
        if not (plan.creates or plan.updates or plan.reactivations or plan.excludes
                or plan.suspensions):  # fmt: skip
            return {}  # the file would not change: commit() would deliver nothing
        published = self._load()
        saved, changed = self._working, self._changed
        self._working = {key: attrs.evolve(entry, origin=key) for key, entry in published.items()}
        refused: dict[str, str] = {}
        adoptions = [update for update in plan.updates if update.new_key is not None]
        calls: list[tuple[str, Callable[[], None]]] = [
            *((u.new_key or u.key, partial(self.update, u.key, u.values, new_key=u.new_key))
              for u in adoptions),
            *((c.key, partial(self.create, c.key, c.fields)) for c in plan.creates),
            *((r.key, partial(self.reactivate, r.key, r.values)) for r in plan.reactivations),
            *((u.key, partial(self.update, u.key, u.values))
              for u in plan.updates if u.new_key is None),
            *((e.key, partial(self.exclude, e.key)) for e in plan.excludes),
            *((s.key, partial(self.suspend, s.key)) for s in plan.suspensions),
        ]  # fmt: skip
        try:
            for key, call in calls:
                try:
                    call()
                except SinkError as exc:
                    refused.setdefault(key, str(exc))
            working = self._batch()
        finally:
            self._working, self._changed = saved, changed
        full = {key: entry for key, entry in working.items() if _writes_row(entry)}
        targets = set(full) | {key for key, entry in working.items() if _writes_skip(key, entry)}
        for key, reason in _check(full, targets, working, published).items():
            refused.setdefault(key, reason)
        return refused

    def load_sync_state(self) -> Mapping[str, object] | None:
        """The incremental-sync state saved with the current published snapshot, if any.

        The state is kept in ``elevo-sync-state.json`` in the state folder, tagged with the
        digest of the snapshot it was saved with: after a restored or recovered snapshot the
        tags differ, the state is ignored and the next plan reads the whole directory.

        Raises:
            SinkError: The state folder cannot be read.
        """
        self._load()
        path = self._store.folder / SYNC_STATE_NAME
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
        if document.get("snapshot_sha256") != self._published_sha256:
            _log.info("the sync state does not follow the published snapshot; ignored")
            return None
        state: dict[str, object] = document["state"]
        return state

    def save_sync_state(self, state: Mapping[str, object]) -> None:
        """Save ``state`` beside the published snapshot (atomically; nothing is delivered).

        Raises:
            SinkError: The state folder is not writable.
        """
        if self._published is None:
            self._load()
        # Tagged with the snapshot this sink read or committed last (the lock may be released
        # by now: if another run published since, the tags differ and the state is ignored).
        document = {"snapshot_sha256": self._published_sha256, "state": dict(state)}
        data = (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            self._store.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self._store.folder / SYNC_STATE_NAME, data, mode=0o600)
        except OSError as exc:
            raise SinkError(
                f"cannot write the sync state in {self._store.folder} ({exc.strerror})"
            ) from exc

    def load_history(self) -> list[Mapping[str, object]]:
        """The run history kept in ``elevo-history.jsonl`` in the state folder, oldest first.

        The published state records how many runs the history held when it was published;
        a history that is missing, shorter, or has a line that is not a record was lost or
        damaged, and the rolling limits cannot be measured: this raises rather than count
        from zero. :meth:`restart_history` starts a new one, knowingly.

        Raises:
            SinkError: The history file cannot be read, is damaged, or is shorter than the
                published state records.
        """
        expected = self._history_runs
        if self._published is None:
            # Not read by a plan of this sink (lucca-sync history): the count alone, without
            # taking the state lock, which apply gave back when it committed.
            snapshot = self._store.load()
            expected = None if snapshot is None else snapshot.history_runs
        records = self._store.read_history()
        if expected is not None and len(records) < expected:
            found = "missing" if not records else f"holds {len(records)} run(s)"
            raise SinkError(
                f"the run history {self._store.history_path} is {found}, but the published "
                f"state records {expected}: it was deleted, cut or replaced by an "
                f"older copy, or a run could not be recorded. {HISTORY_RECOVERY}"
            )
        return records

    def restart_history(self) -> None:
        """Start a new, empty run history after the old one was lost or damaged.

        The rolling limits of :class:`lucca_sync.Safety` count from zero again: call it only
        once the history cannot be restored from a backup. The old file, if any, is kept as
        ``elevo-history.replaced-<time>.jsonl``.

        Raises:
            SinkError: A batch is open, or the state folder is not writable.
            StateLockedError: Another run holds the state folder.
        """
        if self._working is not None:
            raise SinkError("cannot restart the run history while a batch is open")
        self._lock.acquire(self._lock_timeout)
        try:
            kept = self._store.restart_history()
        except OSError as exc:
            raise SinkError(
                f"cannot restart the run history in {self._store.folder} ({exc.strerror})"
            ) from exc
        finally:
            self._lock.release()
        self._published = None
        _log.warning(
            "started a new run history in %s%s; the rolling limits count from zero",
            self._store.folder,
            "" if kept is None else f" (the previous one is kept as {kept.name})",
        )

    def append_history(self, record: Mapping[str, object]) -> None:
        """Append ``record`` to ``elevo-history.jsonl`` (one line, made durable).

        The published state then records the history's new length (under the state lock).

        Raises:
            SinkError: The state folder is not writable.
        """
        try:
            self._store.append_history(record)
            appended = True
        except OSError as exc:
            appended, failure = False, exc
        # The state records the record too, written or not: a history without it is refused
        # by the next plan (unless the state cannot be written either).
        held = self._lock.held
        self._lock.acquire(self._lock_timeout)
        try:
            runs = len(self._store.read_history()) + (0 if appended else 1)
            self._store.count_history(runs, self._generation)
        except OSError as exc:
            raise SinkError(
                f"cannot record the run history's length in {self._store.folder} ({exc.strerror})"
            ) from exc
        finally:
            if not held:
                self._lock.release()
        if not appended:
            raise SinkError(
                f"cannot write the run history in {self._store.folder} ({failure.strerror}); "
                "the next plan stops until the history is restored or restarted"
            ) from failure

    def seed_from_export(self, path: StrPath) -> int:
        """Seed a sink that has never published with an export of Elevo's directory.

        Same as ``adopt_from`` (see :class:`ElevoSink`), for a sink already built. The seeded
        users are saved with the first published snapshot.

        Returns:
            How many users were read from the export.

        Raises:
            SinkError: The sink has published before (its state is the truth now) or a batch
                is open.
            ConfigurationError: The export is unreadable or ambiguous (see the message).
        """
        published = self._load()
        if self._working is not None or not self._first:
            raise SinkError(
                f"cannot seed from an export: the sink has a state in {self._store.folder} "
                "already, or a batch is open"
            )
        seeded = _seed(Path(path))
        published.update(seeded)
        return len(seeded)

    def rebuild_state(
        self, *, from_file: StrPath | None = None, from_export: StrPath | None = None
    ) -> int:
        """Rebuild a lost, unreadable or mismatched state; nothing is delivered.

        By default from the users file published at the target (the drop folder, the SFTP
        server); with ``from_file``, from a copy of it; with ``from_export``, from an export
        of Elevo's directory (every user unmanaged, as with ``adopt_from``: plan with
        ``match_by`` to take them back). From a file, full rows whose identifier is a Lucca id
        are managed users; other rows are unmanaged (``skip`` rows keep being written, other
        identifiers are adopted again with ``match_by``). The state it replaces, if any, is
        kept as ``elevo-state.replaced-<time>.json``; the incremental sync state is ignored
        from then on (the next plan reads everyone).

        Returns:
            How many users the new state holds.

        Raises:
            SinkError: A batch is open, there is nothing to rebuild from, or the source cannot
                be read.
            ConfigurationError: Both ``from_file`` and ``from_export`` given, or the export is
                unusable.
            StateLockedError: Another run holds the state folder.
        """
        if from_file is not None and from_export is not None:
            raise ConfigurationError("rebuild_state: give from_file or from_export, not both")
        if self._working is not None:
            raise SinkError("cannot rebuild the state while a batch is open; abort() it first")
        self._lock.acquire(self._lock_timeout)
        try:
            published = self._read_published()
            where = self._location() or repr(self._delivery)
            if from_export is not None:
                users = _seed(Path(from_export))
            elif from_file is not None:
                copy = read_copy(Path(from_file))
                users = entries_from_file(copy, where=str(from_file))
                published = published if published is not None else copy
            elif self._recipient is not None:
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
                previous = self._store.load()
            except SinkError:  # unreadable: what is being rebuilt
                previous = None
            snapshot = Snapshot(
                users=users,
                # A new state: plans made against the old one no longer apply.
                generation=(0 if previous is None else previous.generation) + 1,
                # The file at the target is the one the next run compares the state with.
                sha256=None if published is None else hashlib.sha256(published).hexdigest(),
                published_at=now_iso(),
                target=self._location(),
                # The history is not what was lost: it is still checked against its count.
                history_runs=None if previous is None else previous.history_runs,
            )
            try:
                kept = self._store.replace(snapshot)
            except OSError as exc:
                raise SinkError(
                    f"cannot write the Elevo state in {self._store.folder} ({exc.strerror})"
                ) from exc
        finally:
            self._lock.release()
        self._published = None
        _log.warning(
            "rebuilt the Elevo state in %s: %d users (%d managed)%s",
            self._store.folder,
            len(users),
            sum(entry.managed for entry in users.values()),
            "" if kept is None else f"; the previous state is kept as {kept.name}",
        )
        return len(users)

    def redeliver(self) -> None:
        """Deliver the last published snapshot again (after Elevo lost or rejected the file).

        Raises:
            SinkError: Nothing was published yet (an empty file would make Elevo suspend
                everyone), or the delivery failed; see :meth:`commit`.
        """
        self._load()
        if self._first:
            self._release()
            raise SinkError("nothing to redeliver: this sink has never published a snapshot")
        self.begin()
        self._force = True
        self.commit()

    def _release(self) -> None:
        """End of a run: forget the batch and give the state lock back."""
        self._working = None
        self._changed = False
        self._suspended = set()
        self._lock.release()

    def abort(self) -> None:
        """Drop the working copy and release the state lock; nothing is written or delivered."""
        self._release()

    def close(self) -> None:
        """Drop any unfinished batch and release the state lock (also after a plan only)."""
        self.abort()

    def _rekeyed(self, recipient: str | None) -> bool:
        """Whether the published file was encrypted for another key (or none, or was not)."""
        return self._published_sha256 is not None and recipient != self._published_for

    def __enter__(self) -> ElevoSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _log_refusals(reasons: Mapping[str, str]) -> None:
        for key, reason in sorted(reasons.items()):
            _log.warning("Elevo user %s refused: %s", key, reason)

    def commit(self) -> Mapping[str, str]:
        """Validate, write and deliver the complete file, then record it as published.

        Records that Elevo would reject (invalid value, duplicate e-mail, username or
        registration number, manager not in the file) are refused — :meth:`check_plan` shows
        them in the plan already, so this is the last guard: a refused new user is not
        created; a refused known user goes back to its published state and, if it was active,
        is written as a ``skip`` row so that Elevo neither changes nor suspends it.

        A batch that changes nothing delivers nothing, unless the previous run stopped before
        recording its delivery, or the file is now encrypted for another key (or no longer, or
        newly): then the complete file is sent again.

        Returns:
            The refused records, ``{key: reason}``.

        Whatever happens, the batch ends here and the state lock is released.

        Raises:
            SinkError: Nothing was published: the file would have a duplicate identifier or
                leave out an identifier of the last file without a suspension, encrypting it
                failed (never a fallback to clear text), the state folder is unwritable, or the
                delivery failed. The published state is unchanged.
        """
        try:
            return self._publish()
        finally:
            self._release()

    def _publish(self) -> Mapping[str, str]:
        working = self._batch()
        recipient = None if self._recipient is None else self._recipient.identity
        if not self._changed and not self._rekeyed(recipient) and not self._force:
            _log.info("Elevo snapshot unchanged: nothing delivered")
            return {}
        unidentified = [
            key
            for key, entry in working.items()
            if not entry.managed and not entry.suspended and not _writes_skip(key, entry)
        ]
        if unidentified and not self._omit_unidentified:
            # Elevo suspends whoever the file omits: doubt must not become a suspension.
            raise SinkError(
                f"{len(unidentified)} user(s) of the Elevo export have no uniq_identifier and "
                "were not adopted: the file cannot name them, so Elevo may suspend them; "
                "nothing was published. Adopt them (plan(..., match_by=...)), give them a "
                "uniq_identifier in a new export, or build the sink with "
                "omit_unidentified=True once Elevo support confirmed they are outside the sync"
            )
        published = self._load()
        refusals = _settle(working, published)
        rows = _rows(working, refusals.held)
        self._check_nobody_dropped(published, {row.key for row in rows})
        data = render(rows)
        after = {key: attrs.evolve(entry, origin=None) for key, entry in working.items()}
        recipient = None if self._recipient is None else self._recipient.identity
        if after == published and not self._rekeyed(recipient) and not self._force:
            # Nothing new to tell Elevo: sending the same file again would only cost a run.
            self._log_refusals(refusals.reasons)
            _log.info("Elevo snapshot unchanged: nothing delivered")
            return dict(refusals.reasons)
        snapshot = Snapshot(
            users=after,
            sha256=hashlib.sha256(data).hexdigest(),
            published_at=now_iso(),
            encrypted_for=recipient,
            generation=self._generation + 1,
            target=self._location(),
            # Recorded with the snapshot: a history found shorter later was lost or cut.
            history_runs=len(self._store.read_history()),
        )
        if self._recipient is not None:  # raises rather than return clear text
            data = self._recipient.encrypt(data, armor=self._armor)
        try:
            self._store.write_pending(snapshot)
        except OSError as exc:
            raise SinkError(
                f"cannot write the Elevo state in {self._store.folder} ({exc.strerror}); "
                "nothing was delivered"
            ) from exc
        try:
            self._delivery.deliver(self._filename, data)
        except UncertainDeliveryError:
            self._store.discard_pending()
            # The server may hold the new file while the state keeps the previous one: the
            # next commit delivers the recorded state's file even if nothing changed.
            self._force = True
            with contextlib.suppress(OSError):
                self._store.mark_unconfirmed(snapshot.sha256 or "")
            raise
        except BaseException:
            self._store.discard_pending()
            raise
        try:
            self._store.confirm()
        except OSError as exc:
            # Delivered: the pending file stays and is taken as the state by the next run.
            _log.error(
                "delivered sha256 %s but could not record it in %s (%s); the next run "
                "recovers from the pending state file",
                snapshot.sha256,
                self._store.folder,
                exc.strerror,
            )
        with contextlib.suppress(OSError):
            self._store.clear_unconfirmed()
        self._remember(snapshot)
        self._first = False
        self._force = False
        self._log_refusals(refusals.reasons)
        _log.info(
            "published Elevo snapshot: %d rows, %d skip rows, %d refused",
            sum(not row.skip for row in rows),
            sum(row.skip for row in rows),
            len(refusals.reasons),
        )
        return dict(refusals.reasons)

    def _check_nobody_dropped(self, published: Mapping[str, Entry], named: set[str]) -> None:
        """The invariant: an identifier of the last file is in this one, or was suspended."""
        dropped = _in_file(published) - named - self._suspended
        if dropped:
            shown = ", ".join(sorted(dropped, key=row_order)[:5])
            raise SinkError(
                f"the new users file would leave out {len(dropped)} user(s) of the last one "
                f"({shown}{' …' if len(dropped) > 5 else ''}) that no suspension of this batch "
                "accounts for: Elevo would suspend them; nothing was published. This is a bug "
                "of the sink or of the plan: please report it"
            )


def _rows(working: Mapping[str, Entry], held: set[str]) -> list[FileRow]:
    """The file's rows: full rows under each user's identifier, then ``skip`` rows."""
    identifiers = {key: _identifier(key, entry) for key, entry in working.items()}
    rows = []
    for key, entry in working.items():
        if key in held or _writes_skip(key, entry):
            rows.append(FileRow(identifiers[key], skip=True))
        elif _writes_row(entry):
            fields = dict(entry.fields)
            manager = fields.get(MANAGER)
            if manager:
                # Managers are referred to by key; the file names them by identifier.
                fields[MANAGER] = identifiers.get(manager, manager)
            rows.append(FileRow(identifiers[key], fields))
    return rows


def _same(recorded: str, current: str) -> bool:
    """Whether two locations are the same target (an SFTP server may change its port)."""
    return _PORT.sub(r"\1", recorded) == _PORT.sub(r"\1", current)


def _within(state: Path, drop: Path) -> bool:
    state, drop = Path(os.path.abspath(state)), Path(os.path.abspath(drop))
    return state == drop or drop in state.parents


def _seed(path: Path) -> dict[str, Entry]:
    rows = _read_export(path)
    _log.info("seeded the Elevo state with %d users from an export", len(rows))
    return {row.key: Entry(fields=row.fields, managed=False) for row in rows}


@attrs.define
class _Refusals:
    reasons: dict[str, str] = attrs.Factory(dict)
    held: set[str] = attrs.Factory(set)


def _settle(working: dict[str, Entry], published: Mapping[str, Entry]) -> _Refusals:
    """Refuse the records Elevo would reject, until every remaining row is valid.

    A refused record reverts to its published entry (under its published key); when that entry
    was an active row it is *held*: written as a ``skip`` row, so Elevo keeps the user as is.
    Refusing a manager can invalidate its reports, hence the loop.
    """
    result = _Refusals()
    while True:
        full = {
            key: entry
            for key, entry in working.items()
            if _writes_row(entry) and key not in result.held
        }
        targets = set(full) | {
            key for key, entry in working.items() if key in result.held or _writes_skip(key, entry)
        }
        refused = _check(full, targets, working, published)
        if not refused:
            return result
        for key, reason in refused.items():
            result.reasons[key] = reason
            origin = working.pop(key).origin
            if origin is None or origin not in published or origin in working:
                continue
            working[origin] = attrs.evolve(published[origin], origin=origin)
            if _writes_row(published[origin]):
                result.held.add(origin)


def _check(
    full: Mapping[str, Entry],
    targets: set[str],
    working: Mapping[str, Entry],
    published: Mapping[str, Entry],
) -> dict[str, str]:
    refused: dict[str, str] = {}
    for key, entry in full.items():
        reason = check_record(key, entry.fields)
        if reason is not None:
            refused[key] = reason
    for column in _UNIQUE:
        # Users Elevo holds without a full row still own their e-mail and username there.
        owners = {
            _fold(entry.fields.get(column)): key
            for key, entry in working.items()
            if key not in full and _fold(entry.fields.get(column))
        }
        groups: dict[str, list[str]] = {}
        for key, entry in full.items():
            value = _fold(entry.fields.get(column))
            if value:
                groups.setdefault(value, []).append(key)
        for value, keys in groups.items():
            if value in owners:
                for key in keys:
                    refused.setdefault(
                        key,
                        f"{column} is already used by Elevo user {owners[value]} "
                        "(compared case-insensitively)",
                    )
                continue
            if len(keys) == 1:
                continue
            # The user that already had this value in Elevo keeps it; the newcomers are refused.
            keepers = [key for key in keys if _published_with(published, full[key], column, value)]
            keep = keepers[0] if len(keepers) == 1 else None
            for key in keys:
                if key != keep:
                    other = next(k for k in keys if k != key)
                    refused.setdefault(
                        key,
                        f"{column} is also used by user {other} (Elevo needs it unique, "
                        "compared case-insensitively)",
                    )
    by_identifier: dict[str, list[str]] = {}
    for key in targets:
        by_identifier.setdefault(_identifier(key, working[key]), []).append(key)
    for identifier, keys in by_identifier.items():
        if len(keys) < 2:
            continue
        # An adopted user kept its identifier; a newcomer whose Lucca id is that identifier
        # would merge into them (or make Elevo cancel the file): the newcomer is refused.
        for key in keys:
            if key in full and not _published_as(published, full[key], identifier):
                other = next(k for k in keys if k != key)
                refused.setdefault(
                    key,
                    f"uniq_identifier {identifier} is already the identifier of Elevo user "
                    f"{other} (kept when it was adopted)",
                )
    for key, entry in full.items():
        manager = entry.fields.get(MANAGER)
        if manager and manager not in targets and key not in refused:
            refused[key] = (
                f"manager_uniq_identifier {manager} is not a row of the file "
                "(manager not synced, refused or suspended)"
            )
    return refused


def _published_as(published: Mapping[str, Entry], entry: Entry, identifier: str) -> bool:
    before = published.get(entry.origin) if entry.origin is not None else None
    return before is not None and _identifier(entry.origin or "", before) == identifier


def _published_with(published: Mapping[str, Entry], entry: Entry, column: str, value: str) -> bool:
    before = published.get(entry.origin) if entry.origin is not None else None
    return before is not None and _writes_row(before) and _fold(before.fields.get(column)) == value
