"""Value transforms: the built-in library, user registration and the entry-point group."""

from __future__ import annotations

import importlib.metadata
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Protocol

import attrs

from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping._values import ValueProblem, kind, to_text

__all__ = [
    "ENTRY_POINT_GROUP",
    "Transform",
    "TransformFactory",
    "date_format",
    "describe",
    "find_factory",
    "lower",
    "normalize_diacritics",
    "regex_replace",
    "register_transform",
    "strip",
    "title",
    "truncate",
    "upper",
]

#: Installed packages register transforms under this entry-point group (name -> factory).
ENTRY_POINT_GROUP = "lucca_sync.transforms"


class Transform(Protocol):
    """A step that changes a value: any callable ``value -> value``.

    Transforms are only called with a value (never with None). They may raise: the error
    becomes a :class:`~lucca_sync.exceptions.MappingError` for that employee and field.
    """

    def __call__(self, value: object, /) -> object: ...


#: Builds a transform from its configuration arguments: ``"name"`` calls it with none,
#: ``{name = x}`` with ``x``, ``{name = [a, b]}`` with ``a, b``, ``{name = {k = v}}`` with ``k=v``.
TransformFactory = Callable[..., Transform]


def describe(transform: Transform) -> str:
    """How a transform is shown in explanations: ``truncate(50)``, ``my_module.initials``."""
    if isinstance(transform, _Builtin):
        return str(transform)
    module = getattr(transform, "__module__", None)
    qualname = getattr(transform, "__qualname__", None)
    if qualname is None:
        return type(transform).__qualname__
    return f"{module}.{qualname}" if module else str(qualname)


class _Builtin:
    """Marker base of the built-in transforms (their ``str`` is their configuration spelling)."""


@attrs.frozen
class _TextTransform(_Builtin):
    name: str
    function: Callable[[str], str] = attrs.field(repr=False)

    def __str__(self) -> str:
        return self.name

    def __call__(self, value: object, /) -> object:
        return self.function(to_text(value))


_WORD = re.compile(r"[^\W\d_]+")
# Letters that carry no combining mark to remove, spelled as ASCII (as Entra's NormalizeDiacritics).
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "Þ": "Th",
        "ð": "d",
        "Ð": "D",
    }
)


def _title(text: str) -> str:
    # Each run of letters gets one capital: "JEAN-PIERRE o'neil" -> "Jean-Pierre O'Neil".
    return _WORD.sub(lambda match: match[0][:1].upper() + match[0][1:].lower(), text)


def _normalize_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


strip: Transform = _TextTransform("strip", str.strip)
"""Remove leading and trailing whitespace."""
lower: Transform = _TextTransform("lower", str.lower)
"""Lower-case the text."""
upper: Transform = _TextTransform("upper", str.upper)
"""Upper-case the text."""
title: Transform = _TextTransform("title", _title)
"""Capitalise each run of letters: ``"JEAN-PIERRE o'neil"`` -> ``"Jean-Pierre O'Neil"``."""
normalize_diacritics: Transform = _TextTransform("normalize_diacritics", _normalize_diacritics)
"""Remove accents and fold ligatures to ASCII letters: ``"Zoé Œuvray"`` -> ``"Zoe OEuvray"``."""


def _as_datetime(value: object) -> date:
    if isinstance(value, date):  # datetime is a date too
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueProblem("is not an ISO 8601 date") from None
    raise ValueProblem(f"is {kind(value)}, not a date")


@attrs.frozen
class _DateFormat(_Builtin):
    pattern: str

    def __str__(self) -> str:
        return f"date_format({self.pattern!r})"

    def __call__(self, value: object, /) -> object:
        return _as_datetime(value).strftime(self.pattern)


def date_format(pattern: str) -> Transform:
    """Write a date with a :meth:`~datetime.date.strftime` pattern, e.g. ``"%d/%m/%Y"``.

    The value may be a date, a datetime or an ISO 8601 string (``"2014-09-01T00:00:00"``).

    Raises:
        ConfigurationError: ``pattern`` is not a non-empty string.
    """
    given: object = pattern  # configurations are untyped: check at run time too
    if not isinstance(given, str) or not given:
        raise ConfigurationError("date_format needs a non-empty strftime pattern, e.g. '%d/%m/%Y'")
    return _DateFormat(pattern)


@attrs.frozen
class _Truncate(_Builtin):
    length: int

    def __str__(self) -> str:
        return f"truncate({self.length})"

    def __call__(self, value: object, /) -> object:
        return to_text(value)[: self.length]


