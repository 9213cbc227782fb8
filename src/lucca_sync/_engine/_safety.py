"""The safety net: limits a plan must respect before anything is written.

Five guards, all on by default, each reported with its numbers:

- **max_suspensions**: a plan may suspend at most ``max(max_suspensions,
  floor(max_suspension_ratio * managed active users))`` users — by default 10, or 5 % of the
  managed active users when that is larger;
- **max_not_visible**: of those, at most 5 may be users Lucca simply stopped returning (no
  contract end explains it) — lost rights on an establishment look exactly like that;
- **min_source_ratio**: the current and upcoming employees read (excluded ones included) must
  be at least half the managed active users of the target — a short read (lost rights, a
  truncated answer) looks exactly like a mass departure;
- **empty_source**: reading nobody at all while the target holds managed active users;
- **hidden_skip_flag**: excluded users coming back into the target while the exclusion check
  box appears on no employee at all (the key may have lost access to its HR-folder section).

A plan that trips a guard is refused by :func:`lucca_sync.plan` with a :class:`SafetyError`. An
operator who reviewed such a plan approves it by its digest: ``Safety.allow_reviewed(digest)``
for planning, ``apply(plan, sink, expected_digest=digest)`` for applying.
"""

from __future__ import annotations

import math

import attrs

from lucca_sync._engine._plan_model import Plan, SafetyViolation
from lucca_sync.exceptions import ConfigurationError, SafetyError

__all__ = ["Safety"]


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ConfigurationError(f"Safety.{attribute.name} must be >= 0, got {value!r}")


def _ratio(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"Safety.{attribute.name} must be between 0 and 1, got {value!r}")


