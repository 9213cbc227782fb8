"""The safety net: limits a plan must respect before anything is written.

Every guard is on by default and reported with its numbers (``docs/reliability.md`` has the
table: what each catches, its default, how to approve):

- what was read: **empty_source** (nobody at all), **min_source_ratio** (a read much shorter
  than the target), **max_not_visible** (users Lucca simply stopped returning);
- one run: **max_suspensions**, **max_reactivations** and **max_excludes** — each at most
  ``max(count, floor(ratio * managed active users))``; **max_field_changes** — the users whose
  value of one field is changed or cleared;
- across runs (the sink's run history): **window_suspensions** and **window_reactivations** —
  what the plan does plus what the runs of the last ``window_days`` days did, so that a few
  suspensions every night cannot add up to a mass suspension;
- something that vanished for everyone: **hidden_skip_flag** (excluded or excluded-and-
  suspended users coming back while the exclusion check box appears on nobody) and
  **empty_field_source** (a mapped field with no value for any employee read, which would
  clear what the target holds: a typo in the mapping, or a field the key can no longer see).

A plan that trips a guard is refused by :func:`lucca_sync.plan` with a :class:`SafetyError`. An
operator who reviewed such a plan approves it by its digest: ``Safety.allow_reviewed(digest)``
for planning, ``apply(plan, sink, expected_digest=digest)`` for applying (``lucca-sync apply
--plan PLAN.json --expect-digest DIGEST`` on the command line, which words the stop from
``SafetyError.reasons`` and ``digest`` in its own terms).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from lucca_sync._engine._history import Window
from lucca_sync._engine._plan_model import Plan, SafetyViolation
from lucca_sync.exceptions import ConfigurationError, SafetyError

__all__ = ["LIMIT_SETTINGS", "Safety", "safety_error"]

#: The settings of :class:`Safety` (and of the ``[safety]`` table) behind each guard.
LIMIT_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "empty_source": ("allow_empty_source",),
    "min_source_ratio": ("min_source_ratio",),
    "max_not_visible": ("max_not_visible",),
    "hidden_skip_flag": (),
    "empty_field_source": (),
    "max_suspensions": ("max_suspensions", "max_suspension_ratio"),
    "max_reactivations": ("max_reactivations", "max_reactivation_ratio"),
    "max_excludes": ("max_excludes", "max_exclude_ratio"),
    "max_field_changes": ("max_field_changes", "max_field_change_ratio"),
    "window_suspensions": (
        "max_window_suspensions",
        "max_window_suspension_ratio",
        "window_days",
    ),
    "window_reactivations": (
        "max_window_reactivations",
        "max_window_reactivation_ratio",
        "window_days",
    ),
}


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ConfigurationError(f"Safety.{attribute.name} must be >= 0, got {value!r}")


def _ratio(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"Safety.{attribute.name} must be between 0 and 1, got {value!r}")


def _count(value: int, ratio: float, population: int) -> int:
    return max(value, math.floor(ratio * population))


@attrs.frozen(kw_only=True)
class Safety:
    """Limits that stop a plan from doing mass damage; sensible defaults apply.

    Counts are allowed whatever the population; ratios are shares of the target's managed
    active users, and win when they allow more. A limit set to 0 with its ratio at 0 allows
    none of that kind of change without approval.

    Args:
        max_suspensions: Suspensions one plan may hold (default 10).
        max_suspension_ratio: ... or this share of the managed active users (default 0.05).
        min_source_ratio: The current and upcoming employees read must be at least this share
            of the managed active users, else the read is considered short (default 0.5).
        max_not_visible: Suspensions of users Lucca simply stopped returning — no contract end
            explains them, which is what lost API-key rights look like — allowed whatever the
            population (default 5).
        allow_empty_source: Accept reading zero employees while the target holds managed active
            users (default False: everybody would be suspended).
        max_reactivations: Reactivations one plan may hold (default 10).
        max_reactivation_ratio: ... or this share of the managed active users (default 0.05).
        max_excludes: Users one plan may newly mark out of scope (default 10).
        max_exclude_ratio: ... or this share of the managed active users (default 0.05).
        max_field_changes: Managed users whose value of one field a plan may change or clear
            (default 20); filling an empty value does not count.
        max_field_change_ratio: ... or this share of the managed active users (default 0.25).
        window_days: The rolling window, in days, the plan's own day included (default 7);
            0 turns the rolling limits off. Needs a sink that keeps a run history.
        max_window_suspensions: Suspensions the plan and the runs of the window may hold
            together (default 12).
        max_window_suspension_ratio: ... or this share of the managed active users (default
            0.03).
        max_window_reactivations: The same for reactivations (default 12).
        max_window_reactivation_ratio: ... (default 0.03).
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
    max_reactivations: int = attrs.field(default=10, validator=_non_negative)
    max_reactivation_ratio: float = attrs.field(default=0.05, validator=_ratio)
    max_excludes: int = attrs.field(default=10, validator=_non_negative)
    max_exclude_ratio: float = attrs.field(default=0.05, validator=_ratio)
    max_field_changes: int = attrs.field(default=20, validator=_non_negative)
    max_field_change_ratio: float = attrs.field(default=0.25, validator=_ratio)
    window_days: int = attrs.field(default=7, validator=_non_negative)
    max_window_suspensions: int = attrs.field(default=12, validator=_non_negative)
    max_window_suspension_ratio: float = attrs.field(default=0.03, validator=_ratio)
    max_window_reactivations: int = attrs.field(default=12, validator=_non_negative)
    max_window_reactivation_ratio: float = attrs.field(default=0.03, validator=_ratio)
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
        """The number of suspensions allowed in one plan for ``managed_active`` users."""
        return _count(self.max_suspensions, self.max_suspension_ratio, managed_active)

    def reactivation_limit(self, managed_active: int) -> int:
        """The number of reactivations allowed in one plan for ``managed_active`` users."""
        return _count(self.max_reactivations, self.max_reactivation_ratio, managed_active)

    def exclude_limit(self, managed_active: int) -> int:
        """The number of users one plan may newly mark out of scope."""
        return _count(self.max_excludes, self.max_exclude_ratio, managed_active)

    def field_change_limit(self, managed_active: int) -> int:
        """The number of managed users whose value of one field one plan may change or clear."""
        return _count(self.max_field_changes, self.max_field_change_ratio, managed_active)

    def window_suspension_limit(self, managed_active: int) -> int:
        """Suspensions allowed over ``window_days`` days (this plan's included)."""
        return _count(self.max_window_suspensions, self.max_window_suspension_ratio, managed_active)

    def window_reactivation_limit(self, managed_active: int) -> int:
        """Reactivations allowed over ``window_days`` days (this plan's included)."""
        return _count(
            self.max_window_reactivations, self.max_window_reactivation_ratio, managed_active
        )

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
        reactivations: int = 0,
        excludes: int = 0,
        window: Window | None = None,
        field_changes: Mapping[str, int] | None = None,
        empty_fields: Mapping[str, tuple[str, int]] | None = None,
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
            hidden_flag_returns: Users excluded earlier (left as they were, or suspended) that
                come back in scope while the exclusion check box appears on no employee read.
            reactivations: Reactivations the plan holds.
            excludes: Users the plan newly marks out of scope.
            window: What the counted runs of the last ``window_days`` days did; ``None`` when
                the sink keeps no run history (the rolling limits are then not checked).
            field_changes: Target field -> managed users whose value the plan changes or clears.
            empty_fields: Target field -> (its source, users whose value the plan would clear),
                for the fields no employee read has a value for.
        """
        found = self._read_violations(
            population=population,
            employees_read=employees_read,
            managed_active=managed_active,
            not_visible=not_visible,
            departures=departures,
        )
        if hidden_flag_returns:
            found.append(
                SafetyViolation(
                    limit="hidden_skip_flag",
                    observed=hidden_flag_returns,
                    allowed=0,
                    message=(
                        f"{hidden_flag_returns} user(s) kept out by the exclusion check box "
                        f"would come back into the target (updated or reactivated) while that "
                        f"check box appears on no employee at all: the API key may have lost "
                        f"view access to its HR-folder section"
                    ),
                )
            )
        per_run = self._count_violations(suspensions, reactivations, excludes, managed_active)
        found.extend(per_run)
        if window is not None and window.days:
            tripped = {violation.limit for violation in per_run}
            found.extend(
                self._window_violations(window, suspensions, reactivations, managed_active, tripped)
            )
        for field, (source, cleared) in sorted((empty_fields or {}).items()):
            found.append(
                SafetyViolation(
                    limit="empty_field_source",
                    observed=cleared,
                    allowed=1,
                    field=field,
                    message=(
                        f"field {field}: its source {source} has no value for any employee "
                        f"read, and the plan would clear it for {cleared} user(s) who have one: "
                        f"most likely a typo in the mapping, or a Lucca field the API key can "
                        f"no longer see"
                    ),
                )
            )
        limit = self.field_change_limit(managed_active)
        for field, changed in sorted((field_changes or {}).items()):
            if changed > limit and field not in (empty_fields or {}):
                found.append(
                    SafetyViolation(
                        limit="max_field_changes",
                        observed=changed,
                        allowed=limit,
                        field=field,
                        message=(
                            f"field {field} would be changed or cleared for {changed} of the "
                            f"{managed_active} managed active user(s), more than the {limit} "
                            f"allowed in one run (max_field_changes={self.max_field_changes}, "
                            f"max_field_change_ratio={self.max_field_change_ratio:g}): a "
                            f"mapping change, a renamed Lucca field or lost rights on it look "
                            f"exactly like this"
                        ),
                    )
                )
        return tuple(found)

    def _read_violations(
        self,
        *,
        population: int,
        employees_read: int,
        managed_active: int,
        not_visible: int,
        departures: int,
    ) -> list[SafetyViolation]:
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
                        "(or set allow_empty_source if this is really intended)"
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
        return found

    def _count_violations(
        self, suspensions: int, reactivations: int, excludes: int, managed_active: int
    ) -> list[SafetyViolation]:
        found: list[SafetyViolation] = []
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
        limit = self.reactivation_limit(managed_active)
        if reactivations > limit:
            found.append(
                SafetyViolation(
                    limit="max_reactivations",
                    observed=reactivations,
                    allowed=limit,
                    message=(
                        f"the plan reactivates {reactivations} suspended user(s), more than the "
                        f"{limit} allowed (max_reactivations={self.max_reactivations}, "
                        f"max_reactivation_ratio={self.max_reactivation_ratio:g} of "
                        f"{managed_active} managed active): contract end dates or an exclusion "
                        f"check box that vanished from Lucca's answer (lost rights) bring "
                        f"leavers and excluded people back exactly like this"
                    ),
                )
            )
        limit = self.exclude_limit(managed_active)
        if excludes > limit:
            found.append(
                SafetyViolation(
                    limit="max_excludes",
                    observed=excludes,
                    allowed=limit,
                    message=(
                        f"the plan marks {excludes} user(s) out of scope, more than the {limit} "
                        f"allowed (max_excludes={self.max_excludes}, max_exclude_ratio="
                        f"{self.max_exclude_ratio:g} of {managed_active} managed active): a "
                        f"rule whose field vanished or changed for everyone looks like this"
                    ),
                )
            )
        return found

    def _window_violations(
        self,
        window: Window,
        suspensions: int,
        reactivations: int,
        managed_active: int,
        tripped: set[str],
    ) -> list[SafetyViolation]:
        found: list[SafetyViolation] = []
        since = "" if window.since is None else f" (since {window.since.isoformat()})"
        checks = (
            (
                "window_suspensions",
                "suspends",
                "suspended",
                suspensions,
                window.suspensions,
                self.window_suspension_limit(managed_active),
                self.max_window_suspensions,
                self.max_window_suspension_ratio,
            ),
            (
                "window_reactivations",
                "reactivates",
                "reactivated",
                reactivations,
                window.reactivations,
                self.window_reactivation_limit(managed_active),
                self.max_window_reactivations,
                self.max_window_reactivation_ratio,
            ),
        )
        for name, verb, done, now, before, limit, count, ratio in checks:
            # Without earlier runs in the window, a tripped per-run limit already said it all.
            if before == 0 and name.replace("window_", "max_") in tripped:
                continue
            if now and now + before > limit:
                found.append(
                    SafetyViolation(
                        limit=name,
                        observed=now + before,
                        allowed=limit,
                        message=(
                            f"the plan {verb} {now} user(s); with the {before} {done} by the "
                            f"unreviewed runs of the last {window.days} day(s){since} that "
                            f"makes {now + before}, more than the {limit} allowed over "
                            f"{window.days} day(s) (max_{name}={count}, max_{name}_ratio="
                            f"{ratio:g} of {managed_active} managed active): a few each night "
                            f"add up to a mass change, as when rights are lost bit by bit or "
                            f"a filter goes wrong; the run history shows who and when"
                        ),
                    )
                )
        return found

    def check(self, plan: Plan) -> None:
        """Raise when ``plan`` trips a limit, unless it is the approved plan or not enforced.

        Raises:
            SafetyError: With the first violation's ``limit``, ``observed`` and ``allowed``,
                every violation in ``violations``; the message lists them and how to approve
                the plan once reviewed.
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
        violations=plan.violations,
        digest=digest,
    )