def truncate(length: int) -> Transform:
    """Keep the first ``length`` characters.

    Raises:
        ConfigurationError: ``length`` is not a positive integer.
    """
    given: object = length  # configurations are untyped: check at run time too
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise ConfigurationError("truncate needs a positive integer length")
    return _Truncate(length)


@attrs.frozen
class _RegexReplace(_Builtin):
    pattern: re.Pattern[str]
    repl: str

    def __str__(self) -> str:
        return f"regex_replace({self.pattern.pattern!r}, {self.repl!r})"

    def __call__(self, value: object, /) -> object:
        return self.pattern.sub(self.repl, to_text(value))


def regex_replace(pattern: str, repl: str) -> Transform:
    """Replace every match of a regular expression (:func:`re.sub` syntax, ``\\1`` allowed).

    Raises:
        ConfigurationError: the pattern does not compile or ``repl`` refers to a missing group.
    """
    given: tuple[object, object] = (pattern, repl)  # configurations are untyped
    if not all(isinstance(part, str) for part in given):
        raise ConfigurationError("regex_replace needs a pattern and a replacement, both text")
    try:
        compiled = re.compile(pattern)
        compiled.sub(repl, "")  # checks group references in repl now, not on the first employee
    except re.error as exc:
        raise ConfigurationError(f"regex_replace: invalid pattern or replacement ({exc})") from None
    return _RegexReplace(compiled, repl)


def _constant(transform: Transform) -> TransformFactory:
    def factory() -> Transform:
        return transform

    return factory


_BUILTINS: Mapping[str, TransformFactory] = {
    "strip": _constant(strip),
    "lower": _constant(lower),
    "upper": _constant(upper),
    "title": _constant(title),
    "normalize_diacritics": _constant(normalize_diacritics),
    "date_format": date_format,
    "truncate": truncate,
    "regex_replace": regex_replace,
}
_REGISTERED: dict[str, TransformFactory] = {}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_transform(name: str, factory: TransformFactory, *, replace: bool = False) -> None:
    """Make a transform available to declarative configurations under ``name``.

    Args:
        name: The name used in configurations (lower-case letters, digits and ``_``).
        factory: Called with the configuration's arguments, returns the transform. A transform
            without arguments is registered as ``lambda: my_transform``.
        replace: Allow replacing an earlier registration of ``name``.

    Raises:
        ConfigurationError: the name is malformed, is a built-in's, or is already registered
            (without ``replace``).
    """
    given: object = name
    if not isinstance(given, str) or not _NAME.fullmatch(given):
        raise ConfigurationError(
            f"transform name {name!r}: use lower-case letters, digits and '_', "
            "starting with a letter"
        )
    if name in _BUILTINS:
        raise ConfigurationError(f"transform {name!r} is built in and cannot be replaced")
    if name in _REGISTERED and not replace:
        raise ConfigurationError(
            f"transform {name!r} is already registered; pass replace=True to replace it"
        )
    if not callable(factory):
        raise ConfigurationError(f"transform {name!r}: the factory must be callable")
    _REGISTERED[name] = factory


def find_factory(
    name: str, extra: Mapping[str, TransformFactory] | None = None
) -> TransformFactory:
    """The factory for ``name``: built-in, then ``extra``, registered, and the entry points.

    Raises:
        ConfigurationError: no such transform, or its entry point fails to load or is ambiguous.
    """
    if name in _BUILTINS:
        return _BUILTINS[name]
    if extra and name in extra:
        return extra[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    found = [
        entry
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if entry.name == name
    ]
    if not found:
        known = sorted({*_BUILTINS, *(extra or {}), *_REGISTERED})
        raise ConfigurationError(f"unknown transform {name!r} (known: {', '.join(known)})")
    if len({entry.value for entry in found}) > 1:
        raise ConfigurationError(
            f"transform {name!r} is provided by several installed packages "
            f"({', '.join(sorted(entry.value for entry in found))})"
        )
    try:
        factory = found[0].load()
    except Exception as exc:  # a broken plug-in is a configuration problem, reported with the rest
        raise ConfigurationError(
            f"transform {name!r}: entry point {found[0].value} failed to load "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not callable(factory):
        raise ConfigurationError(
            f"transform {name!r}: entry point {found[0].value} is not callable"
        )
    result: TransformFactory = factory
    return result
