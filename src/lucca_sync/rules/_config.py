"""Building exclusion rules from configuration (a list of tables, from TOML or JSON).

Each table names a rule (``rule = "departed"``) and gives its options; cattrs structures the
options into the rule's attrs class. Structuring never stops at the first mistake: every
problem is collected with its path (``rules[2].grace_days: expected an integer``) and reported
in one `ConfigurationError`. Rules that are not built in come from the entry-point group
``lucca_sync.rules``: each entry point is a factory called with the table's options.
"""

from __future__ import annotations

import difflib
import logging
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final, Union, get_args, get_origin

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from lucca_sync.exceptions import ConfigurationError
from lucca_sync.rules._builtins import (
    Departed,
    EmailDomain,
    FieldEquals,
    FieldIsNull,
    FieldMatches,
    InDepartment,
    InLegalEntity,
    NotStarted,
    ReportsTo,
    SkipFlag,
)
from lucca_sync.rules._combinators import AllOf, AnyOf, Not
from lucca_sync.rules._protocol import ExclusionRule, _Rule

__all__ = ["ENTRY_POINT_GROUP", "RuleLoader"]

ENTRY_POINT_GROUP = "lucca_sync.rules"

_log = logging.getLogger("lucca_sync.rules")
_SCALARS = (str, int, float, bool)

# One problem: a path relative to the value being structured ("", ".grace_days", "[0].rule")
# and what is wrong there.
_Problem = tuple[str, str]


class _ProblemsError(Exception):
    """Problems found below some value; whoever catches it prefixes their own path."""

    def __init__(self, problems: list[_Problem]) -> None:
        self.problems = problems
        super().__init__(problems)


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    return _type_name(type(value))


def _type_name(tp: object) -> str:
    names: dict[object, str] = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
    }
    return names.get(tp) or f"a {getattr(tp, '__name__', tp)}"


def _collect(exc: BaseException, path: str) -> list[_Problem]:
    """Flatten a structuring failure into problems, each with its path."""
    if isinstance(exc, _ProblemsError):
        return [(path + sub, message) for sub, message in exc.problems]
    if isinstance(exc, ConfigurationError):
        # A rule's own validation: its problems read "field: what is wrong".
        found: list[_Problem] = []
        for problem in exc.problems:
            field, sep, message = problem.partition(": ")
            found.append((f"{path}.{field}", message) if sep else (path, problem))
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = (
            ", ".join(sorted(a.name for a in getattr(exc.cl, "__attrs_attrs__", ()))) or "none"
        )
        return [
            (f"{path}.{key}", f"unknown option (this rule takes: {allowed})")
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, ClassValidationError):
        with_notes, others = exc.group_exceptions()
        found = []
        for sub, note in with_notes:
            found += _collect(sub, f"{path}.{note.name}")
        for sub in others:
            found += _collect(sub, path)
        return found
    if isinstance(exc, IterableValidationError):
        items, others = exc.group_exceptions()
        found = []
        for sub, item_note in items:
            found += _collect(sub, f"{path}[{item_note.index}]")
        for sub in others:
            found += _collect(sub, path)
        return found
    if isinstance(exc, KeyError):
        return [(path, "required option is missing")]
    return [(path, str(exc))]


