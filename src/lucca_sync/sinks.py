"""The abstract target of a sync: what a store must implement, and nothing more.

A sink reports the users it holds and carries out single operations on them. Everything else —
reading Lucca, rules, mapping, diffing, ordering managers first, safety limits, retries and
reporting — is done by :func:`lucca_sync.plan` and :func:`lucca_sync.apply`.

Users are identified by their *key*: the value of the sink's ``key_field`` in the mapped record
(for Elevo, ``uniq_identifier`` = the Lucca id as text). Field values are strings or ``None``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

import attrs

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import Plan

__all__ = ["Sink", "TargetUser"]


def _frozen_fields(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@attrs.frozen
class TargetUser:
    """A user as the target currently holds it.

    Args:
        key: The stable identifier in the target (the value of ``Sink.key_field``).
        fields: The target's current values, keyed like the mapping's output.
        suspended: The user exists but is suspended (deactivated).
        managed: The sync owns this user. Unmanaged users (created by hand in the target) are
            never suspended or changed, except when a plan *adopts* one through a fallback match.
        excluded: The sync marked this user as out of scope and leaves it untouched
            (``on_excluded="leave"``); see :meth:`Sink.exclude`.
    """

    key: str
    fields: Mapping[str, str | None] = attrs.field(
        factory=dict, converter=_frozen_fields, hash=False
    )
    suspended: bool = False
    managed: bool = True
    excluded: bool = False

    def __repr__(self) -> str:
        return (
            f"TargetUser(key={self.key!r}, suspended={self.suspended!r}, "
            f"managed={self.managed!r}, excluded={self.excluded!r})"
        )


class Sink(abc.ABC):
    """Base class of every sync target.

    Implement :meth:`users`, :meth:`create`, :meth:`update`, :meth:`suspend` and
    :meth:`reactivate`. Stores that publish everything at once (a snapshot file) also override
    :meth:`begin` and :meth:`commit`; :meth:`abort` undoes an unfinished batch.

    :func:`lucca_sync.apply` drives a sink in this order:

    1. :meth:`begin`;
    2. :meth:`create`, :meth:`update`, :meth:`reactivate`, :meth:`exclude` and :meth:`suspend`,
       one call per action, managers before their reports;
    3. :meth:`commit`, which returns the records refused, by key; or :meth:`abort` if ``apply``
       stops early.

    Every method signals failure by raising :class:`lucca_sync.exceptions.SinkError`
    (with ``key`` set when one record is concerned); any other exception is a bug in the sink
    and is wrapped by ``apply``. Operations must be idempotent: applying the same create twice,
    or suspending a suspended user, is not an error.
    """

    #: The record key that identifies a user in this target.
    key_field: ClassVar[str] = "uniq_identifier"
    #: The record key that holds the manager's key; resolved against the synced set by the planner.
    manager_field: ClassVar[str | None] = "manager_uniq_identifier"
    #: Whether a user adopted with an identifier of its own (``fields[key_field]``) keeps it in
    #: the target, the sync then knowing it by ``new_key`` (Elevo: never re-keyed). When False,
    #: adoption re-keys the user.
    keeps_identifiers: ClassVar[bool] = False

    def accepts_field(self, name: str) -> bool:
        """Whether ``name`` is a target key this sink can store; mappings are checked against it.

        The default accepts every key.
        """
        return True

    @abc.abstractmethod
    def users(self) -> Iterable[TargetUser]:
        """Every user the target holds, managed or not, active or suspended."""

    def generation(self) -> int | None:
        """A number that changes every time the users the target holds change.

        :func:`lucca_sync.plan` records it in the plan (``Plan.target_generation``) and
        :func:`lucca_sync.apply` refuses a plan made at another generation (a
        :class:`~lucca_sync.exceptions.StalePlanError`): a reviewed plan applies once, to the
        state it was made from. A counter kept with the target's state, increased by every
        commit that changes a user, is enough. It must not change while nothing is written.

        The default, ``None``, binds nothing; apply then only checks that the users each
        action touches are still as planned.
        """
        return None

    def check_plan(self, plan: Plan) -> Mapping[str, str]:
        """The records this sink would refuse if ``plan`` were applied now, ``{key: reason}``.

        :func:`lucca_sync.plan` calls it with the actions it is about to return and turns each
        refusal into a :class:`~lucca_sync.PlanError` of the employee concerned (stage
        ``"target"``), who then gets no action; their reports are re-attached as
        ``manager_fallback`` says, and the plan is checked again. So everything a sink would
        refuse at :meth:`commit` shows in the plan, and ``apply`` does not discover it.

        Check everything the store enforces across records (unique values, references to
        other users) as well as each record's values, on the state the store would hold after
        the plan; write nothing. Refuse only the records at fault, not the ones that depend on
        them (a report whose manager is refused): the planner re-attaches those. Start a reason
        with the field at fault when there is one (``"email is also used by user 12"``): it
        becomes the error's ``field``. Reasons must not contain field values (HR data).

        The default refuses nothing.
        """
        return {}

    @abc.abstractmethod
    def create(self, key: str, fields: Mapping[str, str | None]) -> None:
        """Create an active, managed user ``key`` with ``fields`` (the key field included)."""

    @abc.abstractmethod
    def update(
        self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
    ) -> None:
        """Change some fields of user ``key``; ``changes`` holds only the changed keys.

        The user is in scope afterwards: a user marked excluded is no longer. With ``new_key``,
        the user is *adopted*: from now on it is known under ``new_key`` and managed by the sync.
        """

    @abc.abstractmethod
    def suspend(self, key: str) -> None:
        """Suspend user ``key`` (never delete it)."""

    @abc.abstractmethod
    def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
        """Reactivate suspended user ``key`` and apply ``changes`` (possibly empty)."""

    def exclude(self, key: str) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Mark user ``key`` as out of scope: the target must leave it exactly as it is.

        Called for an employee excluded by a rule while the target still holds them, under
        ``on_excluded="leave"``. The default does nothing, which is right for stores that only
        change what they are told to; snapshot stores must keep such a user without sending
        their data (Elevo: a ``skip`` row).
        """

    def first_publication(self) -> str | None:
        """Where the next commit would publish for the first time, or ``None``.

        A snapshot store that has no memory of an earlier publication to its target (and no
        evidence of one) returns a description of that target ("the Elevo account at …"); the
        plan then carries the ``first_publication`` safety violation, so that the first file
        is applied only once its plan was reviewed and approved by digest. The default,
        ``None``, suits stores that change only what they are told to.

        Raises:
            SinkError: The sink cannot tell (its memory is unreadable or contradicted).
        """
        return None

    def begin(self) -> None:  # noqa: B027 - optional hook
        """Start a batch of operations. The default does nothing."""

    def commit(self) -> Mapping[str, str]:
        """Make the batch visible (publish a snapshot); the default has nothing to publish.

        Returns the records the store refused while publishing, as ``{key: reason}``; those
        records were not written, the others were. Raises :class:`SinkError` when nothing could
        be published at all.
        """
        return {}

    def abort(self) -> None:  # noqa: B027 - optional hook
        """Drop an unfinished batch: nothing of it may become visible. The default does nothing."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or files. The default does nothing."""

    def load_sync_state(self) -> Mapping[str, object] | None:
        """The document last given to :meth:`save_sync_state`, or ``None``.

        Incremental plans (``plan(..., mode="auto")``) start from it. The default keeps
        nothing, so every plan against such a sink reads the whole directory.
        """
        return None

    def save_sync_state(self, state: Mapping[str, object]) -> None:  # noqa: B027 - optional hook
        """Keep ``state`` for the next run, next to the target's own state.

        ``state`` is a JSON-compatible document (Lucca ids, dates and counters only, no HR
        data). :func:`lucca_sync.apply` calls this after a successful :meth:`commit` and only
        when every action succeeded, so the state never gets ahead of the target. The default
        does nothing.
        """

    def load_history(self) -> Sequence[Mapping[str, object]] | None:
        """The records given to :meth:`append_history`, oldest first; ``None`` keeps none.

        The run history is what the rolling limits of :class:`lucca_sync.Safety` measure
        (suspensions and reactivations over the last days) and what ``lucca-sync history``
        shows. The default returns ``None``: the sink keeps no history, and plans against it
        are checked against the per-run limits only.

        Raises:
            SinkError: The history exists but cannot be read.
        """
        return None

    def append_history(self, record: Mapping[str, object]) -> None:  # noqa: B027 - optional hook
        """Keep one more run record (a JSON-compatible document: keys, counts, dates, a digest).

        :func:`lucca_sync.apply` calls it once per applied plan, after :meth:`commit`. A sink
        that overrides it must also override :meth:`load_history`. The default does nothing.

        Raises:
            SinkError: The record could not be kept (``apply`` logs a warning and goes on).
        """
