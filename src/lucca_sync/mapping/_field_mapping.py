"""`FieldMapping`: a target record from an employee, one `Field` per key; cattrs hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date

import attrs
import cattrs

from lucca_sync._employee import Employee
from lucca_sync.exceptions import ConfigurationError, MappingError
from lucca_sync.mapping._checks import check_record, date_check, value_check
from lucca_sync.mapping._compiled import compile_record
from lucca_sync.mapping._config import load_fields
from lucca_sync.mapping._fields import (
    _FIXED,
    KEY_FIELD,
    MANAGER_FIELD,
    Field,
    FieldExplanation,
    _elevo_default_fields,
    _frozen_fields,
    _Outcome,
    _PlainField,
)
from lucca_sync.mapping._sources import (
    SourceLike,
    attribute_path,
    attribute_reader,
    custom_fields_of,
    reads_raw_json,
)
from lucca_sync.mapping._transforms import (
    TransformFactory,
    describe,
)
from lucca_sync.mapping._values import kind

__all__ = ["FieldMapping", "register_cattrs_hooks"]

_log = logging.getLogger("lucca_sync.mapping")


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
        return cls(load_fields(data, accepts=accepts, transforms=transforms))

    @property
    def target_keys(self) -> frozenset[str]:
        """Every key the record may hold, fixed keys included."""
        return frozenset({*_FIXED, *self.fields})

    def _reads_raw(self) -> bool:
        """Whether a field may read more of ``Employee.raw`` than ``extendedData``."""
        return any(reads_raw_json(field.source) for field in self.fields.values())

    def _custom_fields(self) -> frozenset[str] | None:
        """The custom-field codes the fields read; ``None`` when one may read any."""
        codes: set[str] = set()
        for field in self.fields.values():
            found = custom_fields_of(field.source)
            if found is None:
                return None
            codes |= found
        return frozenset(codes)

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
