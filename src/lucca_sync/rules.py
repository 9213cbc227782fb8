"""Exclusion rules: who is kept out of the target, and why.

A rule is any callable ``rule(employee) -> str | None``: a reason to exclude the employee, or
``None`` to keep them (`ExclusionRule`). `decide` runs a sequence of rules for one employee;
the first rule that excludes wins and its name and reason are recorded as an `Exclusion`.

The built-ins are frozen attrs classes (hashable, comparable, with a repr that reads like the
call that built them), made by the lower-case factories: `skip_flag` (the default, Lucca's
``e_skip_elevo_sync`` check box), `departed`, `not_started`, `field_equals`, `field_matches`,
`field_is_null`, `in_department`, `in_legal_entity`, `reports_to`, `email_domain`, and the
combinators `any_of`, `all_of`, `not_`. `rules_from_config` builds the same objects from a
declarative configuration.

Reasons never contain personal data: they cite employee ids, field paths, check-box codes,
dates, department and establishment names, and the values written in the configuration.

Rules never read the wall clock. Date-based rules use the ``today`` given at construction or,
without it, `RuleContext.today` of the `decide` call in progress; graph-based rules
(`reports_to`) use `RuleContext.managers`. ``today`` is a date in the tenant's time zone: the
planner computes it (Europe/Paris unless configured otherwise).

Three-valued decisions: a rule that cannot read the data it needs returns an `Uncertain`
reason. The employee is kept out (privacy first) and the exclusion carries ``warning=True`` so
the report draws attention to it. The combinators follow Kleene logic: ``not_`` of an uncertain
rule is uncertain, `any_of` prefers a certain exclusion, and `all_of` keeps the employee as soon
as one rule certainly keeps them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import date, datetime
from types import MappingProxyType
from typing import Final, Protocol, TypeAlias

import attrs

from lucca_sync._employee import Employee, Ref, reads_raw
from lucca_sync._rules_config import ENTRY_POINT_GROUP, RuleLoader
from lucca_sync._rules_values import MISSING, comparable, lookup, read_flag, resolve_path
from lucca_sync.exceptions import ConfigurationError, RuleError

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_SKIP_FLAG_CODE",
    "ENTRY_POINT_GROUP",
    "AllOf",
    "AnyOf",
    "Departed",
    "EmailDomain",
    "Exclusion",
    "ExclusionRule",
    "FieldEquals",
    "FieldIsNull",
    "FieldMatches",
    "IdOrName",
    "InDepartment",
    "InLegalEntity",
    "Not",
    "NotStarted",
    "ReportsTo",
    "RuleContext",
    "Scalar",
    "SkipFlag",
    "Uncertain",
    "all_of",
    "any_of",
    "current_context",
    "decide",
    "departed",
    "email_domain",
    "field_equals",
    "field_is_null",
    "field_matches",
    "in_department",
    "in_legal_entity",
    "not_",
    "not_started",
    "reports_to",
    "rule_name",
    "rules_from_config",
    "skip_flag",
]

_log = logging.getLogger("lucca_sync.rules")

DEFAULT_SKIP_FLAG_CODE: Final = "e_skip_elevo_sync"
"""The HR-folder check box Elevo's own Lucca connector honours."""

Scalar: TypeAlias = str | int | float | bool
"""A value written in configuration: what `field_equals` compares against."""

IdOrName: TypeAlias = int | str
"""A department or establishment: its Lucca id (int) or its name (str, any case)."""


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
    if result is None:
        return None
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
                reason = _call(rule, employee)
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


# --- validation helpers: each appends "field: what is wrong" -----------------------------


def _raise_problems(rule: str, problems: list[str]) -> None:
    if problems:
        raise ConfigurationError(f"{rule}: " + "; ".join(problems), problems=tuple(problems))


