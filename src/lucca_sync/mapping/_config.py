"""Loading a declarative mapping (TOML or JSON data), reporting every problem at once.

Schema (TOML spelling; see docs/howto/mapping.md):

```toml
extends = "elevo_default"          # or "none"; default "elevo_default"
remove = ["department"]            # default fields to drop

[fields.custom_site]               # one table per target key
source = "extendedData.e_site"     # one of: source, constant, coalesce, template, lookup
transforms = ["strip", { truncate = 50 }]
apply = "always"                   # or "create_only"
on_empty = "clear"                 # or "leave", or "default" with default = "..."
```

A field may also be a bare path string (``team_name = "department.name"``) or, in JSON, null
to remove it. Inside ``coalesce`` and ``lookup.source``, a source is a path string or a table
with one source key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from lucca_sync.exceptions import ConfigurationError
from lucca_sync.mapping._fields import (
    KEY_FIELD,
    MANAGER_FIELD,
    Field,
    _check_key,
    _elevo_default_fields,
)
from lucca_sync.mapping._sources import (
    Coalesce,
    Constant,
    ConstantValue,
    Lookup,
    Path,
    Source,
    Template,
)
from lucca_sync.mapping._transforms import Transform, TransformFactory, find_factory
from lucca_sync.mapping._values import kind

__all__ = ["load_fields"]

_TOP_KEYS = ("extends", "remove", "fields")
_BASES = ("elevo_default", "none")
_SOURCE_KEYS = ("source", "constant", "coalesce", "template", "lookup")
_OPTION_KEYS = ("transforms", "apply", "on_empty", "default")
_LOOKUP_KEYS = ("source", "table", "default")


class _Problems:
    """Collects ``"path: message"`` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


def _build(problems: _Problems, path: str, make: Callable[[], Source]) -> Source | None:
    try:
        return make()
    except ConfigurationError as exc:
        problems.add(path, str(exc))
        return None


def _path(problems: _Problems, path: str, value: object) -> Source | None:
    if not isinstance(value, str):
        problems.add(path, f"expected a path (text), got {kind(value)}")
        return None
    return _build(problems, path, lambda: Path(value))


def _lookup(problems: _Problems, path: str, value: object) -> Source | None:
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a table with source, table and default, got {kind(value)}")
        return None
    ok = True
    for key in value:
        if key not in _LOOKUP_KEYS:
            problems.add(f"{path}.{key}", f"unknown option (expected {', '.join(_LOOKUP_KEYS)})")
            ok = False
    if "source" not in value:
        problems.add(path, "missing 'source'")
        ok = False
    if not isinstance(value.get("table"), Mapping):
        problems.add(
            f"{path}.table", f"expected a table of text -> text, got {kind(value.get('table'))}"
        )
        ok = False
    else:
        for entry, text in value["table"].items():
            if not isinstance(text, str):
                problems.add(f"{path}.table.{entry}", f"expected text, got {kind(text)}")
                ok = False
    default = value.get("default")
    if default is not None and not isinstance(default, str):
        problems.add(f"{path}.default", f"expected text, got {kind(default)}")
        ok = False
    source = _source(problems, f"{path}.source", value["source"]) if "source" in value else None
    if not ok or source is None:
        return None
    return _build(problems, path, lambda: Lookup(source, value["table"], default=default))


def _coalesce(problems: _Problems, path: str, value: object) -> Source | None:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        problems.add(path, f"expected a non-empty list of sources, got {kind(value)}")
        return None
    sources = [_source(problems, f"{path}[{i}]", item) for i, item in enumerate(value)]
    if any(source is None for source in sources):
        return None
    return _build(problems, path, lambda: Coalesce([s for s in sources if s is not None]))


def _constant(problems: _Problems, path: str, value: object) -> Source | None:
    def make() -> Source:
        given: ConstantValue = value  # type: ignore[assignment]  # Constant checks the type
        return Constant(given)

    return _build(problems, path, make)


