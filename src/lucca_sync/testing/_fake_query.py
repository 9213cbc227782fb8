"""The query-string grammar of Lucca's legacy v3 API, as FakeLucca understands it.

``fields`` projections, property filters with operators, ``orderBy`` and ``paging``, following
Lucca's open-source REST framework (RestDrivenDomain) as summarised in the project's Lucca
reference (§4.3-§4.6). Every malformed parameter raises :class:`QueryError`, which the server
answers with 400 and the message.

One module on purpose: it is one grammar, each part (fields, filters, order, paging) small.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, TypeAlias

import attrs

__all__ = [
    "DEFAULT_FIELDS",
    "Fields",
    "Filter",
    "Order",
    "QueryError",
    "find_key",
    "parse_fields",
    "parse_filter",
    "parse_order",
    "parse_paging",
    "project",
    "wire_datetime",
]

MAX_LIMIT: Final = 1000

# Known v3 user properties (Lucca reference §5.1), keyed by their case-folded name. Requested
# names are matched case-insensitively; responses use the user's own key (camelCase).
_KNOWN: Final = {
    name.casefold(): name
    for name in [
        "id",
        "name",
        "url",
        "displayName",
        "firstName",
        "lastName",
        "mail",
        "login",
        "employeeNumber",
        "jobTitle",
        "dtContractStart",
        "dtContractEnd",
        "birthDate",
        "modifiedAt",
        "modifiedOn",
        "manager",
        "managerId",
        "department",
        "departmentId",
        "legalEntity",
        "legalEntityId",
        "culture",
        "cultureId",
        "calendar",
        "calendarId",
        "picture",
        "rolePrincipal",
        "rolePrincipalId",
        "habilitedRoles",
        "userWorkCycles",
        "applicationData",
        "extendedData",
        "gender",
        "nationality",
        "personalEmail",
        "personalMobile",
        "professionalMobile",
        "directLine",
        "address",
        "civilTitle",
        "quote",
        "bankName",
        "cspId",
    ]
}
# Lucca names the modification timestamp either way; a tenant has one of them (§5.2).
_ALIASES: Final = {"modifiedat": "modifiedon", "modifiedon": "modifiedat"}
_DATE_PROPERTIES: Final = frozenset(
    {"dtcontractstart", "dtcontractend", "birthdate", "modifiedat", "modifiedon"}
)
_REF_KEYS: Final = ("id", "name", "url")


class QueryError(ValueError):
    """A query parameter that Lucca would refuse with 400 Bad Request."""


# --------------------------------------------------------------------------------------------
# fields=
# --------------------------------------------------------------------------------------------

# A projection tree: case-folded property name -> sub-projection, or None for "the whole
# property" (a reference object then shrinks to {id, name, url}).
Tree: TypeAlias = dict[str, "Tree | None"]


@attrs.frozen
class Fields:
    """A parsed ``fields=`` parameter."""

    tree: Tree
    count: bool = False  # collection.count was asked for

    @property
    def count_only(self) -> bool:
        """True when only ``collection.count`` was asked for: no ``items`` in the answer."""
        return self.count and not self.tree


DEFAULT_FIELDS: Final = Fields(tree={"id": None, "name": None, "url": None})

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[,\[\].]))\s*")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"fields: unexpected character at position {position}")
        tokens.append(match["name"] or match["punct"])
        position = match.end()
    return tokens


class _FieldsParser:
    """Recursive descent over ``selector ("," selector)*``; ``a[b,c]`` and ``a.b`` forms."""

    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._position = 0

    def _peek(self) -> str | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _take_name(self) -> str:
        token = self._peek()
        if token is None or token in {",", "[", "]", "."}:
            raise QueryError(f"fields: a property name is expected, got {token or 'the end'!r}")
        self._position += 1
        return token

    def parse_all(self) -> list[tuple[list[str], Tree | None]]:
        selectors = self._parse_list()
        if self._peek() is not None:
            raise QueryError(f"fields: unexpected {self._peek()!r}")
        return selectors

    def _parse_list(self) -> list[tuple[list[str], Tree | None]]:
        selectors = [self._parse_selector()]
        while self._peek() == ",":
            self._position += 1
            selectors.append(self._parse_selector())
        return selectors

    def _parse_selector(self) -> tuple[list[str], Tree | None]:
        path = [self._take_name()]
        while self._peek() == ".":
            self._position += 1
            path.append(self._take_name())
        sub: Tree | None = None
        if self._peek() == "[":
            self._position += 1
            sub = {}
            for inner_path, inner_sub in self._parse_list():
                _insert(sub, inner_path, inner_sub)
            if self._peek() != "]":
                raise QueryError("fields: a closing ']' is missing")
            self._position += 1
        return path, sub


def _merge(existing: Tree | None, new: Tree | None) -> Tree | None:
    # Asking for a whole property and for some of its parts gives the whole property.
    if existing is None or new is None:
        return None
    for name, sub in new.items():
        existing[name] = _merge(existing[name], sub) if name in existing else sub
    return existing


def _insert(tree: Tree, path: Sequence[str], sub: Tree | None) -> None:
    node = tree
    for position, raw_name in enumerate(path):
        name = raw_name.casefold()
        if position == len(path) - 1:
            node[name] = _merge(node[name], sub) if name in node else sub
            return
        if name in node:
            child = node[name]
            if child is None:  # the whole property is already asked for
                return
        else:
            child = node[name] = {}
        node = child


def parse_fields(text: str | None) -> Fields:
    """Parse a ``fields=`` value; ``None`` or blank gives the default ``id,name,url``.

    Raises:
        QueryError: on a malformed expression.
    """
    if text is None or not text.strip():
        return DEFAULT_FIELDS
    tree: Tree = {}
    count = False
    for path, sub in _FieldsParser(_tokenize(text)).parse_all():
        if [name.casefold() for name in path] == ["collection", "count"] and sub is None:
            count = True
        else:
            _insert(tree, path, sub)
    return Fields(tree=tree, count=count)


def find_key(record: Mapping[str, object], folded: str) -> str | None:
    """The key of ``record`` matching the case-folded property name, or ``None``."""
    canonical = _KNOWN.get(folded)
    if canonical is not None and canonical in record:
        return canonical
    for key in record:
        if key.casefold() == folded:
            return key
    alias = _ALIASES.get(folded)
    if alias is not None:
        return find_key({k: v for k, v in record.items() if k.casefold() != folded}, alias)
    return None


def is_known(folded: str) -> bool:
    """Whether a case-folded name is a v3 user property (present on users or not)."""
    return folded in _KNOWN


def _project_value(value: object, sub: Tree | None) -> object:
    if isinstance(value, list):
        return [_project_value(item, sub) for item in value]
    if not isinstance(value, dict):
        return value
    if sub is None:
        if "url" in value:  # a reference object named without sub-fields
            return {key: value[key] for key in _REF_KEYS if key in value}
        return value
    projected: dict[str, object] = {}
    for name, inner in sub.items():
        key = find_key(value, name)
        if key is not None:
            projected[key] = _project_value(value[key], inner)
    return projected


def project(user: Mapping[str, object], fields: Fields) -> dict[str, object]:
    """The user as Lucca returns it for ``fields``.

    A known property the user lacks comes out as ``null`` under its canonical name; nested
    names that do not exist (e.g. a hidden ``extendedData`` code) are silently left out.
    """
    out: dict[str, object] = {}
    for name, sub in fields.tree.items():
        key = find_key(user, name)
        if key is None:
            out[_KNOWN.get(name, name)] = None
        else:
            out[key] = _project_value(user[key], sub)
    return out


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=262144)
def _parse_wire_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


def wire_datetime(value: object) -> datetime | None:
    """A stored date-time string as a naive datetime; ``None`` when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = _parse_wire_datetime(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def wire_date(value: object) -> date | None:
    """The date part of a stored date-time string."""
    parsed = wire_datetime(value)
    return None if parsed is None else parsed.date()


def _resolve(user: Mapping[str, object], path: Sequence[str]) -> tuple[bool, object]:
    node: object = user
    for name in path:
        if not isinstance(node, Mapping):
            return False, None
        key = find_key(node, name)
        if key is None:
            return False, None
        node = node[key]
    return True, node


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------

_OPERATORS: Final = frozenset(
    {
        "equals",
        "notequal",
        "like",
        "starts",
        "since",
        "until",
        "between",
        "greaterthan",
        "greaterthanorequal",
        "lessthan",
        "lessthanorequal",
    }
)

FilterValue: TypeAlias = int | datetime | str | None


def _kind(path: Sequence[str]) -> str:
    last = path[-1]
    if last in _DATE_PROPERTIES:
        return "datetime"
    if last == "id" or last.endswith("id"):
        return "int"
    return "str"


def _parse_value(kind: str, text: str, name: str) -> FilterValue:
    if text.casefold() == "null":
        return None
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise QueryError(f"filter {name}: {text!r} is not an integer") from None
    if kind == "datetime":
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(f"filter {name}: {text!r} is not a date or date-time") from None
        if parsed.tzinfo is not None:
            raise QueryError(f"filter {name}: date-times are naive in Lucca v3, got {text!r}")
        return parsed
    return text.casefold()


@attrs.frozen
class Filter:
    """One property filter: ``{property}={operator},{value},…``."""

    name: str  # as written in the query
    path: tuple[str, ...]  # case-folded property path
    operator: str
    values: tuple[FilterValue, ...]

    def matches(self, user: Mapping[str, object]) -> bool:
        """Whether the user passes this filter."""
        _found, raw = _resolve(user, self.path)
        actual = self._typed(raw)
        if self.operator == "notequal":  # NOT IN: differs from every value
            return all(actual != value for value in self.values)
        if self.operator == "between":
            low, high = self.values
            return _compare(actual, low, ">=") and _compare(actual, high, "<=")
        test = _TESTS[self.operator]
        return any(
            (actual is None) if value is None else test(actual, value) for value in self.values
        )

    def _typed(self, raw: object) -> FilterValue:
        kind = _kind(self.path)
        if raw is None:
            return None
        if kind == "datetime":
            return wire_datetime(raw)
        if kind == "int":
            return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        if isinstance(raw, bool):
            return str(raw).casefold()
        return str(raw).casefold() if isinstance(raw, str | int | float) else None


def _compare(actual: FilterValue, value: FilterValue, op: str) -> bool:
    if actual is None or value is None or type(actual) is not type(value):
        return False
    # Both are of the same type (int, datetime or str): the comparison is well defined.
    a: Any = actual
    if op == ">=":
        return bool(a >= value)
    if op == "<=":
        return bool(a <= value)
    if op == ">":
        return bool(a > value)
    return bool(a < value)


def _contains(actual: FilterValue, value: FilterValue) -> bool:
    return isinstance(actual, str) and isinstance(value, str) and value in actual


def _starts(actual: FilterValue, value: FilterValue) -> bool:
    return isinstance(actual, str) and isinstance(value, str) and actual.startswith(value)


_TESTS: Final[dict[str, Callable[[FilterValue, FilterValue], bool]]] = {
    "equals": lambda actual, value: actual == value,
    "like": _contains,
    "starts": _starts,
    "since": lambda actual, value: _compare(actual, value, ">="),
    "until": lambda actual, value: _compare(actual, value, "<="),
    "greaterthanorequal": lambda actual, value: _compare(actual, value, ">="),
    "lessthanorequal": lambda actual, value: _compare(actual, value, "<="),
    "greaterthan": lambda actual, value: _compare(actual, value, ">"),
    "lessthan": lambda actual, value: _compare(actual, value, "<"),
}


def parse_filter(name: str, raw: str) -> Filter:
    """Parse one filter parameter ``name=raw``.

    Raises:
        QueryError: unknown operator arity, unreadable values.
    """
    path = tuple(part.casefold() for part in name.split("."))
    if not all(path):
        raise QueryError(f"filter {name}: malformed property path")
    parts = [part.strip() for part in raw.split(",")]
    operator = "equals"
    if parts and parts[0].casefold() in _OPERATORS:
        operator = parts.pop(0).casefold()
    if not parts or parts == [""]:
        raise QueryError(f"filter {name}: operator {operator!r} needs at least one value")
    kind = _kind(path)
    values = tuple(_parse_value(kind, part, name) for part in parts)
    if operator == "between" and (len(values) != 2 or None in values):
        raise QueryError(f"filter {name}: 'between' needs exactly two values")
    if operator in {"like", "starts"} and kind != "str":
        raise QueryError(f"filter {name}: {operator!r} applies to text properties only")
    return Filter(name=name, path=path, operator=operator, values=values)


# --------------------------------------------------------------------------------------------
# orderBy= and paging=
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Order:
    """One ``orderBy`` pair."""

    path: tuple[str, ...]
    descending: bool


def parse_order(raw: str) -> list[Order]:
    """Parse ``orderBy=prop,asc|desc[,prop,asc|desc…]``.

    Raises:
        QueryError: an odd number of parts or a direction other than asc/desc.
    """
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) % 2 or not all(parts):
        raise QueryError("orderBy: expected pairs of property,asc|desc")
    orders = []
    for prop, direction in zip(parts[::2], parts[1::2], strict=True):
        folded = direction.casefold()
        if folded not in {"asc", "desc"}:
            raise QueryError(f"orderBy: direction {direction!r} is neither asc nor desc")
        orders.append(Order(tuple(p.casefold() for p in prop.split(".")), folded == "desc"))
    return orders


