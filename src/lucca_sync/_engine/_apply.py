"""Applying a plan to a sink, exactly as reviewed, and reporting what happened.

:func:`apply` checks the plan (digest, safety approval, age, target unchanged since planning:
see :mod:`lucca_sync._engine._binding`), then
drives the sink in one batch: ``begin()``; adoptions; creates and reactivations by manager
depth (managers first); other updates; exclusions; suspensions last; ``commit()``. Each
record is isolated: a :class:`SinkError` is retried a bounded number of times and then recorded
as that record's failure, and the run goes on. Anything that stops the run itself makes apply
call ``abort()`` and re-raise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Literal

import attrs

from lucca_sync._engine._binding import (
    DEFAULT_PLAN_MAX_AGE,
    check_age,
    check_max_age,
    moved_generation,
)
from lucca_sync._engine._gc import collector_paused
from lucca_sync._engine._history import RunOutcome, RunRecord, load_records
from lucca_sync._engine._incremental import (
    DEFAULT_FULL_EVERY,
    DEFAULT_FULL_EVERY_DAYS,
    SyncMode,
)
from lucca_sync._engine._managers import ManagerFallback
from lucca_sync._engine._plan import plan
from lucca_sync._engine._plan_model import CONVERTER, FieldChange, Plan, key_order
from lucca_sync._engine._planner import OnExcluded, RecordMapping, suspension_kind
from lucca_sync._engine._safety import Safety, safety_error
from lucca_sync._engine._source import EmployeeSource
from lucca_sync._engine._target_check import untouched_refusals_warned
from lucca_sync.exceptions import (
    ConfigurationError,
    PlanMismatchError,
    SinkError,
    StalePlanError,
)
from lucca_sync.rules import DEFAULT_RULES

if TYPE_CHECKING:
    from lucca_sync._employee import Employee
    from lucca_sync.rules import ExclusionRule
    from lucca_sync.sinks import Sink, TargetUser

__all__ = ["ActionKind", "Outcome", "SyncReport", "apply", "sync"]

logger = logging.getLogger("lucca_sync.apply")

#: The kind of a plan action, as named in outcomes.
ActionKind = Literal["create", "update", "reactivate", "exclude", "suspend"]


@attrs.frozen
class Outcome:
    """What happened to one action of the plan.

    Args:
        action: ``"create"``, ``"update"``, ``"reactivate"``, ``"exclude"`` or ``"suspend"``.
        key: The target key the action was for (the new key, for an adoption).
        employee_id: The Lucca employee, when known.
        status: ``"ok"``, or ``"failed"`` (the sink raised, after retries, or refused the
            record when committing).
        attempts: Calls made to the sink for this action (0 when refused at commit only).
        error: The failure's message; ``None`` when ok.
    """

    action: ActionKind
    key: str
    employee_id: int | None
    status: Literal["ok", "failed"]
    attempts: int
    error: str | None = None


@attrs.frozen(kw_only=True)
class SyncReport:
    """The result of :func:`apply` or :func:`sync`: per-record outcomes and counts.

    Serialisable with :meth:`to_json` (it embeds the plan, so it holds HR data too).

    Args:
        plan: The plan that was applied (or only made, for a dry run).
        outcomes: One per action carried out, in execution order (empty for a dry run).
        dry_run: Nothing was written.
        started_at: When applying started (UTC).
        duration: Seconds spent applying.
        warnings: The plan's warnings, then those of the apply step.
    """

    plan: Plan
    outcomes: tuple[Outcome, ...] = ()
    dry_run: bool = False
    started_at: datetime
    duration: float = 0.0
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"SyncReport(dry_run={self.dry_run!r}, counts={self.counts!r})"

    @property
    def counts(self) -> dict[str, int]:
        """Outcomes per action kind that succeeded, plus ``failed`` and ``errors`` (of the plan)."""
        counts = dict.fromkeys(("create", "update", "reactivate", "exclude", "suspend"), 0)
        for outcome in self.outcomes:
            if outcome.status == "ok":
                counts[outcome.action] += 1
        counts["failed"] = len(self.failures)
        counts["errors"] = len(self.plan.errors)
        return counts

    @property
    def failures(self) -> tuple[Outcome, ...]:
        """The outcomes that failed."""
        return tuple(outcome for outcome in self.outcomes if outcome.status == "failed")

    @property
    def ok(self) -> bool:
        """True when every action succeeded and the plan had no per-employee error."""
        return not self.failures and not self.plan.errors

    @property
    def requests_made(self) -> int | None:
        """HTTP requests the read of Lucca took, when the source counted them."""
        return self.plan.stats.requests_made

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON (the plan included, with its digest)."""
        data = CONVERTER.unstructure(self)
        data["plan"]["digest"] = self.plan.digest
        data["counts"] = self.counts
        return json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=True)

    def summary(self) -> str:
        """One line of counts, then one line per failure."""
        head = "dry run, nothing applied — " if self.dry_run else ""
        counts = ", ".join(f"{count} {kind}" for kind, count in self.counts.items())
        requests = self.plan.stats.requests_line()
        read = "" if requests is None else f"; {requests}"
        lines = [f"{head}{counts} ({self.duration:.1f} s){read}"]
        lines.extend(
            f"FAILED {outcome.action} {outcome.key}: {outcome.error}" for outcome in self.failures
        )
        return "\n".join(lines)


