"""Where a mapped value comes from: paths, constants, coalesce, templates, lookups, callables."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from operator import attrgetter
from types import MappingProxyType
from typing import TypeAlias

import attrs

from lucca_sync._employee import Employee, custom_fields_read, reads_raw
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping._values import ValueProblem, is_empty, kind, to_text

__all__ = [
    "Coalesce",
    "Computed",
    "Constant",
    "ConstantValue",
    "Lookup",
    "Path",
    "Source",
    "SourceLike",
    "Template",
    "as_source",
    "attribute_path",
    "attribute_reader",
    "custom_fields_of",
    "reads_raw_json",
]

ConstantValue: TypeAlias = str | int | float | bool | Decimal | date | datetime | time | None

Source: TypeAlias = "Path | Constant | Coalesce | Template | Lookup | Computed"
#: What a field accepts as its source: a Source, a path string, or a callable (employee -> value).
SourceLike: TypeAlias = "Source | str | Callable[[Employee], object]"


def as_source(value: SourceLike) -> Source:
    """Accept a path string or a callable where a source is expected.

    Raises:
        ConfigurationError: ``value`` is none of a source, a path string or a callable.
    """
    if isinstance(value, Path | Constant | Coalesce | Template | Lookup | Computed):
        return value
    if isinstance(value, str):
        return Path(value)
    if callable(value):
        return Computed(value)
    raise ConfigurationError(
        f"a source must be a path, a source object or a callable, not {kind(value)}"
    )


_SEGMENT = re.compile(r"[A-Za-z0-9_]+")
# Employee attributes a path may start with, by what may follow them.
_SCALARS = frozenset(
    {
        "id",
        "first_name",
        "last_name",
        "email",
        "login",
        "employee_number",
        "job_title",
        "manager_id",
        "contract_start",
        "contract_end",
        "modified_at",
    }
)
_REFS = frozenset({"department", "legal_entity"})
_MAPPINGS = frozenset({"extended_data", "raw"})


def _parse_path(path: str) -> tuple[str, ...]:
    """Split and check a dotted path; raise ConfigurationError saying what is wrong."""
    if not isinstance(path, str):
        raise ConfigurationError(f"a path must be a string, not {kind(path)}")
    segments = tuple(path.split("."))
    if not path or not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise ConfigurationError(
            f"malformed path {path!r}: expected names of letters, digits and '_' joined by '.'"
        )
    head, rest = segments[0], segments[1:]
    if head in _SCALARS and rest:
        raise ConfigurationError(f"path {path!r}: {head} is a single value, it has no {rest[0]}")
    if head in _REFS:
        if not rest:
            raise ConfigurationError(
                f"path {path!r}: {head} is a reference; use {head}.name or {head}.id"
            )
        if rest[0] not in {"id", "name"} or len(rest) > 1:
            raise ConfigurationError(f"path {path!r}: {head} has only 'id' and 'name'")
    if head in _MAPPINGS and not rest:
        raise ConfigurationError(f"path {path!r}: name a key inside {head}, e.g. {head}.e_site")
    return segments


def _unwrap(value: object) -> object:
    """Remove Lucca's ``{id, value}`` wrappers, also inside lists (multi-valued fields)."""
    while isinstance(value, Mapping) and "value" in value:
        value = value["value"]
    if isinstance(value, list | tuple):
        return [_unwrap(item) for item in value]
    return value


def _walk(value: object, segments: Sequence[str], where: str) -> object:
    for position, segment in enumerate(segments):
        while isinstance(value, Mapping) and segment not in value and "value" in value:
            value = value["value"]
        if value is None:
            return None
        if not isinstance(value, Mapping):
            reached = (
                ".".join((where, *segments[:position])) if where else ".".join(segments[:position])
            )
            raise ValueProblem(f"{reached} is {kind(value)}, not an object with {segment!r}")
        value = value.get(segment)
    return _unwrap(value)