@attrs.frozen(kw_only=True)
class Safety:
    """Limits that stop a plan from doing mass damage; sensible defaults apply.

    Args:
        max_suspensions: Suspensions always allowed, whatever the population (default 10).
        max_suspension_ratio: Share of the managed active users that may be suspended when that
            is more than ``max_suspensions`` (default 0.05 = 5 %).
        min_source_ratio: The current and upcoming employees read must be at least this share
            of the managed active users, else the read is considered short (default 0.5).
        max_not_visible: Suspensions of users Lucca simply stopped returning — no contract end
            explains them, which is what lost API-key rights look like — allowed whatever the
            population (default 5).
        allow_empty_source: Accept reading zero employees while the target holds managed active
            users (default False: everybody would be suspended).
        approved_digest: The digest of a reviewed plan: a plan with exactly this digest passes
            even if it trips a limit. See :meth:`allow_reviewed`.
        enforce: When False, :func:`lucca_sync.plan` records the violations in the plan instead
            of raising, so the plan can be reviewed; :func:`lucca_sync.apply` still refuses it
            unless its digest is named. See :meth:`review_only`.

    Raises:
        ConfigurationError: A limit is negative, or a ratio is outside 0..1.
    """

    max_suspensions: int = attrs.field(default=10, validator=_non_negative)
    max_suspension_ratio: float = attrs.field(default=0.05, validator=_ratio)
    min_source_ratio: float = attrs.field(default=0.5, validator=_ratio)
    max_not_visible: int = attrs.field(default=5, validator=_non_negative)
    allow_empty_source: bool = False
    approved_digest: str | None = None
    enforce: bool = True

    @classmethod
    def allow_reviewed(cls, digest: str) -> Safety:
        """Default limits, except that the reviewed plan with ``digest`` passes.

        With custom limits, pass ``approved_digest=`` to the constructor instead.

        Args:
            digest: :attr:`Plan.digest` of the reviewed plan (from its JSON, its summary or the
                ``SafetyError`` message).
        """
        return cls(approved_digest=digest)

    @classmethod
    def review_only(cls) -> Safety:
        """Default limits, recorded in the plan (``plan.violations``) instead of raising.

        Use it to look at a plan that :func:`lucca_sync.plan` refused; applying that plan still
        needs its digest. With custom limits, pass ``enforce=False`` to the constructor.
        """
        return cls(enforce=False)

    def suspension_limit(self, managed_active: int) -> int:
        """The number of suspensions allowed for a target with ``managed_active`` users."""
        return max(self.max_suspensions, math.floor(self.max_suspension_ratio * managed_active))

    def violations(
        self,
        *,
        suspensions: int,
        population: int,
        employees_read: int,
        managed_active: int,
        not_visible: int = 0,
        departures: int = 0,
        hidden_flag_returns: int = 0,
    ) -> tuple[SafetyViolation, ...]:
        """The limits a plan with these numbers trips.

        Args:
            suspensions: Suspensions the plan holds.
            population: Current and upcoming employees the read returned (excluded ones and
                unreadable records included, former employees not).
            employees_read: Every employee read, former ones included.
            managed_active: Active users of the target that the sync manages.
            not_visible: Of the suspensions, those of users Lucca no longer returns at all.
            departures: Of the suspensions, those Lucca explains (the contract ended): such
                users are not expected in the read, so they do not make it look short.
            hidden_flag_returns: Users excluded earlier that come back in scope while the
                exclusion check box appears on no employee of the read.
        """
        found: list[SafetyViolation] = []
        if employees_read == 0 and managed_active > 0 and not self.allow_empty_source:
            found.append(
                SafetyViolation(
                    limit="empty_source",
                    observed=0,
                    allowed=1,
                    message=(
                        f"the source returned no employee at all while the target has "
                        f"{managed_active} managed active user(s); check the API key's rights "
                        f"(or use Safety(allow_empty_source=True) if this is really intended)"
                    ),
                )
            )
        elif (expected := managed_active - departures) > 0 and (
            population / expected < self.min_source_ratio
        ):
            ratio = population / expected
            found.append(
                SafetyViolation(
                    limit="min_source_ratio",
                    observed=round(ratio, 4),
                    allowed=self.min_source_ratio,
                    message=(
                        f"short read: {population} current employee(s) in Lucca for {expected} "
                        f"managed active user(s) expected in the target ({ratio:.0%}, minimum "
                        f"{self.min_source_ratio:.0%}); check the API key's rights "
                        f"(establishments, former employees)"
                    ),
                )
            )
        if not_visible > self.max_not_visible:
            found.append(
                SafetyViolation(
                    limit="max_not_visible",
                    observed=not_visible,
                    allowed=self.max_not_visible,
                    message=(
                        f"{not_visible} user(s) would be suspended only because Lucca no longer "
                        f"returns them (no contract end date), more than the "
                        f"{self.max_not_visible} allowed: check the API key's rights "
                        f"(establishments, former employees) before anyone is suspended"
                    ),
                )
            )
        if hidden_flag_returns:
            found.append(
                SafetyViolation(
                    limit="hidden_skip_flag",
                    observed=hidden_flag_returns,
                    allowed=0,
                    message=(
                        f"{hidden_flag_returns} excluded user(s) would come back into the target "
                        f"with their data, while the exclusion check box appears on no employee "
                        f"at all: the API key may have lost view access to its HR-folder section"
                    ),
                )
            )
        limit = self.suspension_limit(managed_active)
        if suspensions > limit:
            found.append(
                SafetyViolation(
                    limit="max_suspensions",
                    observed=suspensions,
                    allowed=limit,
                    message=(
                        f"the plan suspends {suspensions} user(s), more than the {limit} allowed "
                        f"(max_suspensions={self.max_suspensions}, max_suspension_ratio="
                        f"{self.max_suspension_ratio:g} of {managed_active} managed active)"
                    ),
                )
            )
        return tuple(found)

    def check(self, plan: Plan) -> None:
        """Raise when ``plan`` trips a limit, unless it is the approved plan or not enforced.

        Raises:
            SafetyError: With the first violation's ``limit``, ``observed`` and ``allowed``; the
                message lists every violation and the plan's digest for approval.
        """
        if not plan.violations or not self.enforce or plan.digest == self.approved_digest:
            return
        raise safety_error(plan)


def safety_error(plan: Plan) -> SafetyError:
    """The :class:`SafetyError` for a plan that trips its limits (nothing is written).

    The message is a few short lines for a Python reader: each limit tripped, then how to
    approve the reviewed plan by its digest.
    """
    first = plan.violations[0]
    reasons = tuple(violation.message for violation in plan.violations)
    digest = plan.digest
    return SafetyError(
        "\n".join(
            [
                "safety limit reached, nothing was written:",
                *(f"  - {reason}" for reason in reasons),
                "Review the plan (plan(..., safety=Safety.review_only())), then approve it:",
                f"  Safety.allow_reviewed({digest!r}), or",
                f"  apply(plan, sink, expected_digest={digest!r})",
            ]
        ),
        limit=first.limit,
        observed=first.observed,
        allowed=first.allowed,
        reasons=reasons,
        digest=digest,
    )