@attrs.frozen
class _Step:
    action: ActionKind
    key: str  # the key the sink is called with
    reported_key: str  # the key after the action (differs for an adoption)
    employee_id: int | None
    call: Callable[[], None]


def _steps(plan: Plan, sink: Sink) -> list[_Step]:
    """The plan's actions in execution order, each bound to its sink call.

    Adoptions come first so that their new keys exist before anyone refers to them; then
    creates and reactivations together by manager depth, so a manager exists and is active
    before their reports; then plain updates, exclusions, and suspensions last.
    """
    steps = [
        _Step(
            "update",
            update.key,
            update.new_key or update.key,
            update.employee_id,
            partial(sink.update, update.key, update.values, new_key=update.new_key),
        )
        for update in plan.updates
        if update.new_key is not None
    ]
    ordered = [
        (
            (create.depth, key_order(create.key)),
            _Step(
                "create",
                create.key,
                create.key,
                create.employee_id,
                partial(sink.create, create.key, dict(create.fields)),
            ),
        )
        for create in plan.creates
    ]
    ordered.extend(
        (
            (reactivation.depth, key_order(reactivation.key)),
            _Step(
                "reactivate",
                reactivation.key,
                reactivation.key,
                reactivation.employee_id,
                partial(sink.reactivate, reactivation.key, reactivation.values),
            ),
        )
        for reactivation in plan.reactivations
    )
    steps.extend(step for _, step in sorted(ordered, key=lambda item: item[0]))
    steps.extend(
        _Step("update", u.key, u.key, u.employee_id, partial(sink.update, u.key, u.values))
        for u in plan.updates
        if u.new_key is None
    )
    steps.extend(
        _Step("exclude", e.key, e.key, e.employee_id, partial(sink.exclude, e.key))
        for e in plan.excludes
    )
    steps.extend(
        _Step("suspend", s.key, s.key, s.employee_id, partial(sink.suspend, s.key))
        for s in plan.suspensions
    )
    return steps


def _stale(plan: Plan, users: Iterable[TargetUser]) -> list[str]:
    """Why the target no longer matches what the plan was made against (one line per action)."""
    by_key = {user.key: user for user in users}
    problems: list[str] = []

    def who(employee_id: int | None) -> str:
        return f"employee {employee_id}" if employee_id is not None else "a target user"

    def differs(user: TargetUser, changes: Iterable[FieldChange]) -> list[str]:
        return [c.field for c in changes if user.fields.get(c.field) != c.before]

    problems.extend(
        f"{who(create.employee_id)}: to create, already exists"
        for create in plan.creates
        if create.key in by_key
    )
    for update in plan.updates:
        user = by_key.get(update.key)
        if user is None or user.suspended:
            problems.append(f"{who(update.employee_id)}: to update, not active")
        elif update.new_key is None and not user.managed:
            problems.append(f"{who(update.employee_id)}: to update, not managed")
        elif fields := differs(user, update.changes):
            problems.append(
                f"{who(update.employee_id)}: changed since planned ({', '.join(fields)})"
            )
    for reactivation in plan.reactivations:
        user = by_key.get(reactivation.key)
        if user is None or not user.suspended:
            problems.append(f"{who(reactivation.employee_id)}: to reactivate, not suspended")
        elif fields := differs(user, reactivation.changes):
            problems.append(
                f"{who(reactivation.employee_id)}: changed since planned ({', '.join(fields)})"
            )
    for exclude in plan.excludes:
        user = by_key.get(exclude.key)
        if user is None or user.suspended or not user.managed or user.excluded:
            problems.append(f"{who(exclude.employee_id)}: to exclude, not active")
    for suspension in plan.suspensions:
        user = by_key.get(suspension.key)
        if user is None or user.suspended or not user.managed:
            problems.append(f"{who(suspension.employee_id)}: to suspend, not active")
    return problems