def _check_text(problems: list[str], field: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{field}: expected a non-empty string")


def _check_path(problems: list[str], value: object) -> None:
    if not isinstance(value, str) or not value or any(not s for s in value.split(".")):
        problems.append(
            "path: expected a dotted path such as 'department.name' or "
            "'extendedData.e_contract_type'"
        )


def _check_days(problems: list[str], field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{field}: expected a whole number of days, 0 or more")


def _check_optional_today(problems: list[str], value: object) -> None:
    if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
        problems.append("today: expected a date (not a datetime) or None")


def _check_ids_or_names(problems: list[str], field: str, values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append(f"{field}: expected at least one id (integer) or name (string)")
        return
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            problems.append(f"{field}: expected ids (integers) or names (strings)")
            return


def _check_rules(problems: list[str], values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append("rules: expected at least one rule")
    elif not all(callable(value) for value in values):
        problems.append("rules: expected rules (callables)")


def _check_rule(problems: list[str], field: str, value: object) -> None:
    if not callable(value):
        problems.append(f"{field}: expected a rule (a callable)")


def _check_id(problems: list[str], field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{field}: expected an employee id (an integer)")


def _check_values(problems: list[str], values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append("values: expected at least one value")
    elif not all(isinstance(v, str | int | float) for v in values):
        problems.append("values: expected strings, numbers or booleans")


def _check_regex(problems: list[str], value: object) -> None:
    if not isinstance(value, str):
        problems.append("regex: expected a regular expression (a string)")
        return
    try:
        re.compile(value)
    except re.error as exc:
        problems.append(f"regex: not a valid regular expression ({exc})")


def _check_domains(problems: list[str], values: object) -> None:
    if not isinstance(values, tuple) or not values:
        problems.append("domains: expected at least one domain")
    elif not all(isinstance(d, str) and d.strip().lstrip("@") for d in values):
        problems.append("domains: expected domain names such as 'contractor.example'")


def _today(rule: _Rule, given: date | None) -> date:
    if given is not None:
        return given
    try:
        return current_context().today
    except RuleError as exc:
        raise RuleError(str(exc), rule=rule.name) from None


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


def _any_reads_raw(rules: Iterable[ExclusionRule]) -> bool:
    """Whether any of ``rules`` may read more of ``Employee.raw`` than a read that keeps no
    raw JSON holds (``extendedData``); any other rule may read anything, a subclass of a
    built-in too."""
    return any(
        type(rule).__module__ != __name__ or not isinstance(rule, _Rule) or rule._reads_raw()
        for rule in rules
    )


# --- built-in rules -----------------------------------------------------------------------


@attrs.frozen(repr=False)
class SkipFlag(_Rule):
    """Excludes employees whose HR-folder check box ``code`` is ticked; see `skip_flag`."""

    code: str = DEFAULT_SKIP_FLAG_CODE

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_text(problems, "code", self.code)
        _raise_problems("skip_flag", problems)

    @property
    def name(self) -> str:
        """``skip_flag('<code>')``."""
        return f"skip_flag({self.code!r})"

    def value_of(self, employee: Employee) -> object:
        """The check box's value for ``employee`` as read, `MISSING` when Lucca sent none."""
        code, extended = self.code, employee.extended_data
        if code in extended:
            return extended[code]  # the usual case when the box is set
        # Empty mappings are skipped without a look: most employees have no custom field.
        value = lookup(extended, code) if extended else MISSING
        if value is MISSING:
            raw = employee.raw.get("extendedData")
            if raw and isinstance(raw, Mapping):
                value = lookup(raw, code)
        return value

    def present_in(self, employee: Employee) -> bool:
        """Whether Lucca sent the check box at all for ``employee``.

        An unticked box and an API key without rights on the HR-folder section can look the
        same; when the box is absent for every employee of a full read, warn about the rights.
        """
        return self.value_of(employee) is not MISSING

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when the box is ticked; exclude with a warning when its value is unreadable."""
        ticked = read_flag(self.value_of(employee))
        if ticked is None:
            return Uncertain(
                f"check box {self.code} has a value that is not a check box's (expected true or "
                "false); kept out until it is fixed in Lucca"
            )
        return f"check box {self.code} is ticked in Lucca" if ticked else None


@attrs.frozen(repr=False)
class Departed(_Rule):
    """Excludes employees whose contract ended more than ``grace_days`` ago; see `departed`."""

    grace_days: int = 0
    today: date | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_days(problems, "grace_days", self.grace_days)
        _check_optional_today(problems, self.today)
        _raise_problems("departed", problems)

    @property
    def name(self) -> str:
        """``departed(grace_days=N)``, with ``today=…`` when fixed at construction."""
        today = "" if self.today is None else f", today={self.today!r}"
        return f"departed(grace_days={self.grace_days}{today})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when ``contract_end + grace_days < today``."""
        today = _today(self, self.today)
        end = employee.contract_end
        if end is None or (today - end).days <= self.grace_days:
            return None
        if self.grace_days:
            return (
                f"contract ended on {end.isoformat()}, more than {self.grace_days} days "
                f"before {today.isoformat()}"
            )
        return f"contract ended on {end.isoformat()}, before {today.isoformat()}"


@attrs.frozen(repr=False)
class NotStarted(_Rule):
    """Excludes employees starting more than ``pre_start_days`` after today; see `not_started`."""

    pre_start_days: int = 0
    today: date | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_days(problems, "pre_start_days", self.pre_start_days)
        _check_optional_today(problems, self.today)
        _raise_problems("not_started", problems)

    @property
    def name(self) -> str:
        """``not_started(pre_start_days=N)``, with ``today=…`` when fixed at construction."""
        today = "" if self.today is None else f", today={self.today!r}"
        return f"not_started(pre_start_days={self.pre_start_days}{today})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when ``contract_start > today + pre_start_days``."""
        today = _today(self, self.today)
        start = employee.contract_start
        if start is None or (start - today).days <= self.pre_start_days:
            return None
        if self.pre_start_days:
            return (
                f"contract starts on {start.isoformat()}, more than {self.pre_start_days} "
                f"days after {today.isoformat()}"
            )
        return f"contract starts on {start.isoformat()}, after {today.isoformat()}"


def _matches_any(value: object, test: Callable[[object], bool]) -> bool:
    """Apply ``test`` to a value, or to each element of a multi-valued field."""
    if isinstance(value, list | tuple):
        return any(test(item) for item in value)
    return test(value)


@attrs.frozen(repr=False)
class FieldEquals(_Rule):
    """Excludes employees whose field at ``path`` equals one of ``values``; see `field_equals`."""

    path: str
    values: tuple[Scalar, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_path(problems, self.path)
        _check_values(problems, self.values)
        _raise_problems("field_equals", problems)

    @property
    def name(self) -> str:
        """``field_equals('<path>', <values>…)``."""
        return f"field_equals({', '.join(map(repr, (self.path, *self.values)))})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when the value (or one element of a list) equals a configured value."""
        value = resolve_path(employee, self.path)
        found = [
            comparable(item) for item in (value if isinstance(value, list | tuple) else [value])
        ]
        for expected in self.values:
            if comparable(expected) in found:
                return f"{self.path} is {expected!r}"
        return None


@attrs.frozen(repr=False)
class FieldMatches(_Rule):
    """Excludes employees whose field at ``path`` matches ``regex``; see `field_matches`."""

    path: str
    regex: str

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_path(problems, self.path)
        _check_regex(problems, self.regex)
        _raise_problems("field_matches", problems)

    @property
    def name(self) -> str:
        """``field_matches('<path>', '<regex>')``."""
        return f"field_matches({self.path!r}, {self.regex!r})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when ``re.search(regex, value)`` finds a match (in one element of a list)."""

        def test(item: object) -> bool:
            if item is None or item is MISSING or isinstance(item, Mapping | list):
                return False
            text = item.isoformat() if isinstance(item, date) else str(item)
            return re.search(self.regex, text) is not None

        value = resolve_path(employee, self.path)
        return f"{self.path} matches {self.regex!r}" if _matches_any(value, test) else None


@attrs.frozen(repr=False)
class FieldIsNull(_Rule):
    """Excludes employees whose field at ``path`` has no value; see `field_is_null`."""

    path: str

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_path(problems, self.path)
        _raise_problems("field_is_null", problems)

    @property
    def name(self) -> str:
        """``field_is_null('<path>')``."""
        return f"field_is_null({self.path!r})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when the value is absent, null, a blank string or an empty list."""
        value = resolve_path(employee, self.path)
        empty = value is MISSING or value is None or value in ([], ())
        if empty or (isinstance(value, str) and not value.strip()):
            return f"{self.path} is empty"
        return None


def _ref_matches(ref: Ref | None, wanted: tuple[IdOrName, ...]) -> bool:
    if ref is None:
        return False
    name = ref.name.strip().casefold()
    return any(w == ref.id if isinstance(w, int) else w.strip().casefold() == name for w in wanted)


@attrs.frozen(repr=False)
class InDepartment(_Rule):
    """Excludes employees of the given departments; see `in_department`."""

    departments: tuple[IdOrName, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_ids_or_names(problems, "departments", self.departments)
        _raise_problems("in_department", problems)

    @property
    def name(self) -> str:
        """``in_department(<ids or names>…)``."""
        return f"in_department({', '.join(map(repr, self.departments))})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when the employee's department has one of the ids or names."""
        ref = employee.department
        if ref is not None and _ref_matches(ref, self.departments):
            return f"in department {ref.name!r} (id {ref.id})"
        return None


@attrs.frozen(repr=False)
class InLegalEntity(_Rule):
    """Excludes employees of the given legal entities (establishments); see `in_legal_entity`."""

    legal_entities: tuple[IdOrName, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_ids_or_names(problems, "legal_entities", self.legal_entities)
        _raise_problems("in_legal_entity", problems)

    @property
    def name(self) -> str:
        """``in_legal_entity(<ids or names>…)``."""
        return f"in_legal_entity({', '.join(map(repr, self.legal_entities))})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when the employee's legal entity has one of the ids or names."""
        ref = employee.legal_entity
        if ref is not None and _ref_matches(ref, self.legal_entities):
            return f"in legal entity {ref.name!r} (id {ref.id})"
        return None


@attrs.frozen(repr=False)
class ReportsTo(_Rule):
    """Excludes everyone under ``manager_id`` in the management chain; see `reports_to`."""

    manager_id: int

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_id(problems, "manager_id", self.manager_id)
        _raise_problems("reports_to", problems)

    @property
    def name(self) -> str:
        """``reports_to(<manager id>)``."""
        return f"reports_to({self.manager_id})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude direct and indirect reports of ``manager_id`` (not the manager themself)."""
        try:
            managers = current_context().managers
        except RuleError as exc:
            raise RuleError(str(exc), rule=self.name) from None
        boss = employee.manager_id if employee.manager_id is not None else managers.get(employee.id)
        seen = {employee.id}
        chain: list[int] = []
        # A cycle in Lucca's data (A manages B manages A) must not loop forever.
        while boss is not None and boss not in seen:
            if boss == self.manager_id:
                through = f" (through {' → '.join(map(str, chain))})" if chain else ""
                return f"reports to employee {self.manager_id}{through}"
            seen.add(boss)
            chain.append(boss)
            boss = managers.get(boss)
        return None


@attrs.frozen(repr=False)
class EmailDomain(_Rule):
    """Excludes employees whose e-mail is in one of ``domains``; see `email_domain`."""

    domains: tuple[str, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_domains(problems, self.domains)
        _raise_problems("email_domain", problems)

    @property
    def name(self) -> str:
        """``email_domain('<domain>'…)``."""
        return f"email_domain({', '.join(map(repr, self.domains))})"

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when the part after the last ``@`` equals a domain, ignoring case."""
        if not employee.email or "@" not in employee.email:
            return None
        domain = employee.email.rpartition("@")[2].strip().casefold()
        for wanted in self.domains:
            if domain == wanted.strip().lstrip("@").casefold():
                return f"e-mail domain is {domain}"
        return None


# --- combinators --------------------------------------------------------------------------


@attrs.frozen(repr=False)
class AnyOf(_Rule):
    """Excludes when at least one of ``rules`` excludes; see `any_of`."""

    rules: tuple[ExclusionRule, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_rules(problems, self.rules)
        _raise_problems("any_of", problems)

    @property
    def name(self) -> str:
        """``any_of(<rule names>…)``."""
        return f"any_of({', '.join(map(rule_name, self.rules))})"

    def _reads_raw(self) -> bool:
        return _any_reads_raw(self.rules)

    def __call__(self, employee: Employee, /) -> str | None:
        """The first certain reason among ``rules``; else the first uncertain one; else None."""
        uncertain: str | None = None
        for rule in self.rules:
            reason = _call(rule, employee)
            if reason is not None and not isinstance(reason, Uncertain):
                return reason
            uncertain = uncertain or reason
        return uncertain


@attrs.frozen(repr=False)
class AllOf(_Rule):
    """Excludes when every one of ``rules`` excludes; see `all_of`."""

    rules: tuple[ExclusionRule, ...]

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_rules(problems, self.rules)
        _raise_problems("all_of", problems)

    @property
    def name(self) -> str:
        """``all_of(<rule names>…)``."""
        return f"all_of({', '.join(map(rule_name, self.rules))})"

    def _reads_raw(self) -> bool:
        return _any_reads_raw(self.rules)

    def __call__(self, employee: Employee, /) -> str | None:
        """The reasons joined with "and"; uncertain when one of them is; None if one keeps."""
        reasons = []
        for rule in self.rules:
            reason = _call(rule, employee)
            if reason is None:
                return None
            reasons.append(reason)
        text = " and ".join(reasons)
        return Uncertain(text) if any(isinstance(r, Uncertain) for r in reasons) else text


@attrs.frozen(repr=False)
class Not(_Rule):
    """Excludes when ``of`` keeps, and the other way round; see `not_`."""

    of: ExclusionRule

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        _check_rule(problems, "of", self.of)
        _raise_problems("not_", problems)

    @property
    def name(self) -> str:
        """``not_(<rule name>)``."""
        return f"not_({rule_name(self.of)})"

    def _reads_raw(self) -> bool:
        return _any_reads_raw((self.of,))

    def __call__(self, employee: Employee, /) -> str | None:
        """Exclude when ``of`` keeps; keep when it excludes; stay uncertain when it is."""
        reason = _call(self.of, employee)
        if reason is None:
            return f"does not match {rule_name(self.of)}"
        return reason if isinstance(reason, Uncertain) else None


# --- factories ----------------------------------------------------------------------------


def skip_flag(code: str = DEFAULT_SKIP_FLAG_CODE) -> SkipFlag:
    """Exclude employees whose HR-folder check box ``code`` is ticked.

    The value is read from ``employee.extended_data`` (else the raw ``extendedData``), bare
    or still wrapped in ``{id, value}``. Ticked: ``true``, ``1``, or the strings ``true``,
    ``1``, ``yes``, ``oui`` (trimmed, any case). Not ticked: absent, ``null``, ``false``, ``0``,
    ``"false"``, ``"0"``, ``"no"``, ``"non"``, ``""``. Any other value is not guessed: the
    employee is kept out with an `Uncertain` reason, so the report warns.

    Args:
        code: the check box's code in Lucca (``e_…``).

    Raises:
        ConfigurationError: ``code`` is not a non-empty string.
    """
    return SkipFlag(code)


def departed(grace_days: int = 0, *, today: date | None = None) -> Departed:
    """Exclude employees whose contract ended more than ``grace_days`` days before today.

    Excluded when ``contract_end + grace_days < today``; kept when there is no end date.

    Args:
        grace_days: days after the end of the contract during which the employee is still kept.
        today: a fixed date; by default `RuleContext.today` of the `decide` call.

    Raises:
        ConfigurationError: ``grace_days`` is not a whole number >= 0, or ``today`` not a date.
    """
    return Departed(grace_days, today=today)


def not_started(pre_start_days: int = 0, *, today: date | None = None) -> NotStarted:
    """Exclude employees whose contract starts more than ``pre_start_days`` days after today.

    Excluded when ``contract_start > today + pre_start_days``; kept when there is no start date.
    ``not_started(14)`` lets new hires in two weeks before their first day.

    Args:
        pre_start_days: how many days before their start new hires are let in.
        today: a fixed date; by default `RuleContext.today` of the `decide` call.

    Raises:
        ConfigurationError: ``pre_start_days`` is not a whole number >= 0, or ``today`` not a
            date.
    """
    return NotStarted(pre_start_days, today=today)


def field_equals(path: str, *values: Scalar) -> FieldEquals:
    """Exclude employees whose field at ``path`` equals one of ``values``.

    ``path`` is an `Employee` attribute, dotted into references (``department.name``,
    ``extended_data.e_contract_type``), or a path in the raw Lucca JSON (``legalEntity.name``,
    ``extendedData.e_contract_type``; ``{id, value}`` wrappers are removed). Strings compare
    trimmed and case-insensitively, numbers and booleans by their JSON text (``84`` matches
    ``"84"``); for a multi-valued field, one matching element is enough.

    Raises:
        ConfigurationError: bad path, or no values.
    """
    return FieldEquals(path, values)


def field_matches(path: str, regex: str) -> FieldMatches:
    """Exclude employees whose field at ``path`` matches ``regex`` (``re.search``).

    Numbers are matched by their text and dates by their ISO form; prefix the expression with
    ``(?i)`` to ignore case. See `field_equals` for ``path``.

    Raises:
        ConfigurationError: bad path, or ``regex`` is not a valid regular expression.
    """
    return FieldMatches(path, regex)


def field_is_null(path: str) -> FieldIsNull:
    """Exclude employees with no value at ``path``: absent, null, blank string or empty list.

    See `field_equals` for ``path``.

    Raises:
        ConfigurationError: bad path.
    """
    return FieldIsNull(path)


def in_department(*ids_or_names: IdOrName) -> InDepartment:
    """Exclude employees of the given departments, by Lucca id (int) or name (any case).

    Raises:
        ConfigurationError: nothing given, or something other than ids and names.
    """
    return InDepartment(ids_or_names)


def in_legal_entity(*ids_or_names: IdOrName) -> InLegalEntity:
    """Exclude employees of the given legal entities, by Lucca id (int) or name (any case).

    In Lucca's v3 API, ``legalEntity`` is the establishment (site) the employee belongs to.

    Raises:
        ConfigurationError: nothing given, or something other than ids and names.
    """
    return InLegalEntity(ids_or_names)


def reports_to(manager_id: int) -> ReportsTo:
    """Exclude everyone who reports to ``manager_id``, directly or indirectly.

    The chain is followed through `RuleContext.managers` (the whole directory), and is safe
    against cycles. The manager themself is not excluded: combine with
    ``field_equals("id", manager_id)`` in `any_of` for that.

    Raises:
        ConfigurationError: ``manager_id`` is not an integer.
    """
    return ReportsTo(manager_id)


def email_domain(*domains: str) -> EmailDomain:
    """Exclude employees whose e-mail domain is one of ``domains`` (exactly, ignoring case).

    ``email_domain("contractor.example")`` matches ``x@Contractor.example`` but not
    ``x@eu.contractor.example``. Employees without an e-mail are kept.

    Raises:
        ConfigurationError: nothing given, or not domain names.
    """
    return EmailDomain(domains)


def any_of(*rules: ExclusionRule) -> AnyOf:
    """Exclude when at least one of ``rules`` excludes, with that rule's reason.

    A certain reason wins over an `Uncertain` one, so the decision and its warning flag do not
    depend on the order of ``rules``.

    Raises:
        ConfigurationError: no rules, or something that is not callable.
    """
    return AnyOf(rules)


def all_of(*rules: ExclusionRule) -> AllOf:
    """Exclude when every one of ``rules`` excludes; the reasons are joined with "and".

    Raises:
        ConfigurationError: no rules (which would exclude everybody), or something not callable.
    """
    return AllOf(rules)


def not_(rule: ExclusionRule) -> Not:
    """Exclude exactly the employees ``rule`` keeps (reason: "does not match <rule>").

    ``not_(in_legal_entity("Acme Paris"))`` keeps only Acme Paris. When ``rule`` is uncertain
    (an unreadable value), so is its negation: the employee stays out, with a warning.

    Raises:
        ConfigurationError: ``rule`` is not callable.
    """
    return Not(rule)


DEFAULT_RULES: Final[tuple[ExclusionRule, ...]] = (skip_flag(),)
"""The rules used when none are given: Lucca's ``e_skip_elevo_sync`` check box."""

_BUILTINS: Final[Mapping[str, type[_Rule]]] = {
    "skip_flag": SkipFlag,
    "departed": Departed,
    "not_started": NotStarted,
    "field_equals": FieldEquals,
    "field_matches": FieldMatches,
    "field_is_null": FieldIsNull,
    "in_department": InDepartment,
    "in_legal_entity": InLegalEntity,
    "reports_to": ReportsTo,
    "email_domain": EmailDomain,
    "any_of": AnyOf,
    "all_of": AllOf,
    "not": Not,
    "not_": Not,
}
_LOADER: Final = RuleLoader(_BUILTINS, ExclusionRule)


def rules_from_config(
    data: Sequence[Mapping[str, object]], *, path: str = "rules"
) -> tuple[ExclusionRule, ...]:
    """Build rules from their declarative form: a list of tables, each naming a rule.

    Each table has a ``rule`` key and the rule's options, named like the attributes of its
    class: ``{"rule": "skip_flag", "code": "e_x"}``, ``{"rule": "departed", "grace_days": 30}``,
    ``{"rule": "field_equals", "path": "legalEntity.name", "values": ["Acme Lyon"]}``,
    ``{"rule": "in_department", "departments": [12, "Sales"]}``,
    ``{"rule": "email_domain", "domains": [...]}``, ``{"rule": "reports_to", "manager_id": 7}``,
    ``{"rule": "any_of", "rules": [...]}``, ``{"rule": "not", "of": {...}}``. Any other name is
    looked up among the entry points of the ``lucca_sync.rules`` group, whose factory is called
    with the table's other keys.

    Args:
        data: the list of tables (for instance the ``rules`` array of a TOML file).
        path: how problems name the list (``rules[2].grace_days``).

    Returns:
        The rules, in the order given.

    Raises:
        ConfigurationError: every problem found, each with its path, in ``problems``.
    """
    return _LOADER.load(data, path=path)  # type: ignore[return-value]
