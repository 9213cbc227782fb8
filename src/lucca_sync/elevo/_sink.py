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
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from lucca_sync.elevo._atomic import probe_folder, write_atomic
from lucca_sync.elevo._csv import KEY, MANAGER, FileRow, accepts_field, check_record, render
from lucca_sync.elevo._csv import read_export as _read_export
from lucca_sync.elevo._delivery import (
    Delivery,
    DirectoryDelivery,
    SftpDelivery,
    UncertainDeliveryError,
    require_paramiko,
)
from lucca_sync.elevo._encryption import Encryption, RecipientKey
from lucca_sync.elevo._state import Entry, Snapshot, StateStore, now_iso
from lucca_sync.exceptions import ConfigurationError, SinkError
from lucca_sync.sinks import Sink, TargetUser

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import Plan

__all__ = ["ElevoSink"]

_log = logging.getLogger("lucca_sync.elevo")
# Elevo needs these unique across its users (compared as _fold does).
_UNIQUE = ("email", "username", "registration_number")
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
    return entry.fields.get(KEY) == key


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

    Raises:
        ConfigurationError: A bad file name, the state folder is in the drop folder, or the
            encryption key cannot be used (see :meth:`Encryption.load`).
    """

    key_field = KEY
    manager_field = MANAGER

    def __init__(
        self,
        delivery: Delivery,
        *,
        state_dir: StrPath,
        filename: str | None = None,
        adopt_from: StrPath | None = None,
        omit_unidentified: bool = False,
        encryption: Encryption | None = None,
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
        self._published: dict[str, Entry] | None = None
        # The digest of the published snapshot: ties the sync state to the snapshot it follows.
        self._published_sha256: str | None = None
        # Publications so far, as recorded in the state (see generation()).
        self._generation = 0
        self._working: dict[str, Entry] | None = None
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

    def _load(self) -> dict[str, Entry]:
        if self._published is None:
            snapshot = self._store.load()
            if snapshot is not None:
                self._remember(snapshot)
            elif self._adopt_from is not None:
                self._published = _seed(self._adopt_from)
            else:
                self._published = {}
        assert self._published is not None  # noqa: S101 - set above
        return self._published

    def users(self) -> Iterable[TargetUser]:
        """The users of the last published snapshot (plus an adoption export's, at first).

        Raises:
            SinkError: The state file is unreadable or of another format version.
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
        try:
            if self._store.recover() or self._store.unconfirmed():
                self._force = True
        except OSError as exc:
            raise SinkError(
                f"cannot update the Elevo state in {self._store.folder}: {exc}"
            ) from exc
        published = self._load()
        self._working = {key: attrs.evolve(entry, origin=key) for key, entry in published.items()}

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
        return {**base, **changes, KEY: key}

    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        """Add ``key`` as an active, managed user (a row in the next file)."""
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
        entry = self._get(key)
        if not entry.managed:
            raise SinkError(f"Elevo user {key} is not managed by the sync", key=key)
        self._batch()[key] = attrs.evolve(entry, suspended=True, excluded=False)

    def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
        """Put ``key`` back in the next file (Elevo reactivates it) with ``changes``."""
        entry = self._get(key)
        self._batch()[key] = Entry(
            fields=self._fields(key, entry.fields, changes), origin=entry.origin
        )

    def exclude(self, key: str) -> None:
        """Write ``key`` as a ``skip`` row: Elevo keeps the user as is and receives no data.

        The last published fields stay in the state. Unmanaged users are protected already.
        """
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
        published = self._load()
        saved = self._working
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
            self._working = saved
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
        self._load()
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

        Raises:
            SinkError: The history file cannot be read.
        """
        return self._store.read_history()

    def append_history(self, record: Mapping[str, object]) -> None:
        """Append ``record`` to ``elevo-history.jsonl`` (one line, made durable).

        Raises:
            SinkError: The state folder is not writable.
        """
        try:
            self._store.append_history(record)
        except OSError as exc:
            raise SinkError(
                f"cannot write the run history in {self._store.folder} ({exc.strerror})"
            ) from exc

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
        if self._working is not None or self._store.load() is not None:
            raise SinkError(
                f"cannot seed from an export: the sink has a state in {self._store.folder} "
                "already, or a batch is open"
            )
        seeded = _seed(Path(path))
        self._published = {**(self._published or {}), **seeded}
        return len(seeded)

    def redeliver(self) -> None:
        """Deliver the last published snapshot again (after Elevo lost or rejected the file).

        Raises:
            SinkError: Nothing was published yet (an empty file would make Elevo suspend
                everyone), or the delivery failed; see :meth:`commit`.
        """
        if self._store.load() is None:
            raise SinkError("nothing to redeliver: this sink has never published a snapshot")
        self.begin()
        self._force = True
        self.commit()

    def abort(self) -> None:
        """Drop the working copy; nothing is written or delivered."""
        self._working = None

    def close(self) -> None:
        """Drop any unfinished batch. Deliveries hold no open connection between commits."""
        self.abort()

    def _rekeyed(self, recipient: str | None) -> bool:
        """Whether the published file was encrypted for another key (or none, or was not)."""
        return self._published_sha256 is not None and recipient != self._published_for

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

        Raises:
            SinkError: Nothing was published: the file would have a duplicate identifier,
                encrypting it failed (never a fallback to clear text), the state folder is
                unwritable, or the delivery failed. The published state is unchanged.
        """
        working = self._batch()
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
        full = {key: entry for key, entry in working.items() if _writes_row(entry)}
        held = refusals.held
        rows = [FileRow(key, entry.fields) for key, entry in full.items() if key not in held]
        rows += [
            FileRow(key, skip=True)
            for key, entry in working.items()
            if key in held or _writes_skip(key, entry)
        ]
        data = render(rows)
        after = {key: attrs.evolve(entry, origin=None) for key, entry in working.items()}
        recipient = None if self._recipient is None else self._recipient.identity
        if after == published and not self._rekeyed(recipient) and not self._force:
            # Nothing new to tell Elevo: sending the same file again would only cost a run.
            self._working = None
            self._log_refusals(refusals.reasons)
            _log.info("Elevo snapshot unchanged: nothing delivered")
            return dict(refusals.reasons)
        snapshot = Snapshot(
            users=after,
            sha256=hashlib.sha256(data).hexdigest(),
            published_at=now_iso(),
            encrypted_for=recipient,
            generation=self._generation + 1,
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
        self._working = None
        self._force = False
        self._log_refusals(refusals.reasons)
        _log.info(
            "published Elevo snapshot: %d rows, %d skip rows, %d refused",
            sum(not row.skip for row in rows),
            sum(row.skip for row in rows),
            len(refusals.reasons),
        )
        return dict(refusals.reasons)


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
    for key, entry in full.items():
        manager = entry.fields.get(MANAGER)
        if manager and manager not in targets and key not in refused:
            refused[key] = (
                f"manager_uniq_identifier {manager} is not a row of the file "
                "(manager not synced, refused or suspended)"
            )
    return refused


def _published_with(published: Mapping[str, Entry], entry: Entry, column: str, value: str) -> bool:
    before = published.get(entry.origin) if entry.origin is not None else None
    return before is not None and _writes_row(before) and _fold(before.fields.get(column)) == value