def _template(problems: _Problems, path: str, value: object) -> Source | None:
    if not isinstance(value, str):
        problems.add(path, f"expected a template (text), got {kind(value)}")
        return None
    return _build(problems, path, lambda: Template(value))


_SOURCE_LOADERS: Mapping[str, Callable[[_Problems, str, object], Source | None]] = {
    "source": _path,
    "constant": _constant,
    "coalesce": _coalesce,
    "template": _template,
    "lookup": _lookup,
}


def _source_key(problems: _Problems, path: str, spec: Mapping[str, object]) -> str | None:
    given = [key for key in _SOURCE_KEYS if key in spec]
    if len(given) != 1:
        problems.add(
            path,
            f"give exactly one of {', '.join(_SOURCE_KEYS)}"
            + (f" (got {', '.join(given)})" if given else ""),
        )
        return None
    return given[0]


def _source(problems: _Problems, path: str, spec: object) -> Source | None:
    """A nested source: a path string, or a table holding exactly one source key."""
    if isinstance(spec, str):
        return _path(problems, path, spec)
    if not isinstance(spec, Mapping):
        problems.add(path, f"expected a path or a source table, got {kind(spec)}")
        return None
    for key in spec:
        if key not in _SOURCE_KEYS:
            problems.add(f"{path}.{key}", f"unknown source (expected {', '.join(_SOURCE_KEYS)})")
            return None
    key = _source_key(problems, path, spec)
    return None if key is None else _SOURCE_LOADERS[key](problems, f"{path}.{key}", spec[key])


def _transform(
    problems: _Problems, path: str, spec: object, extra: Mapping[str, TransformFactory] | None
) -> Transform | None:
    name: object
    args: tuple[object, ...] = ()
    kwargs: dict[str, object] = {}
    if isinstance(spec, str):
        name = spec
    elif isinstance(spec, Mapping) and len(spec) == 1:
        [(name, argument)] = spec.items()
        if isinstance(argument, Mapping):
            kwargs = {str(k): v for k, v in argument.items()}
        elif isinstance(argument, list | tuple):
            args = tuple(argument)
        else:
            args = (argument,)
    else:
        problems.add(path, "expected a transform name or a one-entry table ({ truncate = 50 })")
        return None
    if not isinstance(name, str):
        problems.add(path, f"a transform name is text, not {kind(name)}")
        return None
    try:
        factory = find_factory(name, extra)
    except ConfigurationError as exc:
        problems.add(path, str(exc))
        return None
    try:
        transform = factory(*args, **kwargs)
    except (ConfigurationError, TypeError, ValueError) as exc:
        problems.add(path, f"bad arguments for transform {name!r}: {exc}")
        return None
    except Exception as exc:  # a plug-in's factory failing is reported with the other problems
        problems.add(path, f"transform {name!r} failed to build ({type(exc).__name__}: {exc})")
        return None
    built: object = transform  # a plug-in's factory may return anything
    if not callable(built):
        problems.add(
            path, f"transform {name!r}: its factory returned {kind(built)}, not a callable"
        )
        return None
    return transform


def _field(
    problems: _Problems, path: str, spec: object, extra: Mapping[str, TransformFactory] | None
) -> Field | None:
    if isinstance(spec, str):
        source = _path(problems, path, spec)
        return None if source is None else Field(source)
    if not isinstance(spec, Mapping):
        problems.add(path, f"expected a path or a field table, got {kind(spec)}")
        return None
    before = len(problems.lines)
    for key in spec:
        if key not in _SOURCE_KEYS and key not in _OPTION_KEYS:
            problems.add(
                f"{path}.{key}",
                f"unknown option (expected one of {', '.join((*_SOURCE_KEYS, *_OPTION_KEYS))})",
            )
    source_key = _source_key(problems, path, spec)
    source = (
        None
        if source_key is None
        else _SOURCE_LOADERS[source_key](problems, f"{path}.{source_key}", spec[source_key])
    )
    transforms: list[Transform | None] = []
    specs = spec.get("transforms", [])
    if isinstance(specs, str) or not isinstance(specs, Sequence):
        problems.add(f"{path}.transforms", f"expected a list of transforms, got {kind(specs)}")
    else:
        transforms = [
            _transform(problems, f"{path}.transforms[{i}]", item, extra)
            for i, item in enumerate(specs)
        ]
    options: dict[str, object] = {}
    for option, allowed in (
        ("apply", ("always", "create_only")),
        ("on_empty", ("leave", "clear", "default")),
    ):
        if option in spec:
            if spec[option] not in allowed:
                problems.add(
                    f"{path}.{option}",
                    f"expected one of {', '.join(allowed)}, got {spec[option]!r}",
                )
            else:
                options[option] = spec[option]
    if "default" in spec:
        if spec["default"] is not None and not isinstance(spec["default"], str):
            problems.add(f"{path}.default", f"expected text, got {kind(spec['default'])}")
        options["default"] = spec["default"]
    if len(problems.lines) > before or source is None:
        return None
    try:
        return Field(source, transforms=[t for t in transforms if t is not None], **options)  # type: ignore[arg-type]
    except ConfigurationError as exc:
        problems.add(path, str(exc))
        return None