def _run(step: _Step, sink: Sink, retries: int) -> Outcome:
    """Carry out one step: SinkError retried up to ``retries`` times, other errors wrapped."""
    error = ""
    for attempt in range(1, retries + 2):
        try:
            step.call()
        except SinkError as exc:
            error = str(exc)
            logger.warning(
                "%s %s failed (attempt %d of %d): %s",
                step.action,
                step.key,
                attempt,
                retries + 1,
                error,
            )
            continue
        except Exception as exc:
            # Not a SinkError: a bug in the sink. Retrying a bug does not help; its message
            # may hold field values, so it goes to DEBUG only.
            logger.debug("%s %s raised", step.action, step.key, exc_info=True)
            error = (
                f"{type(sink).__name__}.{step.action} raised {type(exc).__name__} "
                f"(sinks must raise SinkError; this is a bug in the sink)"
            )
            return Outcome(
                step.action, step.reported_key, step.employee_id, "failed", attempt, error
            )
        return Outcome(step.action, step.reported_key, step.employee_id, "ok", attempt)
    return Outcome(step.action, step.reported_key, step.employee_id, "failed", retries + 1, error)


def _abort(sink: Sink) -> None:
    try:
        sink.abort()
    except Exception:  # the original failure matters more than the abort's
        logger.exception("%s.abort() failed", type(sink).__name__)


def _wrapped(sink: Sink, method: str, exc: Exception) -> SinkError:
    if isinstance(exc, SinkError):
        return exc
    return SinkError(
        f"{type(sink).__name__}.{method}() raised {type(exc).__name__} "
        f"(sinks must raise SinkError; this is a bug in the sink)"
    )


def _append_history(
    sink: Sink, plan: Plan, outcomes: Sequence[Outcome], outcome: RunOutcome
) -> str | None:
    """Add this run to the sink's run history, if it keeps one (never fails the run).

    Returns:
        The report's warning when the run could not be recorded, else ``None``.
    """
    try:
        previous = load_records(sink.load_history())
        if previous is None:
            return None
        kinds = {s.key: suspension_kind(s.reason) for s in plan.suspensions}
        done = [o for o in outcomes if o.status == "ok"]
        counts = dict.fromkeys(("create", "update", "reactivate", "exclude", "suspend"), 0)
        for each in done:
            counts[each.action] += 1
        counts["failed"] = len(outcomes) - len(done)
        record = RunRecord(
            run=max((r.run for r in previous), default=0) + 1,
            applied_at=datetime.now(UTC),
            today=plan.today,
            digest=plan.digest,
            mode=plan.stats.mode,
            managed_active=plan.stats.managed_active,
            counts=counts,
            suspended={o.key: kinds[o.key] for o in done if o.action == "suspend"},
            reactivated=tuple(o.key for o in done if o.action == "reactivate"),
            # Applying a plan with violations takes its digest: those were approved.
            approved=tuple(violation.limit for violation in plan.violations),
            outcome=outcome,
        )
        sink.append_history(record.to_dict())
    except Exception as exc:
        # Applied already: too late to stop. Loud, because the rolling limits of the next
        # plans will not count this run's suspensions.
        warning = (
            f"{type(sink).__name__} could not record this run in its history "
            f"({_wrapped(sink, 'append_history', exc)}); the rolling limits of the next plans "
            "will not count it: fix the cause before the next run"
        )
        logger.error("%s", warning)
        return warning
    return None


