"""MemorySink: an in-memory, inspectable Sink for tests and examples."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, Literal, get_args

import attrs

from lucca_sync.exceptions import SinkError
from lucca_sync.sinks import Sink, TargetUser

__all__ = ["FailingOperation", "MemorySink", "Operation", "OperationName"]

#: The calls :meth:`MemorySink.fail_on` can make fail (commit has :meth:`MemorySink.fail_commit`).
FailingOperation = Literal["begin", "create", "update", "reactivate", "suspend", "exclude"]
#: The name of an :class:`Operation`: every call the sink logs.
OperationName = Literal[
    "begin", "create", "update", "reactivate", "suspend", "exclude", "commit", "abort"
]

_FAILING: Final[tuple[str, ...]] = get_args(FailingOperation)


def _frozen(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Operation:
    """One call a :class:`MemorySink` received.

    Args:
        name: ``"begin"``, ``"create"``, ``"update"``, ``"reactivate"``, ``"suspend"``,
            ``"exclude"``, ``"commit"`` or ``"abort"``.
        key: The user concerned (``None`` for begin/commit/abort).
        fields: The fields or changes passed (empty for the others).
        new_key: The adoption key of an update.

    Raises:
        ValueError: ``name`` is none of those (so a misspelt expected operation fails loudly).
    """

    name: OperationName = attrs.field(validator=attrs.validators.in_(get_args(OperationName)))
    key: str | None = None
    fields: Mapping[str, str | None] = attrs.field(factory=dict, converter=_frozen, hash=False)
    new_key: str | None = None

    def __repr__(self) -> str:
        return f"Operation({self.name!r}, key={self.key!r}, fields={sorted(self.fields)!r})"


class MemorySink(Sink):
    """A sink that keeps its users in a dict: fast, inspectable, with failure injection.

    Outside a batch each operation is visible at once. Between :meth:`begin` and
    :meth:`commit` changes are visible too (so ``users()`` reflects them), but :meth:`abort`
    rolls them back, and records refused at commit (:meth:`refuse_on_commit`) are rolled back
    individually, as a store that publishes at once would do.

    Args:
        users: Initial users (e.g. unmanaged users created by hand, for adoption tests).
        accepted_fields: When given, :meth:`accepts_field` accepts only these target keys and
            writes with other keys raise :class:`SinkError`.

    Attributes:
        users_by_key: The current users, by key.
        log: Every call received, in order (:class:`Operation`).
        sync_state: The document last saved by :meth:`save_sync_state` (``None`` at first).
        history: The run records given to :meth:`append_history`, oldest first.
    """

    def __init__(
        self,
        users: Iterable[TargetUser] = (),
        *,
        accepted_fields: Iterable[str] | None = None,
    ) -> None:
        self.users_by_key: dict[str, TargetUser] = {}
        """The current users, by key."""
        for user in users:
            if user.key in self.users_by_key:
                raise ValueError(f"MemorySink: duplicate initial key {user.key!r}")
            self.users_by_key[user.key] = user
        self.log: list[Operation] = []
        """Every call received, in order (:class:`Operation`)."""
        self._accepted = None if accepted_fields is None else frozenset(accepted_fields)
        self._failures: dict[tuple[FailingOperation, str | None], list[BaseException]] = {}
        self._refusals: dict[str, str] = {}
        self._commit_failure: SinkError | None = None
        self._snapshot: dict[str, TargetUser] | None = None
        self.sync_state: Mapping[str, object] | None = None
        """The document last saved by :meth:`save_sync_state` (``None`` at first)."""
        self.history: list[Mapping[str, object]] = []
        """The run records given to :meth:`append_history`, oldest first."""
        # The generation, and the users it was counted for: any change to the users, made
        # through the Sink API or by editing users_by_key, is a new generation.
        self._generation = 0
        self._counted: dict[str, TargetUser] = dict(self.users_by_key)

    def __repr__(self) -> str:
        return f"MemorySink(users={len(self.users_by_key)})"

    # -- failure injection ---------------------------------------------------------------------

    def fail_on(
        self,
        operation: FailingOperation,
        key: str | None = None,
        *,
        times: int = 1,
        error: BaseException | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``operation`` (for ``key``, or any key) fail.

        Args:
            operation: The method: ``"create"``, ``"update"``, ``"reactivate"``, ``"suspend"``,
                ``"exclude"`` or ``"begin"`` (for ``commit``, see :meth:`fail_commit`).
            key: Only calls for this key fail; ``None`` for every key.
            times: How many calls fail before the operation works again (at least 1).
            error: What to raise; defaults to ``SinkError(key=key)``.

        Raises:
            ValueError: ``operation`` is not one of those names (a typo would otherwise inject
                no fault at all, and the test would pass without testing anything), or
                ``times`` is below 1.
        """
        if operation not in _FAILING:
            close = difflib.get_close_matches(str(operation), _FAILING, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"MemorySink.fail_on: unknown operation {operation!r}; {hint}"
                f"use one of {', '.join(map(repr, _FAILING))}"
            )
        if times < 1:
            raise ValueError(f"MemorySink.fail_on: times must be at least 1, not {times!r}")
        self._failures.setdefault((operation, key), []).extend(
            [error or SinkError(f"injected {operation} failure", key=key)] * times
        )

    def refuse_on_commit(self, key: str, reason: str = "refused by the store") -> None:
        """Make the next :meth:`commit` refuse user ``key`` (its changes are rolled back)."""
        self._refusals[key] = reason

    def fail_commit(self, message: str = "injected commit failure") -> None:
        """Make the next :meth:`commit` raise :class:`SinkError` (nothing published)."""
        self._commit_failure = SinkError(message)

    def _maybe_fail(self, operation: FailingOperation, key: str | None) -> None:
        for selector in ((operation, key), (operation, None)):
            pending = self._failures.get(selector)
            if pending:
                raise pending.pop(0)

    # -- Sink ----------------------------------------------------------------------------------

    def accepts_field(self, name: str) -> bool:
        """Whether ``name`` is accepted (every key unless ``accepted_fields`` was given)."""
        return self._accepted is None or name in self._accepted

    def users(self) -> list[TargetUser]:
        """The current users, sorted by key."""
        return [self.users_by_key[key] for key in sorted(self.users_by_key)]

    def generation(self) -> int:
        """0 at first, then one more each time the users are found changed since last asked.

        Any change counts, whether made through the :class:`Sink` methods or by editing
        :attr:`users_by_key` directly (as tests do to simulate an edit in the target).
        """
        if self.users_by_key != self._counted:
            self._generation += 1
            self._counted = dict(self.users_by_key)
        return self._generation

    def _check_fields(self, key: str, fields: Mapping[str, str | None]) -> None:
        for name, value in fields.items():
            if not self.accepts_field(name):
                raise SinkError(f"unknown target field {name!r}", key=key)
            if value is not None and not isinstance(value, str):
                raise SinkError(f"field {name!r} must be a string or None", key=key)

    def _existing(self, key: str) -> TargetUser:
        try:
            return self.users_by_key[key]
        except KeyError:
            raise SinkError(f"no user with key {key!r} in the memory sink", key=key) from None

    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        """Create (or, idempotently, overwrite) an active managed user."""
        self.log.append(Operation("create", key, fields))
        self._maybe_fail("create", key)
        self._check_fields(key, fields)
        self.users_by_key[key] = TargetUser(key=key, fields=dict(fields))

    def update(
        self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
    ) -> None:
        """Change fields; un-exclude; adopt under ``new_key`` when given."""
        self.log.append(Operation("update", key, changes, new_key))
        self._maybe_fail("update", key)
        self._check_fields(key, changes)
        user = self._existing(key)
        fields = {**user.fields, **changes}
        if new_key is not None and new_key != key:
            if new_key in self.users_by_key:
                raise SinkError(f"cannot adopt under key {new_key!r}: it is taken", key=key)
            del self.users_by_key[key]
        final_key = key if new_key is None else new_key
        if new_key is not None and self.key_field in fields:
            fields[self.key_field] = new_key
        self.users_by_key[final_key] = attrs.evolve(
            user,
            key=final_key,
            fields=fields,
            excluded=False,
            managed=user.managed or new_key is not None,
        )

    def suspend(self, key: str) -> None:
        """Suspend a user (idempotent)."""
        self.log.append(Operation("suspend", key))
        self._maybe_fail("suspend", key)
        user = self._existing(key)
        self.users_by_key[key] = attrs.evolve(user, suspended=True)

    def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
        """Reactivate a user with ``changes``; it is back in scope."""
        self.log.append(Operation("reactivate", key, changes))
        self._maybe_fail("reactivate", key)
        self._check_fields(key, changes)
        user = self._existing(key)
        self.users_by_key[key] = attrs.evolve(
            user, fields={**user.fields, **changes}, suspended=False, excluded=False
        )

    def exclude(self, key: str) -> None:
        """Mark a user out of scope; its fields stay as they are."""
        self.log.append(Operation("exclude", key))
        self._maybe_fail("exclude", key)
        user = self._existing(key)
        self.users_by_key[key] = attrs.evolve(user, excluded=True)

    def begin(self) -> None:
        """Remember the current state, for abort and commit refusals."""
        self.log.append(Operation("begin"))
        self._maybe_fail("begin", None)
        self._snapshot = dict(self.users_by_key)

    def commit(self) -> Mapping[str, str]:
        """Publish the batch; refused records are rolled back and returned."""
        self.log.append(Operation("commit"))
        failure, self._commit_failure = self._commit_failure, None
        if failure is not None:
            raise failure
        refusals, self._refusals = self._refusals, {}
        snapshot = self._snapshot or {}
        for key in refusals:
            self.users_by_key.pop(key, None)
            if key in snapshot:
                self.users_by_key[key] = snapshot[key]
        self._snapshot = None
        return refusals

    def abort(self) -> None:
        """Roll back everything since :meth:`begin`."""
        self.log.append(Operation("abort"))
        if self._snapshot is not None:
            self.users_by_key = self._snapshot
            self._snapshot = None

    def load_sync_state(self) -> Mapping[str, object] | None:
        """The document last saved (kept in :attr:`sync_state`)."""
        return self.sync_state

    def save_sync_state(self, state: Mapping[str, object]) -> None:
        """Keep ``state`` in :attr:`sync_state` (not logged as an operation)."""
        self.sync_state = dict(state)

    def load_history(self) -> Sequence[Mapping[str, object]] | None:
        """The run records kept in :attr:`history` (a copy of the list)."""
        return list(self.history)

    def append_history(self, record: Mapping[str, object]) -> None:
        """Add ``record`` to :attr:`history` (not logged as an operation)."""
        self.history.append(dict(record))

    @property
    def operations(self) -> list[Operation]:
        """The write operations received (begin, commit and abort left out)."""
        return [op for op in self.log if op.name not in ("begin", "commit", "abort")]