@attrs.frozen
class Path:
    """A value read from the employee, by dotted path.

    A path starting with an :class:`~lucca_sync.Employee` attribute reads that attribute
    (``first_name``, ``contract_start``, ``department.name``, ``extended_data.e_site``).
    Any other path reads the user's JSON as Lucca sent it (``legalEntity.name``,
    ``extendedData.e_site``, ``gender``), removing Lucca's ``{id, value}`` wrappers on the way.
    A missing key gives no value.

    Raises:
        ConfigurationError: the path is malformed, or names something an Employee does not
            have (``department.code``, ``first_name.x``).
    """

    path: str
    _segments: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_segments", _parse_path(self.path))

    def __str__(self) -> str:
        return self.path

    def resolve(self, employee: Employee) -> object:
        """The value at this path for ``employee`` (None when absent)."""
        head, rest = self._segments[0], self._segments[1:]
        if head in _SCALARS:
            return getattr(employee, head)
        if head in _REFS:
            ref = getattr(employee, head)
            return None if ref is None else getattr(ref, rest[0])
        if head in _MAPPINGS:
            return _walk(getattr(employee, head), rest, head)
        return _walk(employee.raw, self._segments, "")


def reads_raw_json(source: Source) -> bool:
    """Whether ``source`` may read more of ``Employee.raw`` than a read that keeps no raw JSON
    holds (``extendedData``, see ``list_employees(keep_raw=False)``); any function may, and
    so may a subclass of a source here."""
    if type(source) not in (Path, Constant, Template, Lookup, Coalesce):
        return True
    if isinstance(source, Path):
        return reads_raw(source._segments)
    if isinstance(source, Template):
        return any(path is not None and reads_raw_json(path) for _, path in source._parts)
    if isinstance(source, Lookup):
        return reads_raw_json(source.source)
    if isinstance(source, Coalesce):
        return any(reads_raw_json(each) for each in source.sources)
    return False  # a Constant


def custom_fields_of(source: Source) -> frozenset[str] | None:
    """The custom-field codes ``source`` reads (``extended_data.e_site`` -> ``e_site``), for a
    read of only those; ``None`` when it may read any (a function, a subclass of a source)."""
    if type(source) not in (Path, Constant, Template, Lookup, Coalesce):
        return None
    if isinstance(source, Path):
        return custom_fields_read(source._segments)
    parts: list[Source]
    if isinstance(source, Template):
        parts = [path for _, path in source._parts if path is not None]
    elif isinstance(source, Lookup):
        parts = [source.source]
    elif isinstance(source, Coalesce):
        parts = list(source.sources)
    else:
        return frozenset()  # a Constant
    codes: set[str] = set()
    for part in parts:
        found = custom_fields_of(part)
        if found is None:
            return None
        codes |= found
    return frozenset(codes)


def attribute_path(source: Source) -> tuple[str] | tuple[str, str] | None:
    """The attribute names of ``source`` when it is a path to a typed attribute
    (``("job_title",)``, ``("department", "name")``), which can neither fail nor have side
    effects; else ``None``."""
    if not isinstance(source, Path):
        return None
    head, rest = source._segments[0], source._segments[1:]
    if head in _SCALARS:
        return (head,)
    if head in _REFS:
        return (head, rest[0])
    return None


def attribute_reader(source: Source) -> Callable[[Employee], object] | None:
    """A reader of ``source`` when it is a path to a typed attribute; see `attribute_path`."""
    path = attribute_path(source)
    if path is None:
        return None
    if len(path) == 1:
        return attrgetter(path[0])
    head, name = path
    return lambda employee: None if (ref := getattr(employee, head)) is None else getattr(ref, name)


def _check_constant(value: ConstantValue) -> ConstantValue:
    given: object = value  # configurations are untyped: check at run time too
    if given is not None and not isinstance(
        given, str | int | float | Decimal | date | datetime | time
    ):
        raise ConfigurationError(
            f"a constant must be text, a number, a boolean or a date, not {kind(value)}"
        )
    return value


@attrs.frozen
class Constant:
    """The same value for every employee (``Constant("A")``; ``Constant(None)`` is always empty)."""

    value: ConstantValue = attrs.field(converter=_check_constant)

    def __str__(self) -> str:
        return f"constant {self.value!r}"

    def resolve(self, employee: Employee) -> object:
        """The constant."""
        return self.value


