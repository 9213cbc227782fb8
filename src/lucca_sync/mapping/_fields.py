"""One target key's recipe: `Field` (source, transforms, apply mode, empty policy) and what
explaining it shows (`FieldExplanation`); the fixed keys ``uniq_identifier`` and
``manager_uniq_identifier``; the fields of Elevo's documented Lucca mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple, TypeAlias

import attrs

from lucca_sync._employee import Employee
from lucca_sync.exceptions import ConfigurationError, InvalidValueError, MappingError
from lucca_sync.mapping._checks import check_value
from lucca_sync.mapping._sources import (
    Path,
    Source,
    SourceLike,
    as_source,
)
from lucca_sync.mapping._transforms import (
    Transform,
    describe,
)
from lucca_sync.mapping._values import ValueProblem, kind, to_text

__all__ = ["KEY_FIELD", "MANAGER_FIELD", "ApplyMode", "EmptyPolicy", "Field", "FieldExplanation"]

_log = logging.getLogger("lucca_sync.mapping")

#: ``"always"``: written on create and on every update; ``"create_only"``: written when the
#: target user is created, never changed afterwards.
ApplyMode: TypeAlias = Literal["always", "create_only"]
#: What an empty value does: ``"leave"`` the target's value as it is (the key is absent from
#: the record), ``"clear"`` it (the key maps to None), or write the field's ``"default"``.
EmptyPolicy: TypeAlias = Literal["leave", "clear", "default"]

_APPLY_MODES = ("always", "create_only")
_EMPTY_POLICIES = ("leave", "clear", "default")
KEY_FIELD = "uniq_identifier"
MANAGER_FIELD = "manager_uniq_identifier"
_FIXED = (KEY_FIELD, MANAGER_FIELD)


def _as_transforms(value: Iterable[Transform]) -> tuple[Transform, ...]:
    given: object = value  # configurations are untyped: check at run time too
    if isinstance(given, str) or not isinstance(given, Iterable):
        raise ConfigurationError("transforms must be a sequence of callables")
    transforms = tuple(value)
    for transform in transforms:
        if not callable(transform):
            raise ConfigurationError(f"a transform must be callable, not {kind(transform)}")
    return transforms


def _one_of(
    options: tuple[str, ...], what: str
) -> Callable[[object, attrs.Attribute[str], str], None]:
    def validate(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in options:
            raise ConfigurationError(
                f"{what} must be one of {', '.join(repr(o) for o in options)}, not {value!r}"
            )

    return validate


_Check: TypeAlias = Callable[[str], str | None]
# key, field, a reader of the typed attribute the field is (None: anything else), the
# target's checks of the key for text and for a date, and whether an empty value clears it.
_PlainField: TypeAlias = tuple[
    str, "Field", Callable[[Employee], object] | None, _Check | None, _Check | None, bool
]


class _Outcome(NamedTuple):
    # A tuple, not an attrs class: one is made per field and employee (see performance.md).
    value: str | None
    present: bool
    empty: bool
    error: MappingError | None = None


@attrs.frozen
class Field:
    """How one target key is produced.

    Args:
        source: Where the value comes from: a source object, a path string (``"job_title"``,
            ``"extendedData.e_site"``) or a callable ``employee -> value``.
        transforms: Applied in order to a non-empty value (see :func:`strip`, :func:`truncate`…;
            any callable ``value -> value`` works).
        apply: ``"always"`` or ``"create_only"`` (set when the user is created, never updated).
        on_empty: When the value is empty (None or blank text): ``"leave"`` the target as is,
            ``"clear"`` it (the default: the target mirrors Lucca), or write ``default``.
        default: The text written under ``on_empty="default"``.

    Raises:
        ConfigurationError: an option is invalid, ``on_empty="default"`` lacks a ``default``,
            or a ``default`` is given with another policy.
    """

    source: Source = attrs.field(converter=as_source)
    transforms: tuple[Transform, ...] = attrs.field(
        default=(), kw_only=True, converter=_as_transforms
    )
    apply: ApplyMode = attrs.field(
        default="always", kw_only=True, validator=_one_of(_APPLY_MODES, "apply")
    )
    on_empty: EmptyPolicy = attrs.field(
        default="clear", kw_only=True, validator=_one_of(_EMPTY_POLICIES, "on_empty")
    )
    default: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        given: object = self.default
        if self.on_empty == "default" and not isinstance(given, str):
            raise ConfigurationError('on_empty="default" needs a default text (default=...)')
        if self.on_empty != "default" and given is not None:
            raise ConfigurationError('a default is only used with on_empty="default"; set it')

    def _problem(self, key: str, employee: Employee, message: str) -> MappingError:
        return MappingError(
            f"cannot map field {key!r} for employee {employee.id}: {message}",
            employee_id=employee.id,
            field=key,
        )

    def _produce(self, key: str, employee: Employee) -> str | None:
        """The field's text before the empty-value policy, or raise MappingError."""
        # The step is described only when it fails: formatting it for every value and every
        # employee was a tenth of plan()'s CPU time (see docs/performance.md).
        transform: Transform | None = None  # None: the source; else the transform applied
        done = False
        try:
            value = self.source.resolve(employee)
            for transform in self.transforms:
                if value is None:
                    break
                value = transform(value)
            done = True
            return None if value is None else to_text(value)
        except ValueProblem as problem:
            step = self._step(transform, done)
            raise self._problem(key, employee, f"{step} {problem}") from None
        except Exception as exc:  # user code and odd data: isolate the employee, keep the cause
            _log.debug("mapping %r for employee %s failed", key, employee.id, exc_info=True)
            raise self._problem(
                key,
                employee,
                f"{self._step(transform, done)} raised {type(exc).__name__}; check the source "
                "data or the code (the original error is chained)",
            ) from exc

    def _step(self, transform: Transform | None, done: bool) -> str:
        if done:
            return f"the value from {self.source}"
        if transform is None:
            return f"source {self.source}"
        return f"transform {describe(transform)}"

    def _evaluate(self, key: str, employee: Employee) -> _Outcome:
        """Produce, apply the empty-value policy, check the target's constraints."""
        try:
            text = self._produce(key, employee)
        except MappingError as error:
            return _Outcome(None, False, False, error)
        empty = text is None or not text.strip()
        if empty:
            if self.on_empty == "leave":
                return _Outcome(None, False, True)
            text = self.default if self.on_empty == "default" else None
        if text is not None and (problem := check_value(key, text)) is not None:
            invalid = InvalidValueError(
                f"field {key!r} of employee {employee.id}: the value {problem}",
                employee_id=employee.id,
                field=key,
                value=text,
            )
            return _Outcome(text, True, empty, invalid)
        return _Outcome(text, True, empty)


