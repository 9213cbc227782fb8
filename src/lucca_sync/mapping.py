"""Field mapping: how an :class:`~lucca_sync.Employee` becomes a target record.

A :class:`FieldMapping` holds one :class:`Field` per target key. Each field takes a value from a
*source* (a path into the employee or its raw JSON, a constant, a coalesce, a template, a lookup
or a Python callable), runs it through *transforms*, writes it as text, applies its empty-value
policy and checks the target's constraints. The record always carries ``uniq_identifier`` (the
Lucca id) and ``manager_uniq_identifier`` (the manager's Lucca id).

```python
mapping = FieldMapping.elevo_default().with_field(
    "custom_site", Field("extendedData.e_site", transforms=(strip, truncate(50)))
)
record = mapping.map(employee)         # {"uniq_identifier": "416", "first_name": ...}
mapping.explain(employee)              # where each value came from
```

Declarative configurations go through :meth:`FieldMapping.from_dict`, which reports every
problem at once in one :class:`~lucca_sync.exceptions.ConfigurationError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Literal, NamedTuple, TypeAlias

import attrs
import cattrs

from lucca_sync._employee import Employee
from lucca_sync._mapping_checks import check_record, check_value, date_check, value_check
from lucca_sync._mapping_compiled import compile_record
from lucca_sync._mapping_sources import (
    Coalesce,
    Computed,
    Constant,
    ConstantValue,
    Lookup,
    Path,
    Source,
    SourceLike,
    Template,
    as_source,
    attribute_path,
    attribute_reader,
    reads_raw_json,
)
from lucca_sync._mapping_transforms import (
    ENTRY_POINT_GROUP,
    Transform,
    TransformFactory,
    date_format,
    describe,
    lower,
    normalize_diacritics,
    regex_replace,
    register_transform,
    strip,
    title,
    truncate,
    upper,
)
from lucca_sync._mapping_values import ValueProblem, kind, to_text
from lucca_sync.exceptions import ConfigurationError, InvalidValueError, MappingError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ApplyMode",
    "Coalesce",
    "Computed",
    "Constant",
    "ConstantValue",
    "EmptyPolicy",
    "Field",
    "FieldExplanation",
    "FieldMapping",
    "Lookup",
    "Path",
    "Source",
    "SourceLike",
    "Template",
    "Transform",
    "TransformFactory",
    "date_format",
    "lower",
    "normalize_diacritics",
    "regex_replace",
    "register_cattrs_hooks",
    "register_transform",
    "strip",
    "title",
    "truncate",
    "upper",
]

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


@attrs.frozen
class FieldMapping:
    """Target keys and how each is produced from an employee.

    Build one with :meth:`elevo_default`, :meth:`from_dict`, or directly from a mapping of
    target key to :class:`Field` (a path string or callable is wrapped into a Field). The
    record always holds ``uniq_identifier`` (``str(employee.id)``) and
    ``manager_uniq_identifier`` (the manager's id as text, or None); they cannot be remapped.

    Args:
        fields: Target key -> Field, in the order of the record.

    Raises:
        ConfigurationError: a key is empty or fixed, or a field is invalid.
    """

    fields: Mapping[str, Field] = attrs.field(factory=dict, converter=_frozen_fields, hash=False)
    # Per field, what _record() needs to take the common case without building outcomes.
    _plain: tuple[_PlainField, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)
    # The common case of every field at once, when they are all plain (see _mapping_compiled).
    _compiled: Callable[[Employee], dict[str, str | None] | None] | None = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        plain = tuple(
            (key, field, None if field.transforms else attribute_reader(field.source),
             value_check(key), date_check(key), field.on_empty == "clear")
            for key, field in self.fields.items()
        )  # fmt: skip
        object.__setattr__(self, "_plain", plain)
        compiled = compile_record(
            KEY_FIELD,
            MANAGER_FIELD,
            [
                (
                    key,
                    None if field.transforms else attribute_path(field.source),
                    check,
                    check_date,
                    clears,
                )
                for key, field, _, check, check_date, clears in plain
            ],
            self.fields,
        )
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def elevo_default(cls) -> FieldMapping:
        """Elevo's documented Lucca mapping, plus the e-mail.

        ``first_name``, ``last_name``, ``email``, ``job_title``, ``registration_number`` (the
        employee number), ``work_start_date`` (contract start, ``YYYY-MM-DD``) and
        ``department`` (its name), with ``uniq_identifier`` and ``manager_uniq_identifier``.
        Every field clears the target value when Lucca has none.
        """
        return cls(_elevo_default_fields())

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, object],
        *,
        accepts: Callable[[str], bool] | None = None,
        transforms: Mapping[str, TransformFactory] | None = None,
    ) -> FieldMapping:
        """Load a declarative mapping (the ``[mapping]`` table of a TOML file, or JSON).

        See the how-to "Mapping fields" for the schema. Every problem is collected and reported
        together, each prefixed with its path (``fields.custom_site.transforms[1]: …``).

        Args:
            data: The configuration.
            accepts: The sink's check of target keys (e.g. ``sink.accepts_field``); unknown
                keys are reported with the other problems.
            transforms: Extra named transform factories for this configuration only, on top of
                the built-ins, :func:`register_transform` and the ``lucca_sync.transforms``
                entry points.

        Returns:
            The mapping.

        Raises:
            ConfigurationError: the configuration is invalid; ``problems`` lists every problem.
        """
        from lucca_sync._mapping_config import load

        return load(data, accepts=accepts, transforms=transforms)

    @property
    def target_keys(self) -> frozenset[str]:
        """Every key the record may hold, fixed keys included."""
        return frozenset({*_FIXED, *self.fields})

    def _reads_raw(self) -> bool:
        """Whether a field may read more of ``Employee.raw`` than ``extendedData``."""
        return any(reads_raw_json(field.source) for field in self.fields.values())

    @property
    def create_only(self) -> frozenset[str]:
        """The keys written when a user is created and never updated afterwards."""
        return frozenset(key for key, field in self.fields.items() if field.apply == "create_only")

    def with_field(self, key: str, field: Field | SourceLike) -> FieldMapping:
        """A copy with ``key`` added, or replaced in place.

        Raises:
            ConfigurationError: the key is fixed or malformed, or ``field`` is not a source.
        """
        return FieldMapping({**self.fields, key: field})

    def without(self, *keys: str) -> FieldMapping:
        """A copy without ``keys`` (the target's values for them are then left untouched).

        Raises:
            ConfigurationError: a key is not in the mapping.
        """
        missing = [key for key in keys if key not in self.fields]
        if missing:
            raise ConfigurationError(
                f"cannot remove {', '.join(map(repr, missing))}: not mapped "
                f"(mapped: {', '.join(self.fields)})"
            )
        return FieldMapping({k: f for k, f in self.fields.items() if k not in keys})

    def check(self, accepts: Callable[[str], bool]) -> None:
        """Check every target key against a sink, e.g. ``mapping.check(sink.accepts_field)``.

        Raises:
            ConfigurationError: listing every key the sink does not accept.
        """
        problems = tuple(
            f"fields.{key}: the sink has no target key {key!r}"
            for key in (KEY_FIELD, *self.fields, MANAGER_FIELD)
            if not accepts(key)
        )
        if problems:
            raise ConfigurationError(
                f"the mapping has {len(problems)} key(s) the sink does not accept: "
                + "; ".join(problems),
                problems,
            )

    def _outcomes(self, employee: Employee) -> dict[str, _Outcome]:
        manager = employee.manager_id
        outcomes = {KEY_FIELD: _Outcome(str(employee.id), True, False)}
        for key, field in self.fields.items():
            outcomes[key] = field._evaluate(key, employee)
        outcomes[MANAGER_FIELD] = _Outcome(
            None if manager is None else str(manager), True, manager is None
        )
        record = {key: o.value for key, o in outcomes.items() if o.present}
        blamed = check_record(record, self.fields)
        if blamed is not None and outcomes[blamed].error is None:
            outcomes[blamed] = outcomes[blamed]._replace(error=_no_login(employee, blamed))
        return outcomes

    def map(self, employee: Employee) -> dict[str, str | None]:
        """The target record for ``employee``.

        Keys are in mapping order, ``uniq_identifier`` first and ``manager_uniq_identifier``
        last. A key whose value is empty is absent under ``on_empty="leave"``, None under
        ``"clear"``, the default under ``"default"``. Values are text or None.

        Raises:
            MappingError: a field cannot be produced, or breaks a target constraint
                (:class:`~lucca_sync.exceptions.InvalidValueError`), for this employee; the
                first such field in mapping order is reported.
        """
        record, error = self._record(employee)
        if error is not None:
            try:
                raise error
            finally:
                # The error's traceback holds this frame: without this, the frame and the
                # error would form a cycle that only the garbage collector can free.
                del error
        return record

    def _record(self, employee: Employee) -> tuple[dict[str, str | None], MappingError | None]:
        """The record for ``employee``, and the error map() raises (the first in order)."""
        # The same outcomes as explain(), without building them for the common case: a
        # non-empty text read from a typed attribute (a sixth of plan()'s CPU time before).
        if self._compiled is not None and (record := self._compiled(employee)) is not None:
            return record, None
        record = {KEY_FIELD: str(employee.id)}
        errors: dict[str, MappingError] = {}
        for key, field, read, check, check_date, clears in self._plain:
            if read is not None:
                value = read(employee)
                if type(value) is str:
                    if value and (check is None or check(value) is None) and not value.isspace():
                        record[key] = value
                        continue
                elif type(value) is date:  # as to_text() writes dates
                    text = value.isoformat()
                    if check_date is None or check_date(text) is None:
                        record[key] = text
                        continue
                elif value is None and clears:
                    record[key] = None
                    continue
            outcome = field._evaluate(key, employee)
            if outcome.present:
                record[key] = outcome.value
            if outcome.error is not None:
                errors[key] = outcome.error
        manager = employee.manager_id
        record[MANAGER_FIELD] = None if manager is None else str(manager)
        blamed = check_record(record, self.fields)
        if blamed is not None and blamed not in errors:
            errors[blamed] = _no_login(employee, blamed)
        if errors:
            return record, next(errors[key] for key in self.fields if key in errors)
        return record, None

    def explain(self, employee: Employee) -> list[FieldExplanation]:
        """Explain every target key for ``employee``: source, transforms, value, policy, error.

        Never raises for a field that fails: its explanation carries the error instead.
        """
        explanations = []
        for key, outcome in self._outcomes(employee).items():
            field = self.fields.get(key)
            explanations.append(
                FieldExplanation(
                    key=key,
                    source=str(field.source)
                    if field
                    else ("id" if key == KEY_FIELD else "manager_id"),
                    transforms=tuple(describe(t) for t in field.transforms) if field else (),
                    apply=field.apply if field else "always",
                    on_empty=field.on_empty if field else "clear",
                    value=outcome.value,
                    present=outcome.present,
                    empty=outcome.empty,
                    error=None if outcome.error is None else str(outcome.error),
                )
            )
        return explanations


def _no_login(employee: Employee, blamed: str) -> MappingError:
    other = "username" if blamed == "email" else "email"
    return MappingError(
        f"employee {employee.id} has neither {blamed} nor {other}; Elevo needs one "
        f"to create a login (check the employee in Lucca or map {other})",
        employee_id=employee.id,
        field=blamed,
    )


def register_cattrs_hooks(converter: cattrs.BaseConverter) -> None:
    """Let a cattrs converter structure :class:`FieldMapping` from configuration data.

    For configurations modelled as attrs classes: an attribute typed ``FieldMapping`` is then
    loaded with :meth:`FieldMapping.from_dict` (and its ConfigurationError propagates).

    Args:
        converter: A ``cattrs.Converter`` (or ``BaseConverter``).
    """

    def structure(data: object, _: object) -> FieldMapping:
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"a mapping configuration is a table, not {kind(data)}")
        return FieldMapping.from_dict(data)

    converter.register_structure_hook(FieldMapping, structure)
