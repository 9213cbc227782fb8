"""What a rule is and how rules are run for one employee.

`ExclusionRule` (the protocol), `Uncertain` reasons, the `Exclusion` record, the `RuleContext`
that date- and graph-based rules read, and `decide`, which runs a sequence of rules. `_Rule` is
the shared base of the built-ins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import date, datetime
from types import MappingProxyType
from typing import Protocol

import attrs

from lucca_sync._employee import Employee, custom_fields_read, reads_raw
from lucca_sync.exceptions import ConfigurationError, RuleError

__all__ = [
    "Exclusion",
    "ExclusionRule",
    "RuleContext",
    "Uncertain",
    "current_context",
    "decide",
    "rule_name",
]

_log = logging.getLogger("lucca_sync.rules")

# Built-in rules live in this package; a rule class defined anywhere else (a subclass of a
# built-in included) may read anything.
_BUILTIN_PACKAGE = "lucca_sync.rules."


class ExclusionRule(Protocol):
    """Decides whether one employee is kept out of the target.

    Any callable with this shape is a rule, plain functions included. Return a short reason
    (no personal data: cite ids, codes, dates) to exclude the employee, ``None`` to keep them.
    Return an `Uncertain` reason when the data needed cannot be read: the employee is kept out
    and the report warns. A rule object may carry a ``name`` attribute (a string) that
    `rule_name` then uses.
    """

    def __call__(self, employee: Employee, /) -> str | None:
        """Return a reason to exclude ``employee``, or ``None`` to keep them."""
        ...


class Uncertain(str):
    """A reason meaning "the rule could not read what it needs".

    The employee is kept out of the target anyway (privacy first), and `decide` marks the
    `Exclusion` with ``warning=True`` so the report asks someone to fix the data.
    """

    __slots__ = ()


@attrs.frozen
class Exclusion:
    """One excluded employee, as recorded in the plan.

    Attributes:
        employee_id: the Lucca id of the excluded employee.
        rule: the name of the rule that excluded them (`rule_name`).
        reason: why, readable by an HR admin; no personal data beyond ids, codes and dates.
        warning: True when the rule could not read the data (an `Uncertain` reason): the
            employee is kept out, and the report should ask someone to look.
    """

    employee_id: int
    rule: str
    reason: str
    warning: bool = False


def _frozen_managers(value: Mapping[int, int | None]) -> Mapping[int, int | None]:
    return MappingProxyType(dict(value))


def _check_today(value: object) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ConfigurationError(
            "today: expected a date, not a datetime or anything else (take the date part in "
            "the tenant's time zone, e.g. datetime.now(ZoneInfo('Europe/Paris')).date())"
        )


@attrs.frozen
class RuleContext:
    """What rules may know beyond the employee itself, for one planning run.

    Attributes:
        today: the current date in the tenant's time zone. The planner computes it (Europe/Paris
            unless configured otherwise); rules never read the clock, so plans are reproducible.
        managers: employee id -> manager id for the whole directory, used by `reports_to` to
            follow the management chain past the employee's direct manager.
    """

    today: date
    managers: Mapping[int, int | None] = attrs.field(
        default=MappingProxyType({}), converter=_frozen_managers, hash=False
    )

    def __attrs_post_init__(self) -> None:
        _check_today(self.today)

    @classmethod
    def for_employees(cls, employees: Iterable[Employee], *, today: date) -> RuleContext:
        """A context whose manager graph is taken from ``employees`` (the whole directory).

        Args:
            employees: every employee read, including those who will be excluded.
            today: the current date in the tenant's time zone.

        Returns:
            The context to pass to `decide`.
        """
        return cls(today=today, managers={e.id: e.manager_id for e in employees})


_CURRENT: ContextVar[RuleContext | None] = ContextVar("lucca_sync_rule_context", default=None)


def current_context() -> RuleContext:
    """The `RuleContext` of the `decide` call in progress, for custom date- or graph-based rules.

    Raises:
        RuleError: when no `decide` call is in progress.
    """
    context = _CURRENT.get()
    if context is None:
        raise RuleError(
            "no rule context: a rule that needs today's date or the manager graph must run "
            "through lucca_sync.rules.decide(rules, employee, RuleContext(today=...)), or be "
            "given today=... when it is built"
        )
    return context


def rule_name(rule: Callable[..., object]) -> str:
    """A stable, readable name for ``rule``, as recorded in exclusions and errors.

    Built-in rules are named like the call that built them (``skip_flag('e_skip_elevo_sync')``,
    ``departed(grace_days=30)``); an object with a string ``name`` attribute by that name;
    a function by its ``__qualname__``; any other callable by its class's qualified name.
    """
    name = getattr(rule, "name", None)
    if isinstance(name, str) and name:
        return name
    qualname = getattr(rule, "__qualname__", None)
    if isinstance(qualname, str):
        return qualname
    func = getattr(rule, "func", None)  # functools.partial
    if callable(func):
        return rule_name(func)
    return type(rule).__qualname__


class _BadResultError(TypeError):
    """A rule returned something other than a reason or None (our message, no HR data)."""


def _call(rule: Callable[..., object], employee: Employee) -> str | None:
    """Run one rule and check what it returned; a blank reason still excludes."""
    result = rule(employee)
    return None if result is None else _reason(rule, result)


def _reason(rule: Callable[..., object], result: object) -> str:
    """What a rule that did not return None returned, checked: its reason."""
    if not isinstance(result, str):
        raise _BadResultError(
            f"returned {type(result).__name__}; a rule returns a reason (str) or None"
        )
    if not result.strip():
        # The rule did not return None, so it meant to exclude: keep the person out rather
        # than guess, and say that no reason was given.
        text = f"excluded by {rule_name(rule)} (the rule gave no reason)"
        return Uncertain(text) if isinstance(result, Uncertain) else text
    return result


def decide(
    rules: Iterable[ExclusionRule], employee: Employee, context: RuleContext
) -> Exclusion | None:
    """Run ``rules`` in order for ``employee``; the first rule that excludes wins.

    Rules that need today's date or the manager graph read ``context`` (see `current_context`).
    A rule that returns an empty or blank reason still excludes; the recorded reason then says
    the rule gave none.

    Args:
        rules: the exclusion rules, in priority order.
        employee: the employee to decide about.
        context: today's date in the tenant's time zone and the directory's manager graph.

    Returns:
        The `Exclusion` (rule name, reason, warning flag), or ``None`` when every rule keeps
        the employee.

    Raises:
        RuleError: a rule raised, or returned something other than a string or None. The
            error names the rule and the employee id and is chained from the original; the
            planner records it for this employee and decides the others normally.
    """
    token = _CURRENT.set(context)
    try:
        for rule in rules:
            try:
                # _call() inline: decide() runs once per employee and rule.
                result = rule(employee)
                reason = None if result is None else _reason(rule, result)
            except Exception as exc:
                name = rule_name(rule)
                # Our own messages carry no HR data; a foreign exception's text might.
                detail = f": {exc}" if isinstance(exc, _BadResultError | RuleError) else ""
                raise RuleError(
                    f"exclusion rule {name} failed for employee {employee.id}: "
                    f"{type(exc).__name__}{detail}; check the rule and this employee's data",
                    employee_id=employee.id,
                    rule=name,
                ) from exc
            if reason is not None:
                exclusion = Exclusion(
                    employee_id=employee.id,
                    rule=rule_name(rule),
                    reason=str(reason),
                    warning=isinstance(reason, Uncertain),
                )
                _log.debug("employee %s excluded by %s", employee.id, exclusion.rule)
                return exclusion
        return None
    finally:
        _CURRENT.reset(token)


class _Rule:
    """Shared behaviour of the built-ins: the repr is the rule's name."""

    __slots__ = ()

    @property
    def name(self) -> str:
        """The rule's stable, readable name: the call that builds it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name

    def _reads_raw(self) -> bool:
        """Whether the rule may read more of ``Employee.raw`` than ``extendedData``: a rule on
        a ``path`` reads what the path names, the others read typed attributes."""
        path = getattr(self, "path", None)
        return isinstance(path, str) and reads_raw(path.split("."))

    def _custom_fields(self) -> frozenset[str] | None:
        """The custom-field codes the rule reads (``None``: any): those its ``path`` names;
        none for the rules on typed attributes."""
        path = getattr(self, "path", None)
        return custom_fields_read(path.split(".")) if isinstance(path, str) else frozenset()


def _any_reads_raw(rules: Iterable[ExclusionRule]) -> bool:
    """Whether any of ``rules`` may read more of ``Employee.raw`` than a read that keeps no
    raw JSON holds (``extendedData``); any other rule may read anything, a subclass of a
    built-in too."""
    return any(
        not isinstance(rule, _Rule)
        or not type(rule).__module__.startswith(_BUILTIN_PACKAGE)
        or rule._reads_raw()
        for rule in rules
    )


def _custom_fields_read(rules: Iterable[ExclusionRule]) -> frozenset[str] | None:
    """The custom-field codes ``rules`` read, for a read of only those (``None``: any code,
    as for any rule that is not a built-in, a subclass of a built-in too)."""
    codes: set[str] = set()
    for rule in rules:
        if not isinstance(rule, _Rule) or not type(rule).__module__.startswith(_BUILTIN_PACKAGE):
            return None
        found = rule._custom_fields()
        if found is None:
            return None
        codes |= found
    return frozenset(codes)