def _as_field(value: Field | SourceLike) -> Field:
    return value if isinstance(value, Field) else Field(value)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key or key.strip() != key or not key.isprintable():
        raise ConfigurationError(f"target key {key!r}: expected a non-empty name without spaces")
    if key in _FIXED:
        raise ConfigurationError(
            f"target key {key!r} is fixed (the Lucca id of the employee or of the manager) "
            "and cannot be mapped"
        )
    return key


def _frozen_fields(value: Mapping[str, Field | SourceLike]) -> Mapping[str, Field]:
    given: object = value  # configurations are untyped: check at run time too
    if not isinstance(given, Mapping):
        raise ConfigurationError(
            f"fields must be a mapping of target key -> Field, not {kind(given)}"
        )
    return MappingProxyType({_check_key(key): _as_field(field) for key, field in value.items()})


@attrs.frozen
class FieldExplanation:
    """Where one target value came from, for :meth:`FieldMapping.explain` and ``preview``.

    Attributes:
        key: The target key.
        source: The source, as text (``extendedData.e_site``, ``coalesce(email, login)``).
        transforms: The transforms, as text (``("strip", "truncate(50)")``).
        apply: ``"always"`` or ``"create_only"``.
        on_empty: The empty-value policy.
        value: The value the record holds (None when cleared or absent). Not in the repr: it
            is HR data.
        present: Whether the key is in the record (False when empty under ``"leave"``, or
            when the field failed).
        empty: Whether the source and transforms produced no value (the policy applied).
        error: Why the field cannot be produced or is invalid, else None.
    """

    key: str
    source: str
    transforms: tuple[str, ...]
    apply: ApplyMode
    on_empty: EmptyPolicy
    value: str | None = attrs.field(repr=False)
    present: bool
    empty: bool
    error: str | None = None


def _elevo_default_fields() -> dict[str, Field]:
    return {
        "first_name": Field(Path("first_name")),
        "last_name": Field(Path("last_name")),
        "email": Field(Path("email")),
        "job_title": Field(Path("job_title")),
        "registration_number": Field(Path("employee_number")),
        # A date source is written ISO 8601 (YYYY-MM-DD), which is what Elevo expects.
        "work_start_date": Field(Path("contract_start")),
        "department": Field(Path("department.name")),
    }