def _parse_template(template: str) -> tuple[tuple[str, Path | None], ...]:
    if not isinstance(template, str):
        raise ConfigurationError(f"a template must be a string, not {kind(template)}")
    parts: list[tuple[str, Path | None]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigurationError(f"malformed template {template!r}: {exc}") from None
    for literal, name, spec, conversion in parsed:
        if literal:
            parts.append((literal, None))
        if name is None:
            continue
        if spec or conversion:
            raise ConfigurationError(
                f"template {template!r}: placeholder {{{name}}} takes no format spec or conversion;"
                " use transforms instead"
            )
        parts.append(("", Path(name)))
    return tuple(parts)


@attrs.frozen
class Template:
    """Text built from several paths: ``Template("{first_name} {last_name}")``.

    Placeholders are paths (see :class:`Path`); an empty one renders as nothing. When every
    placeholder is empty, the template gives no value. ``{{`` and ``}}`` are literal braces.

    Raises:
        ConfigurationError: the template is malformed or a placeholder is not a valid path.
    """

    template: str
    _parts: tuple[tuple[str, Path | None], ...] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_parts", _parse_template(self.template))

    def __str__(self) -> str:
        return f"template {self.template!r}"

    def resolve(self, employee: Employee) -> object:
        """The rendered template, or None when all its placeholders are empty."""
        pieces: list[str] = []
        placeholders = filled = 0
        for literal, path in self._parts:
            if path is None:
                pieces.append(literal)
                continue
            placeholders += 1
            value = path.resolve(employee)
            if is_empty(value):
                continue
            filled += 1
            try:
                pieces.append(to_text(value))
            except ValueProblem as problem:
                raise ValueProblem(f"placeholder {{{path}}} {problem}") from None
        if placeholders and not filled:
            return None
        return "".join(pieces)


def _frozen_table(table: Mapping[str, str | None]) -> Mapping[str, str | None]:
    entries: object = table  # checked at run time too: configurations are untyped
    if not isinstance(entries, Mapping):
        raise ConfigurationError(f"a lookup table must be a mapping, not {kind(entries)}")
    for key, value in entries.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise ConfigurationError("a lookup table maps text to text (or None)")
    return MappingProxyType(dict(table))


@attrs.frozen
class Lookup:
    """Translate a value through a table: ``Lookup("legal_entity.name", {"Acme Paris": "IDF"})``.

    The source value is compared as text, exactly. A value missing from the table, or an empty
    one, gives ``default`` (None: no value).
    """

    source: Source = attrs.field(converter=as_source)
    table: Mapping[str, str | None] = attrs.field(converter=_frozen_table, hash=False)
    default: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.default is not None and not isinstance(self.default, str):
            raise ConfigurationError(f"a lookup default must be text, not {kind(self.default)}")

    def __str__(self) -> str:
        entries = f"{len(self.table)} entr{'y' if len(self.table) == 1 else 'ies'}"
        return f"lookup({self.source}, {entries}, default {self.default!r})"

    def resolve(self, employee: Employee) -> object:
        """The table's entry for the source value, else the default."""
        value = self.source.resolve(employee)
        if is_empty(value):
            return self.default
        return self.table.get(to_text(value), self.default)


def _as_sources(values: Sequence[SourceLike]) -> tuple[Source, ...]:
    items: object = values  # checked at run time too: configurations are untyped
    if isinstance(items, str) or not isinstance(items, Sequence) or not items:
        raise ConfigurationError("coalesce needs a non-empty list of sources")
    return tuple(as_source(value) for value in values)


@attrs.frozen
class Coalesce:
    """The first non-empty value among several sources: ``Coalesce(["email", "login"])``."""

    sources: tuple[Source, ...] = attrs.field(converter=_as_sources)

    def __str__(self) -> str:
        return f"coalesce({', '.join(str(source) for source in self.sources)})"

    def resolve(self, employee: Employee) -> object:
        """The first source value that is not empty, else None."""
        for source in self.sources:
            value = source.resolve(employee)
            if not is_empty(value):
                return value
        return None


@attrs.frozen
class Computed:
    """A value computed by Python code: ``Computed(lambda employee: ...)``.

    The callable gets the :class:`~lucca_sync.Employee` and returns a value (text, number,
    date, bool or None). An exception it raises becomes a MappingError for that employee.
    ``name`` is what :meth:`FieldMapping.explain` shows; it defaults to the callable's name.
    """

    function: Callable[[Employee], object]
    name: str = attrs.field(kw_only=True)

    @name.default
    def _default_name(self) -> str:
        module = getattr(self.function, "__module__", None)
        qualname = getattr(self.function, "__qualname__", type(self.function).__qualname__)
        return f"{module}.{qualname}" if module else str(qualname)

    def __attrs_post_init__(self) -> None:
        if not callable(self.function):
            raise ConfigurationError(f"Computed needs a callable, not {kind(self.function)}")

    def __str__(self) -> str:
        return f"python {self.name}"

    def resolve(self, employee: Employee) -> object:
        """Call the function with the employee."""
        return self.function(employee)