def _check_before_writing(
    plan: Plan,
    sink: Sink,
    *,
    expected_digest: str | None,
    verify_target: bool,
    max_age: timedelta | None,
) -> None:
    """Refuse a plan that is not the reviewed one, not approved, too old, or stale."""
    if expected_digest is not None and expected_digest != plan.digest:
        raise PlanMismatchError(
            f"the plan's digest {plan.digest[:12]}… is not the expected {expected_digest[:12]}…: "
            f"this is not the reviewed plan; nothing was written"
        )
    if plan.violations and expected_digest != plan.digest:
        raise safety_error(plan)
    check_age(plan, max_age)
    if verify_target:
        # Before the users, as when planning: a change in between shows as a new generation.
        try:
            moved = moved_generation(plan, sink)
        except Exception as exc:
            raise _wrapped(sink, "generation", exc) from exc
        touches = plan.creates or plan.updates or plan.reactivations or plan.excludes
        try:
            # A plan without actions touches nobody: no user to compare (a no-op run).
            users = list(sink.users()) if touches or plan.suspensions else []
        except Exception as exc:
            raise _wrapped(sink, "users", exc) from exc
        problems = _stale(plan, users)
        shown = "; ".join(problems[:5]) + (" …" if len(problems) > 5 else "")
        if moved is not None:
            detail = f" ({len(problems)} action(s) no longer match: {shown})" if problems else ""
            raise StalePlanError(f"{moved}{detail}; nothing was written")
        if problems:
            raise PlanMismatchError(
                f"the target changed since the plan was made ({len(problems)} action(s) no "
                f"longer match: {shown}); nothing was written — make a new plan"
            )


def apply(
    plan: Plan,
    sink: Sink,
    *,
    expected_digest: str | None = None,
    retries: int = 2,
    verify_target: bool = True,
    max_age: timedelta | None = DEFAULT_PLAN_MAX_AGE,
) -> SyncReport:
    """Carry out ``plan`` on ``sink``, exactly, and report per-record outcomes.

    Args:
        plan: The plan, as made by :func:`lucca_sync.plan` or read by :meth:`Plan.from_json`.
        sink: The target the plan was made against.
        expected_digest: The digest of the plan that was reviewed. When given, a plan with any
            other digest is refused. Required to apply a plan that trips safety limits
            (``plan.violations``): naming the digest is the operator's approval.
        retries: How many times a record whose operation raised :class:`SinkError` is retried
            (immediately) before it is reported as failed.
        verify_target: Check first that the target is still at the generation the plan was
            made at (:meth:`Sink.generation`) and that every user the plan touches is still as
            it was (a plan applies once, to the state it was made from).
        max_age: How old the plan may be (from its ``created_at``); default 24 hours.
            ``None`` applies a plan of any age.

    Returns:
        The report; failed records are in ``report.failures``, they do not raise.

    Raises:
        StalePlanError: The target changed since the plan was made ("planned against
            generation N, target is now at M"), or the plan is older than ``max_age``: make a
            new plan. Nothing was written.
        PlanMismatchError: The digest differs from ``expected_digest``, or a user the plan
            touches changed since the plan was made (make a new plan).
        SafetyError: The plan trips safety limits and its digest was not named.
        SinkError: The sink failed as a whole (``begin``, ``commit``, listing users); the batch
            was aborted.
        ConfigurationError: ``retries`` is negative, or ``max_age`` is not a positive
            ``timedelta`` or ``None``.
    """
    # Applying to a large target copies and compares many entries: no collection meanwhile.
    with collector_paused():
        return _apply(
            plan,
            sink,
            expected_digest=expected_digest,
            retries=retries,
            verify_target=verify_target,
            max_age=max_age,
        )


def _untouched_refusals(plan: Plan, refusals: Mapping[str, str]) -> list[str]:
    """The warnings for the records the sink refused of users the plan does not touch: as
    expected when the plan warned of them (its ``target user K: ...`` warnings), else as a
    surprise."""
    warned = untouched_refusals_warned(plan.warnings, refusals)
    return [
        f"key {key} was left as it is, as the plan warned: the sink refused its current "
        f"record ({reason})"
        if key in warned
        else f"the sink refused key {key} that the plan did not touch: {reason}"
        for key, reason in sorted(refusals.items())
    ]


