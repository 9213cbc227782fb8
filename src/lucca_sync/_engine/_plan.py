"""The planner: from "who is in Lucca" and "who is in the target" to a typed :class:`Plan`.

One pass, in this order, each step in its own function:

1. read the whole source (a failed or short read raises; nothing is planned);
2. classify every employee: former (a departure), excluded by a rule, or kept and mapped —
   rule and mapping failures are per-employee errors;
3. match kept employees to target users by key (the Lucca id), then by the fallback keys of
   ``match_by`` for adopting users the sync does not manage yet;
4. resolve managers against the synced set (see :mod:`lucca_sync._engine._managers`);
5. diff each kept employee field by field; decide exclusions and suspensions;
6. check the safety limits (see :mod:`lucca_sync._engine._safety`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from lucca_sync._employee import Employee
from lucca_sync._engine._gc import collector_paused
from lucca_sync._engine._history import last_suspension, load_records, window
from lucca_sync._engine._identity import first_publication_violation
from lucca_sync._engine._incremental import (
    DEFAULT_FULL_EVERY,
    DEFAULT_FULL_EVERY_DAYS,
    IncrementalSource,
    SyncMode,
    next_state,
    read_changes,
    wants_full,
)
from lucca_sync._engine._managers import ManagerFallback
from lucca_sync._engine._plan_model import (
    Plan,
)
from lucca_sync._engine._planner import OnExcluded, RecordMapping, _Planner
from lucca_sync._engine._safety import Safety
from lucca_sync._engine._source import EmployeeSource, SourceRead, read_source
from lucca_sync._engine._sync_state import SyncState
from lucca_sync._lucca._http import is_int
from lucca_sync.exceptions import ConfigurationError, SinkError
from lucca_sync.mapping import FieldMapping
from lucca_sync.rules import DEFAULT_RULES
from lucca_sync.rules._protocol import _any_reads_raw, _custom_fields_read

if TYPE_CHECKING:
    from lucca_sync.rules import ExclusionRule
    from lucca_sync.sinks import Sink, TargetUser

__all__ = ["plan"]

logger = logging.getLogger("lucca_sync.plan")


def plan(
    source: EmployeeSource | Iterable[Employee],
    sink: Sink,
    *,
    rules: Iterable[ExclusionRule] = DEFAULT_RULES,
    mapping: RecordMapping | None = None,
    safety: Safety | None = None,
    today: date | None = None,
    time_zone: str = "Europe/Paris",
    on_excluded: OnExcluded = "leave",
    match_by: Sequence[str] = (),
    manager_fallback: ManagerFallback = "nearest_ancestor",
    mode: SyncMode = "full",
    full_every: int = DEFAULT_FULL_EVERY,
    full_every_days: int = DEFAULT_FULL_EVERY_DAYS,
) -> Plan:
    """Compute what a sync from ``source`` to ``sink`` would change, without writing anything.

    Args:
        source: A :class:`lucca_sync.LuccaDirectory` (read with ``include_former=True,
            strict=False``) or any iterable of every :class:`Employee`, former ones included.
        sink: The target; only reading methods are called (:meth:`Sink.users`,
            :meth:`Sink.generation`, :meth:`Sink.load_sync_state`, :meth:`Sink.load_history`).
        rules: Exclusion rules; the first that excludes an employee wins.
        mapping: Employee -> target record; defaults to ``FieldMapping.elevo_default()``.
        safety: Limits on mass changes and short reads, per run and over the rolling window
            of the sink's run history; defaults to ``Safety()``.
        today: The day to plan for; defaults to today in ``time_zone``. An employee whose
            contract ended before this day is a departure.
        time_zone: The tenant's time zone (IANA name), for ``today``.
        on_excluded: For a target user whose employee a rule excludes: ``"leave"`` it as it is
            (the sink marks it, see :meth:`Sink.exclude`) or ``"suspend"`` it.
        match_by: Fallback target keys, in order, for adopting target users the sync does not
            manage yet (e.g. ``("email", "registration_number")``); compared trimmed and
            case-insensitively. Empty (the default) disables adoption.
        manager_fallback: For a manager who is not synchronised: ``"nearest_ancestor"`` (the
            closest synchronised manager above) or ``"empty"``.
        mode: ``"full"`` reads every employee. ``"incremental"`` reads only what changed
            since the sync state the sink saved at the last successful apply (a few requests
            whatever the size of the directory), and falls back to a full read when there is
            no usable state or Lucca's count of employees does not match it. Either way it
            reads everyone at least every ``full_every`` runs or ``full_every_days`` days,
            whichever comes first: some Lucca changes carry no modification date. ``"auto"``
            is the same as ``"incremental"``. Employees not re-read are taken as unchanged;
            see the performance page of the docs.
        full_every: Incremental modes read everyone at least once in this many runs.
        full_every_days: ... and at least once in this many days.

    Returns:
        The plan; per-employee problems are in ``plan.errors``, not raised.

    Raises:
        APIError: Reading Lucca failed or ended early; nothing is planned or suspended.
        SafetyError: The plan trips a safety limit (unless approved or ``enforce=False``).
        SinkError: The sink could not list its users, or listed one key twice.
        ConfigurationError: An option is invalid.
    """
    if on_excluded not in ("leave", "suspend"):
        raise ConfigurationError(f"on_excluded must be 'leave' or 'suspend', got {on_excluded!r}")
    if manager_fallback not in ("nearest_ancestor", "empty"):
        raise ConfigurationError(
            f"manager_fallback must be 'nearest_ancestor' or 'empty', got {manager_fallback!r}"
        )
    if isinstance(match_by, str):
        raise ConfigurationError("match_by must be a sequence of target keys, not a string")
    if mode not in ("full", "incremental", "auto"):
        raise ConfigurationError(f"mode must be 'full', 'incremental' or 'auto', got {mode!r}")
    if not is_int(full_every) or full_every < 1:
        raise ConfigurationError(f"full_every must be an int >= 1, got {full_every!r}")
    if not is_int(full_every_days) or full_every_days < 1:
        raise ConfigurationError(f"full_every_days must be an int >= 1, got {full_every_days!r}")
    if mapping is None:
        mapping = FieldMapping.elevo_default()
    safety = Safety() if safety is None else safety
    day = _today(time_zone) if today is None else today
    rules = tuple(rules)
    # The raw JSON of each employee is most of a plan's memory: read it only when something
    # that could look at it is configured (custom code always could).
    keep_raw = (
        not isinstance(mapping, FieldMapping) or mapping._reads_raw() or _any_reads_raw(rules)
    )
    with collector_paused():  # a third of the CPU time at 100k employees, see _gc.py
        # The target first: on the Lucca API, who it holds decides which former employees
        # are worth reading (see read_source). Its generation before its users: a plan must
        # never pair a newer generation with older users.
        generation = sink.generation()
        target = _target_users(sink)
        read, state, reason = _read(
            source,
            sink,
            mode=mode,
            full_every=full_every,
            full_every_days=full_every_days,
            today=day,
            time_zone=time_zone,
            keep_raw=keep_raw,
            custom_fields=_custom_fields(rules, mapping),
            also_ids=[int(key) for key, user in target.items() if _live(key, user)],
        )
        history = load_records(sink.load_history())
        if history is None and safety.window_days:
            logger.info(
                "%s keeps no run history: the rolling limits are not checked",
                type(sink).__name__,
            )
        # The planner takes the employees over and drops each one once classified: with its
        # raw JSON, an employee is most of a plan's memory (docs/performance.md).
        employees = list(read.employees)
        read = attrs.evolve(read, employees=())
        planner = _Planner(
            read=read,
            employees=employees,
            target=target,
            rules=rules,
            mapping=mapping,
            today=day,
            key_field=sink.key_field,
            manager_field=sink.manager_field,
            on_excluded=on_excluded,
            match_by=tuple(match_by),
            manager_fallback=manager_fallback,
            check_plan=sink.check_plan,
            suspended_as=None if history is None else last_suspension(history),
            window=None if history is None else window(history, today=day, days=safety.window_days),
            keeps_identifiers=sink.keeps_identifiers,
        )
        del employees
        result = attrs.evolve(
            planner.build(safety, mode_reason=reason),
            sync_state=state,
            target_generation=generation,
        )
        where = sink.first_publication()
        if where is not None:
            first = first_publication_violation(where, target, result, key_field=sink.key_field)
            result = attrs.evolve(result, violations=(*result.violations, first))
        del read, planner  # free what is left before the digest is computed
        # The digest costs about as much CPU as reading Lucca (docs/performance.md): it is
        # computed here only for this line, else when first used (apply, to_json, summary).
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "plan for %s: %s; digest %s",
                day.isoformat(),
                ", ".join(f"{count} {kind}" for kind, count in result.counts.items()),
                result.digest[:12],
            )
    safety.check(result)
    return result


def _custom_fields(rules: Sequence[ExclusionRule], mapping: RecordMapping) -> frozenset[str] | None:
    """The custom-field codes the rules and the mapping read; ``None`` when any may be read
    (custom code always may)."""
    if not isinstance(mapping, FieldMapping):
        return None
    by_mapping, by_rules = mapping._custom_fields(), _custom_fields_read(rules)
    return None if by_mapping is None or by_rules is None else by_mapping | by_rules


def _live(key: str, user: TargetUser) -> bool:
    """A target user the sync manages and may have to suspend, with a Lucca id as key."""
    return user.managed and not user.suspended and key.isdecimal()


def _today(time_zone: str) -> date:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"time_zone: unknown time zone {time_zone!r}") from exc
    return datetime.now(zone).date()


def _read(
    source: EmployeeSource | Iterable[Employee],
    sink: Sink,
    *,
    mode: SyncMode,
    full_every: int,
    full_every_days: int = DEFAULT_FULL_EVERY_DAYS,
    today: date,
    time_zone: str,
    keep_raw: bool = True,
    custom_fields: frozenset[str] | None = None,
    also_ids: Sequence[int] = (),
) -> tuple[SourceRead, SyncState | None, str]:
    """Read the source fully or incrementally; also the sync state to save after applying.

    ``keep_raw=False``: a full read of a `LuccaDirectory` keeps only ``extendedData`` as each
    employee's ``raw`` (incremental reads are small: they keep it all). ``custom_fields`` and
    ``also_ids`` go to `read_source`.
    """
    if not isinstance(source, IncrementalSource) or not getattr(source, "reads_changes", True):
        if mode == "incremental":
            raise ConfigurationError(
                "mode='incremental' needs a source that can read changes (a LuccaDirectory "
                f"reading Lucca's v3 API with an ApiKey), not this {type(source).__name__}"
            )
        why = "" if mode == "full" else "this source cannot read changes only"
        whole = read_source(
            source, keep_raw=keep_raw, custom_fields=custom_fields, also_ids=also_ids
        )
        return whole, None, why
    # Taken before reading, so a change made during the read is read again next time; and
    # the start of the day, so that planning twice in a day saves the same state and the
    # plans have the same digest (an approval by digest covers the state). A day of changes
    # read again costs a request per thousand of them.
    watermark = datetime.now(ZoneInfo(time_zone)).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None
    )
    before = getattr(source, "requests_made", None)
    previous = None if mode == "full" else SyncState.from_dict(sink.load_sync_state())
    reason = wants_full(
        mode, previous, today=today, full_every=full_every, full_every_days=full_every_days
    )
    read = None
    if reason is None and previous is not None:
        read = read_changes(source, previous, today=today)
        if read is None:
            reason = "Lucca's count of employees differs from the saved sync state"
    if read is None:
        read = read_source(
            source, keep_raw=keep_raw, custom_fields=custom_fields, also_ids=also_ids
        )
    after = getattr(source, "requests_made", None)
    if isinstance(before, int) and isinstance(after, int):
        read = attrs.evolve(read, requests_made=after - before)
    if mode != "full" and reason:
        logger.info("full read: %s", reason)
    state = next_state(read, previous, watermark=watermark, today=today)
    return read, state, "" if mode == "full" else reason or ""


def _target_users(sink: Sink) -> dict[str, TargetUser]:
    users: dict[str, TargetUser] = {}
    for user in sink.users():
        if user.key in users:
            raise SinkError(
                f"{type(sink).__name__}.users() listed key {user.key!r} twice; "
                f"a target user must have one key",
                key=user.key,
            )
        users[user.key] = user
    return users
