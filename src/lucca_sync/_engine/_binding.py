"""What binds a plan to the target state and the time it was made for.

A plan describes the changes that take *one* state of the target to what Lucca says. Applied to
another state, the same actions can do harm: a plan that suspends a leaver, replayed after the
leaver came back and was reactivated, suspends them again. So :func:`lucca_sync.apply` refuses
a plan, with a :class:`StalePlanError` and before writing anything, when:

- the target is at another **generation** than the one the plan recorded
  (:meth:`lucca_sync.Sink.generation`, increased by every publication): another run applied a
  plan, or the target's state was restored or edited;
- the plan is **older** than ``max_age`` (:data:`DEFAULT_PLAN_MAX_AGE`, a day): Lucca may have
  changed since, and yesterday's review is not a review of today;
- the plan was made **in the future** by more than :data:`CLOCK_SKEW`: clocks disagree, or the
  file was edited.

The digest covers the generation and the day the plan was made, so neither can be edited
under an approval (see :attr:`lucca_sync.Plan.digest`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from lucca_sync.exceptions import ConfigurationError, StalePlanError

if TYPE_CHECKING:
    from lucca_sync._engine._plan_model import Plan
    from lucca_sync.sinks import Sink

__all__ = ["CLOCK_SKEW", "DEFAULT_PLAN_MAX_AGE", "check_age", "check_max_age", "moved_generation"]

#: How old a plan may be when it is applied, unless ``apply(..., max_age=...)`` says otherwise.
DEFAULT_PLAN_MAX_AGE: Final = timedelta(hours=24)
#: How far in the future a plan's ``created_at`` may be (clocks of two machines differ a little).
CLOCK_SKEW: Final = timedelta(minutes=5)


def check_max_age(max_age: object) -> timedelta | None:
    """``max_age`` as given to apply, checked.

    Raises:
        ConfigurationError: It is neither ``None`` nor a positive :class:`~datetime.timedelta`.
    """
    if max_age is None:
        return None
    if not isinstance(max_age, timedelta) or max_age <= timedelta(0):
        raise ConfigurationError(
            f"max_age must be a positive datetime.timedelta (or None: no limit), got {max_age!r}"
        )
    return max_age


def _span(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days {hours % 24} h"


def check_age(plan: Plan, max_age: timedelta | None, *, now: datetime | None = None) -> None:
    """Refuse a plan older than ``max_age`` or made in the future.

    Raises:
        StalePlanError: The plan is too old, or dated after ``now`` (UTC) plus the clock skew.
    """
    now = datetime.now(UTC) if now is None else now
    made = plan.created_at if plan.created_at.tzinfo is not None else plan.created_at.astimezone()
    age = now - made
    if age < -CLOCK_SKEW:
        raise StalePlanError(
            f"the plan is dated {made.isoformat(timespec='seconds')}, {_span(-age)} in the "
            "future: the clocks of the machines that planned and apply differ, or the plan was "
            "edited; nothing was written — plan again"
        )
    if max_age is not None and age > max_age:
        raise StalePlanError(
            f"the plan was made {_span(age)} ago ({made.isoformat(timespec='seconds')}), more "
            f"than the {_span(max_age)} a plan stays valid: Lucca and the target may have "
            "changed since; nothing was written — plan again and review the new plan"
        )


def moved_generation(plan: Plan, sink: Sink) -> str | None:
    """Why the target is not at the generation the plan was made at; ``None`` when it is.

    A plan without a generation (made against a sink that keeps none) is not bound.
    """
    if plan.target_generation is None:
        return None
    current = sink.generation()
    if current == plan.target_generation:
        return None
    if current is None:
        return (
            f"planned against generation {plan.target_generation}, but this target reports no "
            "generation: apply the plan to the target it was made against"
        )
    return (
        f"planned against generation {plan.target_generation}, target is now at {current} — "
        "plan again: the target changed since this plan was made (another run applied a "
        "plan, or its state was restored or edited)"
    )