def _apply(
    plan: Plan,
    sink: Sink,
    *,
    expected_digest: str | None,
    retries: int,
    verify_target: bool,
    max_age: timedelta | None,
) -> SyncReport:
    if retries < 0:
        raise ConfigurationError(f"retries must be >= 0, got {retries!r}")
    max_age = check_max_age(max_age)
    _check_before_writing(
        plan, sink, expected_digest=expected_digest, verify_target=verify_target, max_age=max_age
    )
    started_at = datetime.now(UTC)
    start = time.monotonic()
    steps = _steps(plan, sink)
    try:
        sink.begin()
    except Exception as exc:
        raise _wrapped(sink, "begin", exc) from exc
    outcomes: list[Outcome] = []
    try:
        outcomes.extend(_run(step, sink, retries) for step in steps)
        refusals = dict(sink.commit())
    except BaseException as exc:
        _abort(sink)
        if isinstance(exc, Exception):
            raise _wrapped(sink, "commit", exc) from exc
        raise
    warnings = list(plan.warnings)
    for index, outcome in enumerate(outcomes):
        reason = refusals.pop(outcome.key, None)
        if reason is not None and outcome.status == "ok":
            outcomes[index] = attrs.evolve(
                outcome, status="failed", error=f"refused when committing: {reason}"
            )
    warnings.extend(_untouched_refusals(plan, refusals))
    if plan.sync_state is not None and not any(o.status == "failed" for o in outcomes):
        # Only now is the target known to hold every change read: the next incremental
        # plan may start from here. A failed record keeps the old state, so it is read again.
        try:
            sink.save_sync_state(plan.sync_state.to_dict())
        except Exception as exc:
            logger.warning(
                "%s could not save the sync state (%s); the next plan starts from the previous one",
                type(sink).__name__,
                _wrapped(sink, "save_sync_state", exc),
            )
    unrecorded = _append_history(
        sink, plan, outcomes, "partial" if any(o.status == "failed" for o in outcomes) else "ok"
    )
    if unrecorded is not None:
        warnings.append(unrecorded)
    report = SyncReport(
        plan=plan,
        outcomes=tuple(outcomes),
        started_at=started_at,
        duration=round(time.monotonic() - start, 6),
        warnings=tuple(warnings),
    )
    logger.info(
        "applied plan %s: %s",
        plan.digest[:12],
        ", ".join(f"{count} {kind}" for kind, count in report.counts.items()),
    )
    return report


def sync(
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
    dry_run: bool = False,
    retries: int = 2,
    mode: SyncMode = "full",
    full_every: int = DEFAULT_FULL_EVERY,
    full_every_days: int = DEFAULT_FULL_EVERY_DAYS,
) -> SyncReport:
    """Plan, then apply unless ``dry_run``: :func:`lucca_sync.plan` + :func:`lucca_sync.apply`.

    The options are those of :func:`lucca_sync.plan`, plus:

    Args:
        source: See :func:`lucca_sync.plan`.
        sink: See :func:`lucca_sync.plan`.
        rules: See :func:`lucca_sync.plan`.
        mapping: See :func:`lucca_sync.plan`.
        safety: See :func:`lucca_sync.plan`. With ``Safety.allow_reviewed(digest)``, the plan
            with that digest is also applied despite its violations.
        today: See :func:`lucca_sync.plan`.
        time_zone: See :func:`lucca_sync.plan`.
        on_excluded: See :func:`lucca_sync.plan`.
        match_by: See :func:`lucca_sync.plan`.
        manager_fallback: See :func:`lucca_sync.plan`.
        dry_run: Only plan: the report holds the plan and no outcome; nothing is written.
        retries: See :func:`lucca_sync.apply`.
        mode: See :func:`lucca_sync.plan`.
        full_every: See :func:`lucca_sync.plan`.
        full_every_days: See :func:`lucca_sync.plan`.

    Raises:
        APIError, SafetyError, SinkError, PlanMismatchError, ConfigurationError: As
            :func:`lucca_sync.plan` and :func:`lucca_sync.apply`.
    """
    made = plan(
        source,
        sink,
        rules=rules,
        mapping=mapping,
        safety=safety,
        today=today,
        time_zone=time_zone,
        on_excluded=on_excluded,
        match_by=match_by,
        manager_fallback=manager_fallback,
        mode=mode,
        full_every=full_every,
        full_every_days=full_every_days,
    )
    if dry_run:
        return SyncReport(
            plan=made, dry_run=True, started_at=datetime.now(UTC), warnings=made.warnings
        )
    approved = safety is not None and safety.approved_digest == made.digest
    return apply(made, sink, expected_digest=made.digest if approved else None, retries=retries)
