"""Asking the target, while planning, which records it would refuse (`Sink.check_plan`).

A target enforces rules across records that no mapping can see alone: Elevo refuses two users
with one e-mail, username or registration number, and a manager who is not a row of the file.
Found only when publishing, one such record used to take every report below it along. The
planner asks the sink instead, with the actions it is about to return: each refused record
becomes a `PlanError` (stage ``"target"``) of its employee, who gets no action, and the
planner tries again without them — their reports fall back to another manager as
``manager_fallback`` says. `apply` then never meets a refusal the plan could have shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime

import attrs

from lucca_sync._engine._plan_model import (
    Create,
    Exclude,
    Plan,
    PlanError,
    Reactivate,
    Suspend,
    Update,
)

__all__ = [
    "CheckPlan",
    "TargetRefusals",
    "target_refusals",
    "untouched_refusal_warning",
    "untouched_refusals_warned",
]

#: :meth:`lucca_sync.Sink.check_plan`.
CheckPlan = Callable[[Plan], Mapping[str, str]]


@attrs.frozen
class TargetRefusals:
    """What the target refused of a tentative plan.

    Args:
        errors: Employee id -> the error of the employee whose action was refused.
        warnings: Refusals of users the plan does not touch (their current record).
    """

    errors: Mapping[int, PlanError]
    warnings: tuple[str, ...] = ()


def untouched_refusal_warning(key: str, reason: str) -> str:
    """The plan's warning that the target would refuse the current record of user ``key``,
    a user the plan does not touch."""
    return f"{_untouched_prefix(key)}{reason}); it is left as it is"


def _untouched_prefix(key: str) -> str:
    return f"target user {key}: the target would refuse its current record ("


def untouched_refusals_warned(warnings: Iterable[str], keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` the plan's ``warnings`` said the target would refuse, untouched.

    ``apply`` reports those refusals as expected, and any other as a surprise.
    """
    return {key for key in keys if any(w.startswith(_untouched_prefix(key)) for w in warnings)}


def _fields_of(creates: Iterable[Create], changed: Iterable[Update | Reactivate]) -> set[str]:
    names: set[str] = set()
    for create in creates:
        names.update(create.fields)
    for action in changed:
        names.update(change.field for change in action.changes)
    return names


def target_refusals(
    check: CheckPlan,
    *,
    creates: list[Create],
    updates: list[Update],
    reactivations: list[Reactivate],
    excludes: list[Exclude],
    suspensions: list[Suspend],
    today: date,
    fixed_fields: Iterable[str | None] = (),
) -> TargetRefusals:
    """Ask ``check`` about these actions; its refusals as per-employee errors and warnings."""
    tentative = Plan(
        creates=tuple(creates),
        updates=tuple(updates),
        reactivations=tuple(reactivations),
        excludes=tuple(excludes),
        suspensions=tuple(suspensions),
        today=today,
        created_at=datetime.now(UTC),
    )
    refusals = check(tentative)
    if not refusals:
        return TargetRefusals({})
    owners: dict[str, int] = {}
    actions: list[Create | Update | Reactivate] = [*creates, *updates, *reactivations]
    for action in actions:
        owners[action.key] = action.employee_id
        if isinstance(action, Update) and action.new_key is not None:
            owners[action.new_key] = action.employee_id
    known = _fields_of(creates, (*updates, *reactivations))
    known.update(name for name in fixed_fields if name is not None)
    errors: dict[int, PlanError] = {}
    warnings: list[str] = []
    for key, reason in sorted(refusals.items()):
        employee_id = owners.get(key)
        if employee_id is None:
            warnings.append(untouched_refusal_warning(key, reason))
            continue
        first = reason.split(" ", 1)[0]
        errors.setdefault(
            employee_id,
            PlanError(
                "target",
                f"employee {employee_id}: the target would refuse this record: {reason}; the "
                "employee gets no action until it is corrected (in Lucca or in the mapping)",
                employee_id,
                first if first in known else None,
            ),
        )
    return TargetRefusals(errors, tuple(warnings))