class RuleLoader:
    """Structures configuration tables into rule objects.

    Args:
        builtins: configuration name -> attrs class of each built-in rule.
        rule_type: the type that stands for "a nested rule" in the classes' annotations.
    """

    def __init__(self, builtins: Mapping[str, type[Any]], rule_type: type[Any]) -> None:
        self._builtins = dict(builtins)
        self._rule_type = rule_type
        self._converter = self._make_converter()

    def _make_converter(self) -> cattrs.Converter:
        converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        converter.register_structure_hook(str, _strict(str))
        converter.register_structure_hook(int, _strict(int))
        converter.register_structure_hook(bool, _strict(bool))
        converter.register_structure_hook_func(_is_scalar_union, _structure_scalar_union)
        converter.register_structure_hook_func(_is_optional_date, _structure_date)
        converter.register_structure_hook_func(_is_tuple, self._structure_tuple)
        converter.register_structure_hook_func(
            lambda tp: tp is self._rule_type, lambda value, _: self._structure_rule(value)
        )
        return converter

    def load(self, data: object, *, path: str) -> tuple[Callable[..., object], ...]:
        """Build the rules listed in ``data``; one ConfigurationError lists every problem."""
        if isinstance(data, str | bytes) or not isinstance(data, list | tuple):
            raise ConfigurationError(
                f"{path}: expected a list of rule tables, got {_describe(data)}",
                problems=(f"{path}: expected a list of rule tables, got {_describe(data)}",),
            )
        loaded = []
        problems: list[str] = []
        for index, item in enumerate(data):
            try:
                loaded.append(self._structure_rule(item))
            except _ProblemsError as exc:
                problems += [f"{path}[{index}]{sub}: {message}" for sub, message in exc.problems]
        if problems:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            raise ConfigurationError(
                f"{count} in the exclusion rules: " + "; ".join(problems),
                problems=tuple(problems),
            )
        return tuple(loaded)

    def _structure_rule(self, item: object) -> Callable[..., object]:
        if not isinstance(item, Mapping):
            raise _ProblemsError(
                [("", f"expected a table with a 'rule' key, got {_describe(item)}")]
            )
        name = item.get("rule")
        if name is None:
            raise _ProblemsError(
                [(".rule", 'missing: name the rule, for example rule = "skip_flag"')]
            )
        if not isinstance(name, str):
            raise _ProblemsError(
                [(".rule", f"expected a rule name (a string), got {_describe(name)}")]
            )
        options = {key: value for key, value in item.items() if key != "rule"}
        if name in self._builtins:
            try:
                rule: Callable[..., object] = self._converter.structure(
                    options, self._builtins[name]
                )
            except (ClassValidationError, ConfigurationError, _ProblemsError) as exc:
                raise _ProblemsError(_collect(exc, "")) from exc
            return rule
        plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if name in plugins:
            return _call_plugin(plugins[name], options)
        known = sorted({*self._builtins, *plugins})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _ProblemsError(
            [
                (
                    ".rule",
                    f"unknown rule {name!r}{hint} (known rules: {', '.join(known)}; other "
                    f"rules come from packages declaring {ENTRY_POINT_GROUP!r} entry points)",
                )
            ]
        )

    def _structure_tuple(self, value: object, tp: Any) -> tuple[object, ...]:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise _ProblemsError([("", f"expected a list, got {_describe(value)}")])
        (item_type, _ellipsis) = get_args(tp)
        items = []
        problems: list[_Problem] = []
        for index, item in enumerate(value):
            try:
                items.append(self._converter.structure(item, item_type))
            except Exception as exc:  # every failure becomes a reported problem
                problems += _collect(exc, f"[{index}]")
        if problems:
            raise _ProblemsError(problems)
        return tuple(items)


def _call_plugin(entry_point: EntryPoint, options: dict[str, object]) -> Callable[..., object]:
    """Load a third-party rule factory and call it with the table's options."""
    where = f"entry point {entry_point.name!r} ({entry_point.value})"
    try:
        factory = entry_point.load()
    except Exception as exc:  # a broken plugin is a configuration problem
        raise _ProblemsError(
            [(".rule", f"could not load {where}: {type(exc).__name__}: {exc}")]
        ) from exc
    if not callable(factory):
        raise _ProblemsError(
            [(".rule", f"{where} is {_describe(factory)}, not a rule factory (a callable)")]
        )
    try:
        rule = factory(**options)
    except ConfigurationError as exc:
        raise _ProblemsError(_collect(exc, "")) from exc
    except (TypeError, ValueError) as exc:
        raise _ProblemsError([("", f"{where} rejected its options: {exc}")]) from exc
    if not callable(rule):
        raise _ProblemsError([("", f"{where} returned {_describe(rule)}, not a rule (a callable)")])
    _log.debug("rule %r built by %s", entry_point.name, where)
    return rule  # type: ignore[no-any-return]


def _strict(tp: type[object]) -> Callable[[object, object], object]:
    def structure(value: object, _: object) -> object:
        # bool is an int in Python, but `grace_days = true` is a mistake, not 1.
        if type(value) is not tp:
            raise ValueError(f"expected {_type_name(tp)}, got {_describe(value)}")
        return value

    return structure


def _union_args(tp: object) -> tuple[object, ...]:
    if get_origin(tp) in (Union, types.UnionType):
        return get_args(tp)
    return ()


def _is_scalar_union(tp: object) -> bool:
    args = _union_args(tp)
    return bool(args) and all(arg in _SCALARS for arg in args)


def _structure_scalar_union(value: object, tp: object) -> object:
    args = _union_args(tp)
    if type(value) in args:
        return value
    expected = " or ".join(_type_name(arg) for arg in args)
    raise ValueError(f"expected {expected}, got {_describe(value)}")


def _is_optional_date(tp: object) -> bool:
    return set(_union_args(tp)) == {date, type(None)}


def _structure_date(value: object, _: object) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date (YYYY-MM-DD), got {_describe(value)}")


def _is_tuple(tp: object) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


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