def _check_accepted(
    problems: _Problems,
    keys: Sequence[str],
    accepts: Callable[[str], bool],
    configured: Mapping[str, Field],
    extends: object,
) -> None:
    for key in keys:
        if not accepts(key):
            if key in configured:
                where = f"fields.{key}"
            elif key in (KEY_FIELD, MANAGER_FIELD):
                where = f"{key} (always in the record)"
            else:
                where = f"{key} (from {extends})"
            problems.add(where, f"the sink has no target key {key!r}")


def load_fields(
    data: Mapping[str, object],
    *,
    accepts: Callable[[str], bool] | None,
    transforms: Mapping[str, TransformFactory] | None,
) -> dict[str, Field]:
    """Build the fields of a FieldMapping from configuration data, or raise one
    ConfigurationError."""
    problems = _Problems()
    given: object = data
    if not isinstance(given, Mapping):
        raise ConfigurationError(
            f"a mapping configuration is a table, not {kind(given)}",
            (f"(mapping): expected a table, got {kind(given)}",),
        )
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(str(key), f"unknown option (expected {', '.join(_TOP_KEYS)})")

    extends = data.get("extends", "elevo_default")
    base: dict[str, Field] = {}
    if extends == "elevo_default":
        base = _elevo_default_fields()
    elif extends != "none":
        problems.add("extends", f"expected one of {', '.join(_BASES)}, got {extends!r}")

    removed: dict[str, str] = {}  # key -> path of the removal
    remove = data.get("remove", [])
    if isinstance(remove, str) or not isinstance(remove, Sequence):
        problems.add("remove", f"expected a list of target keys, got {kind(remove)}")
    else:
        for i, key in enumerate(remove):
            removed[str(key)] = f"remove[{i}]"

    fields = data.get("fields", {})
    configured: dict[str, Field] = {}
    if not isinstance(fields, Mapping):
        problems.add("fields", f"expected a table of target key -> field, got {kind(fields)}")
    else:
        for key, spec in fields.items():
            path = f"fields.{key}"
            try:
                _check_key(key)
            except ConfigurationError as exc:
                problems.add(path, str(exc))
                continue
            if spec is None:
                removed[key] = path
                continue
            if key in removed:
                problems.add(path, f"{key!r} is also removed at {removed[key]}")
            field = _field(problems, path, spec, transforms)
            if field is not None:
                configured[key] = field

    for key, path in removed.items():
        if extends in _BASES and key not in base:
            problems.add(path, f"cannot remove {key!r}: {extends} does not map it")
    result = {k: f for k, f in base.items() if k not in removed} | configured

    if accepts is not None:
        _check_accepted(problems, (KEY_FIELD, *result, MANAGER_FIELD), accepts, configured, extends)

    if problems.lines:
        count = len(problems.lines)
        raise ConfigurationError(
            f"invalid field mapping, {count} problem{'s' if count > 1 else ''}: "
            + "; ".join(problems.lines),
            tuple(problems.lines),
        )
    return result
