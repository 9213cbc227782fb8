"""The built-in rules: frozen attrs classes and the lower-case factories that build them.

`skip_flag` (the default, Lucca's ``e_skip_elevo_sync`` check box), `departed`, `not_started`,
`field_equals`, `field_matches`, `field_is_null`, `in_department`, `in_legal_entity`,
`reports_to`, `email_domain`; `DEFAULT_RULES`.

A new built-in rule goes here: a frozen attrs class deriving from ``_Rule``, a factory, and an
entry in ``_config._BUILTINS`` so configurations can name it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Final, TypeAlias

import attrs

from lucca_sync._employee import Employee, Ref
from lucca_sync.exceptions import RuleError
from lucca_sync.rules._checks import (
    _check_days,
    _check_domains,
    _check_id,
    _check_ids_or_names,
    _check_optional_today,
    _check_path,
    _check_regex,
    _check_text,
    _check_values,
    _raise_problems,
)
from lucca_sync.rules._protocol import ExclusionRule, Uncertain, _Rule, current_context
from lucca_sync.rules._values import MISSING, comparable, lookup, read_flag, resolve_path

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_SKIP_FLAG_CODE",
    "Departed",
    "EmailDomain",
    "FieldEquals",
    "FieldIsNull",
    "FieldMatches",
    "IdOrName",
    "InDepartment",
    "InLegalEntity",
    "NotStarted",
    "ReportsTo",
    "Scalar",
    "SkipFlag",
    "departed",
    "email_domain",
    "field_equals",
    "field_is_null",
    "field_matches",
    "in_department",
    "in_legal_entity",
    "not_started",
    "reports_to",
    "skip_flag",
]


DEFAULT_SKIP_FLAG_CODE: Final = "e_skip_elevo_sync"
"""The HR-folder check box Elevo's own Lucca connector honours."""

Scalar: TypeAlias = str | int | float | bool
"""A value written in configuration: what `field_equals` compares against."""

IdOrName: TypeAlias = int | str
"""A department or establishment: its Lucca id (int) or its name (str, any case)."""


def _today(rule: _Rule, given: date | None) -> date:
    if given is not None:
        return given
    try:
        return current_context().today
    except RuleError as exc:
        raise RuleError(str(exc), rule=rule.name) from None


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

    def _custom_fields(self) -> frozenset[str]:
        return frozenset({self.code})

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


DEFAULT_RULES: Final[tuple[ExclusionRule, ...]] = (skip_flag(),)
"""The rules used when none are given: Lucca's ``e_skip_elevo_sync`` check box."""