def _sort_key(path: tuple[str, ...]) -> Callable[[Mapping[str, object]], tuple[int, str]]:
    kind = _kind(path)

    def key(user: Mapping[str, object]) -> tuple[int, str]:
        raw = _resolve(user, path)[1]
        if raw is None:
            return (0, "")
        if kind == "datetime":
            value = wire_datetime(raw)
            return (1, value.isoformat()) if value is not None else (0, "")
        if kind == "int" and isinstance(raw, int):
            # Fixed width, so that integers compare as numbers through the string.
            return (1, f"{raw + 2**62:020d}")
        return (1, str(raw).casefold())

    return key


def _by_id(user: Mapping[str, object]) -> Any:
    return user["id"]


def sort_users(users: list[Mapping[str, object]], orders: Sequence[Order]) -> None:
    """Sort in place; nulls first in ascending order, as SQL Server does."""
    for order in reversed(orders):
        # Fast path for the order every paging client uses; user ids are always integers.
        key = _by_id if order.path == ("id",) else _sort_key(order.path)
        users.sort(key=key, reverse=order.descending)


def parse_paging(raw: str | None) -> tuple[int, int]:
    """Parse ``paging=offset,limit``; default ``(0, 1000)``.

    Raises:
        QueryError: malformed, ``limit`` outside 1..1000 or a negative ``offset``.
    """
    if raw is None:
        return 0, MAX_LIMIT
    parts = raw.split(",")
    try:
        offset, limit = (int(part) for part in parts)
    except ValueError:
        raise QueryError("paging: expected {offset},{limit} as two integers") from None
    if offset < 0:
        raise QueryError("paging: offset must not be negative")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"paging: limit must be between 1 and {MAX_LIMIT}")
    return offset, limit
