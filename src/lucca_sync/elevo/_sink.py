"""ElevoSink: Elevo as a sync target, through its users snapshot file.

One class, `ElevoSink`, implementing the `Sink` lifecycle and nothing else: it reads the last
published snapshot (``_state.py``, trusted or refused by ``_recovery.py``), opens a batch
(``_batch.py``), checks the file (``_refusals.py``), renders its rows (``_rows.py``,
``_csv.py``), encrypts and delivers it (``_encryption.py``, ``_delivery.py``) and records it,
all under the state folder's lock (``_lock.py``). It is longer than most modules because the
public class documents every step a user can call; each step's work lives in the module named.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from lucca_sync.elevo._atomic import probe_folder
from lucca_sync.elevo._batch import Batch
from lucca_sync.elevo._csv import KEY, MANAGER, accepts_field, render, row_order
from lucca_sync.elevo._delivery import (
    Delivery,
    DirectoryDelivery,
    SftpDelivery,
    UncertainDeliveryError,
    require_paramiko,
)
from lucca_sync.elevo._encryption import Encryption, RecipientKey
from lucca_sync.elevo._lock import StateLock
from lucca_sync.elevo._recovery import location, read_memory, rebuild, seed
from lucca_sync.elevo._refusals import FileCheck
from lucca_sync.elevo._rows import in_file, rows, writes_skip
from lucca_sync.elevo._state import HISTORY_RECOVERY, Entry, Snapshot, StateStore, now_iso
from lucca_sync.exceptions import ConfigurationError, SinkError
from lucca_sync.sinks import Sink, TargetUser

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import Plan

__all__ = ["ElevoSink"]

_log = logging.getLogger("lucca_sync.elevo")

StrPath = str | os.PathLike[str]


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
        self._published: dict[str, Entry] | None = None
        # The checks of a file over the published snapshot (its index is kept between uses).
        self._file_check: FileCheck | None = None
        # Records the history held at the last publication (None: not known, taken as it is).
        self._history_runs: int | None = None
        # Whether elevo-history.count accompanies the published state (a missing one is lost).
        self._history_counted = False
        # Users the last commit wrote as skip rows (None: not recorded, every row is checked).
        self._published_held: frozenset[str] | None = frozenset()
        # The digest of the published snapshot: ties the sync state to the snapshot it follows.
        self._published_sha256: str | None = None
        # Publications so far, as recorded in the state (see generation()).
        self._generation = 0
        # The open batch; one that changed nothing (a no-op run) is neither checked, nor
        # rendered, nor compared entry by entry.
        self._working: Batch | None = None
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
        self._history_counted = snapshot.history_counted
        self._published_held = snapshot.held

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
        return location(self._delivery, self._filename)

    def _read_memory(self) -> dict[str, Entry]:
        """Read the state, and refuse it when it cannot be the truth (see the class docstring)."""
        snapshot = read_memory(self._store, self._delivery, self._filename)
        if snapshot is None:
            self._first = True
            self._published_sha256 = None
            self._generation = 0
            self._history_runs = None
            self._history_counted = False
            self._published_held = frozenset()
            return {} if self._adopt_from is None else seed(self._adopt_from)
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
        # The entries are the target users (an Entry is a TargetUser): nothing to copy.
        return list(self._load().values())

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
        self._working = Batch(published)

    def _batch(self) -> Batch:
        if self._working is None:
            self.begin()
        assert self._working is not None  # noqa: S101 - set by begin()
        return self._working

    def _checks(self, published: dict[str, Entry]) -> FileCheck:
        """The checks of a file over ``published``, kept while it stays the published one."""
        if self._file_check is None or self._file_check.published is not published:
            self._file_check = FileCheck(published, self._published_held)
        return self._file_check

    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        """Add ``key`` as an active, managed user (a row in the next file)."""
        self._batch().create(key, fields)

    def update(
        self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
    ) -> None:
        """Change fields of ``key``; with ``new_key``, adopt the user under that key.

        An excluded user is back in scope; an unmanaged user becomes managed.
        """
        self._batch().update(key, changes, new_key=new_key)

    def suspend(self, key: str) -> None:
        """Leave ``key`` out of the next file, which makes Elevo suspend the user."""
        self._batch().suspend(key)

    def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
        """Put ``key`` back in the next file (Elevo reactivates it) with ``changes``."""
        self._batch().reactivate(key, changes)

    def exclude(self, key: str) -> None:
        """Write ``key`` as a ``skip`` row: Elevo keeps the user as is and receives no data.

        The last published fields stay in the state. Unmanaged users are protected already.
        """
        self._batch().exclude(key)

    def check_plan(self, plan: Plan) -> Mapping[str, str]:
        """The records Elevo would refuse if ``plan`` were applied now, ``{key: reason}``.

        Replays the plan's actions on a copy-on-write batch over the published snapshot, as
        :func:`lucca_sync.apply` would, then checks the file that would result as
        :meth:`commit` does — the users the plan touches and those whose row they can affect:
        values, e-mails, usernames and registration numbers unique (trimmed,
        case-insensitive, NFC), managers that are rows of the file. Once, without taking a
        refused manager's reports along: the planner re-attaches them. Writes nothing.

        Raises:
            SinkError: The state file is unreadable or of another format version.
        """
        if not (plan.creates or plan.updates or plan.reactivations or plan.excludes
                or plan.suspensions):  # fmt: skip
            return {}  # the file would not change: commit() would deliver nothing
        published = self._load()
        batch = Batch(published)
        refused: dict[str, str] = {}
        adoptions = [update for update in plan.updates if update.new_key is not None]
        calls: list[tuple[str, Callable[[], None]]] = [
            *((u.new_key or u.key, partial(batch.update, u.key, u.values, new_key=u.new_key))
              for u in adoptions),
            *((c.key, partial(batch.create, c.key, c.fields)) for c in plan.creates),
            *((r.key, partial(batch.reactivate, r.key, r.values)) for r in plan.reactivations),
            *((u.key, partial(batch.update, u.key, u.values))
              for u in plan.updates if u.new_key is None),
            *((e.key, partial(batch.exclude, e.key)) for e in plan.excludes),
            *((s.key, partial(batch.suspend, s.key)) for s in plan.suspensions),
        ]  # fmt: skip
        for key, call in calls:
            try:
                call()
            except SinkError as exc:
                refused.setdefault(key, str(exc))
        for key, reason in self._checks(published).check(batch).items():
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
        return self._store.load_sync_state(self._published_sha256)

    def save_sync_state(self, state: Mapping[str, object]) -> None:
        """Save ``state`` beside the published snapshot (atomically; nothing is delivered).

        Raises:
            SinkError: The state folder is not writable.
        """
        if self._published is None:
            self._load()
        # Tagged with the snapshot this sink read or committed last (the lock may be released
        # by now: if another run published since, the tags differ and the state is ignored).
        try:
            self._store.save_sync_state(self._published_sha256, state)
        except OSError as exc:
            raise SinkError(
                f"cannot write the sync state in {self._store.folder} ({exc.strerror})"
            ) from exc

    def load_history(self) -> list[Mapping[str, object]]:
        """The run history kept in ``elevo-history.jsonl`` in the state folder, oldest first.

        The state folder records how many runs the history held after the last recorded run
        (``elevo-history.count``, and the published state at each publication); a history
        that is missing, shorter, or has a line that is not a record was lost or
        damaged, and the rolling limits cannot be measured: this raises rather than count
        from zero. :meth:`restart_history` starts a new one, knowingly.

        Raises:
            SinkError: The history file cannot be read, is damaged, or is shorter than the
                state folder records.
        """
        expected = self._history_runs
        if self._published is None:
            # Not read by a plan of this sink (lucca-sync history): the count alone, without
            # taking the state lock, which apply gave back when it committed.
            snapshot = self._store.load()
            expected = None if snapshot is None else snapshot.history_runs
            counted = snapshot is not None and snapshot.history_counted
        else:
            counted = self._history_counted
        expected = self._store.expected_runs(expected, counted_file=counted)
        records = self._store.read_history()
        if expected is not None and len(records) < expected:
            found = "is missing" if not records else f"holds {len(records)} run(s)"
            raise SinkError(
                f"the run history {self._store.history_path} {found}, but the state folder "
                f"records {expected}: it was deleted, cut or replaced by an "
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

        The state folder then records the history's new length (under the state lock).

        Raises:
            SinkError: The state folder is not writable.
        """
        try:
            self._store.append_history(record)
            appended = True
        except OSError as exc:
            appended, failure = False, exc
        # The count includes the record, written or not: a history without it is refused by
        # the next plan (unless the count cannot be written either).
        held = self._lock.held
        self._lock.acquire(self._lock_timeout)
        try:
            runs = len(self._store.read_history()) + (0 if appended else 1)
            self._store.count_history(runs)
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
        seeded = seed(Path(path))
        published.update(seeded)
        self._file_check = None  # its index, if built, is of the snapshot before the seed
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
            users, kept = rebuild(
                self._store,
                self._delivery,
                self._filename,
                encrypted=self._recipient is not None,
                from_file=None if from_file is None else Path(from_file),
                from_export=None if from_export is None else Path(from_export),
            )
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

    def _refuse_unidentified(self, batch: Batch) -> None:
        """Elevo suspends whoever the file omits: doubt must not become a suspension."""
        unidentified = [
            key
            for key, entry in batch.items()
            if not entry.managed and not entry.suspended and not writes_skip(entry)
        ]
        if unidentified and not self._omit_unidentified:
            raise SinkError(
                f"{len(unidentified)} user(s) of the Elevo export have no uniq_identifier and "
                "were not adopted: the file cannot name them, so Elevo may suspend them; "
                "nothing was published. Adopt them (plan(..., match_by=...)), give them a "
                "uniq_identifier in a new export, or build the sink with "
                "omit_unidentified=True once Elevo support confirmed they are outside the sync"
            )

    def _count_history(self) -> int:
        """The history's count for a publication to record, written to the count file first.

        Never lower than what the state folder already records (the published state, the
        count file): a publication must not make a lost or cut history pass. A damaged count
        file is left as it is, for the next plan to report; a delivery does not need it.
        """
        runs = max(len(self._store.read_history()), self._history_runs or 0)
        try:
            counted = self._store.counted()
        except SinkError:
            return runs
        runs = max(runs, counted or 0)
        try:
            self._store.count_history(runs)
        except OSError as exc:
            raise SinkError(
                f"cannot write the run history's count in {self._store.folder} ({exc.strerror}); "
                "nothing was delivered"
            ) from exc
        return runs

    def _publish(self) -> Mapping[str, str]:
        batch = self._batch()
        recipient = None if self._recipient is None else self._recipient.identity
        if not batch.changed and not self._rekeyed(recipient) and not self._force:
            _log.info("Elevo snapshot unchanged: nothing delivered")
            return {}
        self._refuse_unidentified(batch)
        published = self._load()
        refusals = self._checks(published).settle(batch)
        written = rows(batch.items(), refusals.held)
        self._check_nobody_dropped(published, {row.key for row in written}, batch.suspended)
        held = frozenset(refusals.held)
        same_file = not batch.differs() and held == (self._published_held or frozenset())
        if same_file and not self._rekeyed(recipient) and not self._force:
            # Nothing new to tell Elevo: sending the same file again would only cost a run.
            self._log_refusals(refusals.reasons)
            _log.info("Elevo snapshot unchanged: nothing delivered")
            return dict(refusals.reasons)
        data = render(written)
        after = batch.after()
        runs = self._count_history()
        snapshot = Snapshot(
            users=after,
            sha256=hashlib.sha256(data).hexdigest(),
            published_at=now_iso(),
            encrypted_for=recipient,
            generation=self._generation + 1,
            target=self._location(),
            # Recorded with the snapshot (and in the count file, written first): a history
            # found shorter later was lost or cut.
            history_runs=runs,
            history_counted=True,
            held=held,
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
            sum(not row.skip for row in written),
            sum(row.skip for row in written),
            len(refusals.reasons),
        )
        return dict(refusals.reasons)

    @staticmethod
    def _check_nobody_dropped(
        published: Mapping[str, Entry], named: set[str], suspended: set[str]
    ) -> None:
        """The invariant: an identifier of the last file is in this one, or was suspended."""
        dropped = in_file(published) - named - suspended
        if dropped:
            shown = ", ".join(sorted(dropped, key=row_order)[:5])
            raise SinkError(
                f"the new users file would leave out {len(dropped)} user(s) of the last one "
                f"({shown}{' …' if len(dropped) > 5 else ''}) that no suspension of this batch "
                "accounts for: Elevo would suspend them; nothing was published. This is a bug "
                "of the sink or of the plan: please report it"
            )


def _within(state: Path, drop: Path) -> bool:
    state, drop = Path(os.path.abspath(state)), Path(os.path.abspath(drop))
    return state == drop or drop in state.parents
