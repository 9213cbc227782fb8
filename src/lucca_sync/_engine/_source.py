"""Reading the whole source of a plan: a Lucca directory or any iterable of employees.

A read either completes or raises: the reader raises on HTTP failures, malformed pages and
incomplete reads, and :func:`read_source` lets that propagate, so a failed read can never look
like a shorter directory. Malformed *records* (``strict=False``) and duplicate ids become
per-employee :class:`PlanError` values instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Protocol, runtime_checkable

import attrs

from lucca_sync._employee import Employee
from lucca_sync._engine._plan_model import PlanError
from lucca_sync.exceptions import ResponseDecodeError

__all__ = ["EmployeeSource", "SourceRead", "decode_errors", "read_source"]


@runtime_checkable
class EmployeeSource(Protocol):
    """Anything that lists employees like :class:`lucca_sync.LuccaDirectory`."""

    def list_employees(
        self, *, include_former: bool = ..., strict: bool = ...
    ) -> Iterable[Employee]:
        """Iterate every employee; see :meth:`lucca_sync.LuccaDirectory.list_employees`."""
        ...


@attrs.frozen
class SourceRead:
    """The outcome of reading a source completely.

    Args:
        employees: Every employee read once, sorted by id.
        errors: Malformed records and duplicate ids (those employees are left out).
        requests_made: HTTP requests the read took, when the source counts them.
        requests_by_resource: The same per resource read (``"employees"``, ``"users"`` …),
            when the source counts them.
        partial: Only the employees that changed were read (an incremental read); the others
            are unchanged and must not be taken as gone.
        hierarchy: Employee id -> Lucca manager id of everyone known, read or not (partial
            reads only; a full read derives it from ``employees``).
        population: Current and upcoming employees in Lucca, as counted (partial reads only).
        current: The current and upcoming employees after the read -> their manager id
            (partial reads only): the population of the next saved sync state.
        warnings: Notices from the source for the plan's reviewer (Lucca's ``Deprecation`` /
            ``Sunset`` headers, from the pager's ``deprecations``).
    """

    employees: tuple[Employee, ...]
    errors: tuple[PlanError, ...] = ()
    requests_made: int | None = None
    requests_by_resource: Mapping[str, int] = attrs.field(factory=dict, eq=False, repr=False)
    partial: bool = False
    hierarchy: Mapping[int, int | None] | None = attrs.field(default=None, eq=False, repr=False)
    population: int | None = None
    current: Mapping[int, int | None] | None = attrs.field(default=None, eq=False, repr=False)
    warnings: tuple[str, ...] = ()


def _employee_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def decode_errors(raw: Sequence[object]) -> list[PlanError]:
    """The reader's decode errors (``pager.errors``) as plan errors."""
    errors = []
    for error in raw:
        employee_id = (
            _employee_id(error.employee_id) if isinstance(error, ResponseDecodeError) else None
        )
        field = error.path if isinstance(error, ResponseDecodeError) else None
        errors.append(
            PlanError(stage="read", message=str(error), employee_id=employee_id, field=field)
        )
    return errors


def read_source(
    source: EmployeeSource | Iterable[Employee],
    *,
    keep_raw: bool = True,
    custom_fields: Collection[str] | None = None,
    also_ids: Collection[int] | None = None,
) -> SourceRead:
    """Read every employee of ``source``, former ones included.

    A :class:`lucca_sync.LuccaDirectory` (anything with ``list_employees``) is read with
    ``include_former=True, strict=False``; its pager's ``errors`` and ``requests_made`` are
    collected. Any other iterable is taken as the complete list of employees. ``keep_raw``
    and ``custom_fields`` (the codes to read; ``None``: the directory's choice) are passed on
    to a `LuccaDirectory` only: other sources may not take them. A directory that reads
    former employees by id (the Lucca API) lists only current and upcoming employees, plus
    ``also_ids`` and the managers it needs, read by id (see ``list_employees(also_ids=…)``);
    former employees that are not among those are not read at all.

    Raises:
        APIError: The read failed or ended early (from the reader; nothing is planned).
        ConfigurationError: The directory was told to read only some custom fields, and
            ``custom_fields`` names another.
        TypeError: An iterable yields something other than an :class:`Employee`.
    """
    requests_made: int | None = None
    by_resource: Mapping[str, int] = {}
    errors: list[PlanError] = []
    warnings: tuple[str, ...] = ()
    if isinstance(source, EmployeeSource):
        options: dict[str, Any] = {"include_former": True, "strict": False}
        # A LuccaDirectory, or a wrapper that forwards to one (the CLI's progress line).
        if isinstance(getattr(source, "reads_former_by_id", None), bool):
            if not keep_raw:
                options["keep_raw"] = False
            if custom_fields is not None:
                options["custom_fields"] = sorted(custom_fields)
            if also_ids is not None and getattr(source, "reads_former_by_id", False):
                options.update(include_former=False, also_ids=also_ids)
        pager = source.list_employees(**options)
        employees = list(pager)
        errors.extend(decode_errors(getattr(pager, "errors", ())))
        counted = getattr(pager, "requests_made", None)
        requests_made = counted if isinstance(counted, int) else None
        resources = getattr(pager, "requests_by_resource", None)
        by_resource = dict(resources) if isinstance(resources, Mapping) else {}
        warnings = tuple(str(notice) for notice in getattr(pager, "deprecations", ()))
    else:
        employees = list(source)
    for employee in employees:
        if not isinstance(employee, Employee):
            raise TypeError(
                f"a plan source must yield Employee values, got {type(employee).__name__}"
            )
    ids = [employee.id for employee in employees]
    # Counting is only needed when some id repeats (never, from LuccaDirectory).
    counts = Counter(ids) if len(set(ids)) < len(ids) else Counter()
    duplicates = sorted(employee_id for employee_id, count in counts.items() if count > 1)
    errors.extend(
        PlanError(
            stage="read",
            message=(
                f"employee {employee_id} appears {counts[employee_id]} times in the read; "
                f"it is left out until Lucca returns it once"
            ),
            employee_id=employee_id,
        )
        for employee_id in duplicates
    )
    unique = sorted(
        (employee for employee in employees if counts[employee.id] == 1) if counts else employees,
        key=attrgetter("id"),
    )
    return SourceRead(
        employees=tuple(unique),
        errors=tuple(errors),
        requests_made=requests_made,
        requests_by_resource=by_resource,
        warnings=warnings,
    )
