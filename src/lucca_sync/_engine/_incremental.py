"""Incremental reads: only the employees that changed since the last successful sync.

A full read costs ``ceil(n / 1000)`` requests or so; Lucca's budget is 50 per minute for the
whole tenant. An incremental run reads instead, whatever the size of the directory:

1. the number of current and upcoming employees (``fields=collection.count``, one request);
2. the employees modified since the day of the last run started, minus :data:`SAFETY_MARGIN`
   (``modifiedAt=since,…``; one request per 1000 changes, former employees included);
3. when the date changed since the last run, the employees whose contract ended
   (``dtContractEnd=between,…``) or started (``dtContractStart=between,…``) in between: time
   alone makes them leave, or brings them into the scope of date-based rules.

Everyone else is assumed unchanged: never suspended for being absent from the read. The saved
population (every current employee id and its manager) is updated with what was read, and
its size must equal Lucca's count; any difference — a deletion, a hire without a modification
date, a key that lost rights — means the read cannot be trusted, and the plan falls back to a
full read ("no destructive action on doubt").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Final, Literal, Protocol, runtime_checkable

from lucca_sync._employee import Employee
from lucca_sync._engine._source import SourceRead, decode_errors
from lucca_sync._engine._sync_state import SyncState

__all__ = [
    "DEFAULT_FULL_EVERY",
    "DEFAULT_FULL_EVERY_DAYS",
    "SAFETY_MARGIN",
    "IncrementalSource",
    "SyncMode",
    "next_state",
    "read_changes",
    "wants_full",
]

logger = logging.getLogger("lucca_sync.plan")

#: ``"full"`` reads everyone; ``"incremental"`` reads changes when a saved state allows it,
#: and everyone at least every ``full_every`` runs or ``full_every_days`` days; ``"auto"`` is
#: the same as ``"incremental"`` (the name older configurations use for it).
SyncMode = Literal["full", "incremental", "auto"]

#: Changes stamped this long before the last run started are read again: clocks of Lucca's
#: servers and of this machine may differ, and a change may be committed while it is read.
SAFETY_MARGIN: Final = timedelta(minutes=10)
#: Incremental modes read everyone at least once in this many runs (full reconciliation).
DEFAULT_FULL_EVERY: Final = 7
#: ... and at least once in this many days: changes Lucca does not stamp with a modification
#: date (a deleted employee, a check box, a back-dated hire) are seen within that time.
DEFAULT_FULL_EVERY_DAYS: Final = 7


@runtime_checkable
class IncrementalSource(Protocol):
    """A source that can read changes: :class:`lucca_sync.LuccaDirectory` is one."""

    def list_employees(
        self,
        *,
        include_former: bool = ...,
        modified_since: datetime | None = ...,
        strict: bool = ...,
        today: date | None = ...,
        ended_between: tuple[date, date] | None = ...,
        started_between: tuple[date, date] | None = ...,
    ) -> Iterable[Employee]:
        """Employees, filtered like :meth:`lucca_sync.LuccaDirectory.list_employees`."""
        ...

    def count_employees(self, *, today: date | None = ...) -> int:
        """How many current and upcoming employees there are."""
        ...


def wants_full(
    mode: SyncMode,
    previous: SyncState | None,
    *,
    today: date,
    full_every: int,
    full_every_days: int = DEFAULT_FULL_EVERY_DAYS,
) -> str | None:
    """Why this run must read everyone, or ``None`` when an incremental read is allowed."""
    if mode == "full":
        return "full read requested"
    if previous is None:
        return "no saved sync state (first run, or a sink that keeps none)"
    if previous.today > today:
        return f"the saved state is dated {previous.today.isoformat()}, after today"
    if previous.runs_since_full + 1 >= full_every:
        return f"periodic full reconciliation (one run in {full_every})"
    if previous.full_read_on is None:
        return "the saved state does not say when everyone was last read"
    if (today - previous.full_read_on).days >= full_every_days:
        return (
            f"periodic full reconciliation (everyone was last read on "
            f"{previous.full_read_on.isoformat()}; at least every {full_every_days} days)"
        )
    return None


def _read(pager: Iterable[Employee], errors: list[object]) -> list[Employee]:
    employees = list(pager)
    errors.extend(getattr(pager, "errors", ()))
    return employees


def read_changes(
    source: IncrementalSource, previous: SyncState, *, today: date
) -> SourceRead | None:
    """The employees that changed since ``previous``; ``None`` when a full read is needed.

    Raises:
        APIError: A read failed (from the reader; nothing is planned).
    """
    before = getattr(source, "requests_made", None)
    expected = source.count_employees(today=today)
    raw_errors: list[object] = []
    since = previous.watermark - SAFETY_MARGIN
    found = _read(
        source.list_employees(include_former=True, modified_since=since, strict=False, today=today),
        raw_errors,
    )
    if previous.today < today:
        yesterday = today - timedelta(days=1)
        found += _read(
            source.list_employees(
                include_former=True,
                strict=False,
                today=today,
                ended_between=(previous.today, yesterday),
            ),
            raw_errors,
        )
        found += _read(
            source.list_employees(
                include_former=True,
                strict=False,
                today=today,
                started_between=(previous.today + timedelta(days=1), today),
            ),
            raw_errors,
        )
    # The same employee may match several queries: the first read of them is kept.
    employees = {employee.id: employee for employee in reversed(found)}
    errors = decode_errors(raw_errors)
    population = dict(previous.population)
    for employee in employees.values():
        if employee.status(today) == "former":
            population.pop(employee.id, None)
        else:
            population[employee.id] = employee.manager_id
    for error in errors:
        if error.employee_id is not None and error.employee_id not in employees:
            population.setdefault(error.employee_id, None)
    if len(population) != expected:
        logger.warning(
            "incremental read abandoned: Lucca counts %d current employees, the saved state "
            "and the changes read give %d (deletions, rights or missed changes); full read",
            expected,
            len(population),
        )
        return None
    after = getattr(source, "requests_made", None)
    requests = after - before if isinstance(before, int) and isinstance(after, int) else None
    hierarchy = {**population, **{e.id: e.manager_id for e in employees.values()}}
    logger.info(
        "incremental read: %d employee(s) changed since %s, %d current in Lucca",
        len(employees),
        since.isoformat(timespec="seconds"),
        expected,
    )
    return SourceRead(
        employees=tuple(sorted(employees.values(), key=lambda employee: employee.id)),
        errors=tuple(errors),
        requests_made=requests,
        requests_by_resource={} if requests is None else {"users": requests},
        partial=True,
        hierarchy=hierarchy,
        population=expected,
        current=population,
    )


def next_state(
    read: SourceRead, previous: SyncState | None, *, watermark: datetime, today: date
) -> SyncState:
    """The state to save once the plan made from ``read`` is applied."""
    if read.partial:
        assert previous is not None  # noqa: S101 - a partial read needs a previous state
        return SyncState(
            watermark=watermark,
            today=today,
            runs_since_full=previous.runs_since_full + 1,
            population=read.current or {},
            full_read_on=previous.full_read_on,
        )
    return SyncState(
        watermark=watermark,
        today=today,
        runs_since_full=0,
        population=current_population(read.employees, read.errors, today=today),
        full_read_on=today,
    )


def current_population(
    employees: Sequence[Employee], errors: Iterable[object], *, today: date
) -> dict[int, int | None]:
    """Every current or upcoming employee of a full read -> their manager id.

    Employees whose record could not be read are counted too (they exist in Lucca).
    """
    population = {e.id: e.manager_id for e in employees if e.status(today) != "former"}
    for error in errors:
        employee_id = getattr(error, "employee_id", None)
        if isinstance(employee_id, int):
            population.setdefault(employee_id, None)
    return population
