"""check_sink: the conformance suite every Sink implementation should pass.

Run it inside one of your own tests:

```python
def test_my_sink_conforms(tmp_path):
    check_sink(lambda: MySink(tmp_path / "state"))
```

Each check gets a fresh, empty sink from the factory, drives it through the :class:`Sink` API
only (``begin`` / operations / ``commit`` batches, then ``users()``), and closes it. The first
failing check raises :class:`AssertionError` naming the check and what was expected.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date

import attrs

from lucca_sync._employee import Employee
from lucca_sync.exceptions import SinkError
from lucca_sync.sinks import Sink, TargetUser

__all__ = ["ConformanceResult", "check_sink"]

#: Sample values that exercise encodings: accents, apostrophes, commas, quotes, non-Latin text.
DEFAULT_FIELDS: Mapping[str, str] = {
    "first_name": "Zoé",
    "last_name": 'O\'Brien-Łukasiewicz, "Jr"',
    "email": "zoe.obrien@example.com",
    "job_title": "Développeuse — 日本語",
}


@attrs.frozen
class ConformanceResult:
    """What :func:`check_sink` verified.

    Args:
        passed: The names of the checks that passed, in order.
        skipped: Checks not run, with why (``"adoption: no seed function given"``).
    """

    passed: tuple[str, ...]
    skipped: tuple[str, ...] = ()


class _CheckFailedError(AssertionError):
    pass


def _value(sample: str, n: int) -> str:
    """A distinct, still valid variant of ``sample`` for user number ``n``."""
    if "@" in sample:
        return f"u{n}.{sample}"
    try:
        date.fromisoformat(sample)
    except ValueError:
        return f"{sample} {n}"
    return sample


@attrs.define
class _Checker:
    factory: Callable[[], Sink]
    fields: Mapping[str, str]
    counter: Iterator[int] = attrs.field(factory=lambda: itertools.count(1001))

    def record(self, sink: Sink, key: str, **overrides: str | None) -> dict[str, str | None]:
        n = int(key) if key.isdecimal() else next(self.counter)
        record: dict[str, str | None] = {
            name: _value(sample, n) for name, sample in self.fields.items()
        }
        record[sink.key_field] = key
        record.update(overrides)
        return record

    @contextmanager
    def sink(self) -> Iterator[Sink]:
        sink = self.factory()
        try:
            users = list(sink.users())
            _expect(not users, f"the factory must return an empty sink, it holds {len(users)}")
            yield sink
        finally:
            sink.close()

    def key(self) -> str:
        return str(next(self.counter))


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _CheckFailedError(message)


def _batch(sink: Sink, *operations: Callable[[], object]) -> Mapping[str, str]:
    sink.begin()
    for operation in operations:
        operation()
    refusals = sink.commit()
    _expect(
        isinstance(refusals, Mapping),
        f"commit() must return a mapping of refusals, got {type(refusals).__name__}",
    )
    return refusals


def _user(sink: Sink, key: str) -> TargetUser:
    matching = [user for user in sink.users() if user.key == key]
    _expect(len(matching) == 1, f"users() lists key {key!r} {len(matching)} times, not once")
    return matching[0]


def _same_fields(user: TargetUser, expected: Mapping[str, str | None], what: str) -> None:
    for name, value in expected.items():
        got = user.fields.get(name)
        _expect(
            got == value or (value is None and got == ""),
            f"{what}: field {name!r} reads back as {got!r}, expected {value!r}",
        )


def _fails_for(sink: Sink, key: str, operation: Callable[[], object], what: str) -> None:
    """An operation on an unknown key raises SinkError (or is refused when committing)."""
    try:
        refusals = _batch(sink, operation)
    except SinkError as exc:
        _expect(exc.key in (key, None), f"{what}: SinkError.key is {exc.key!r}, not {key!r}")
        sink.abort()
        return
    _expect(key in refusals, f"{what}: no SinkError raised and no refusal at commit")


def check_sink(
    factory: Callable[[], Sink],
    *,
    fields: Mapping[str, str] = DEFAULT_FIELDS,
    seed: Callable[[Sink, TargetUser], None] | None = None,
    transactional: bool = False,
) -> ConformanceResult:
    """Run the sink conformance suite against the sinks ``factory`` returns.

    Args:
        factory: Returns a new, empty sink each time it is called.
        fields: Target keys the sink stores (besides its key and manager fields), each with a
            valid sample value; the defaults hold accents, quotes, commas and non-Latin text.
            E-mail values get a per-user prefix, ISO dates stay as they are, other values a
            per-user suffix.
        seed: Puts a user *not managed* by the sync into a sink (as an admin would by hand);
            enables the adoption check.
        transactional: The sink promises that :meth:`Sink.abort` drops an unfinished batch;
            enables the abort check.

    A sink whose :meth:`Sink.load_history` returns a list (it keeps a run history) is also
    checked to keep every record it is given, in order.

    Returns:
        The checks that passed and those skipped.

    Raises:
        AssertionError: The first check that fails, named, with what was expected.
    """
    checker = _Checker(factory, dict(fields))
    checks: list[tuple[str, Callable[[_Checker], None]]] = [
        ("empty batch", _check_empty_batch),
        ("create round-trip", _check_create),
        ("create is idempotent", _check_create_twice),
        ("update changes only the given fields", _check_update),
        ("update clears a field", _check_clear),
        ("suspend and reactivate", _check_suspend_reactivate),
        ("exclude leaves the user as is", _check_exclude),
        ("unknown keys surface as SinkError", _check_unknown_keys),
        ("plan, apply, re-plan is empty", _check_pipeline),
        ("generation follows the users", _check_generation),
        ("check_plan writes nothing", _check_check_plan),
    ]
    skipped: list[str] = []
    if seed is not None:
        checks.append(("adoption", lambda c: _check_adoption(c, seed)))
    else:
        skipped.append("adoption: no seed function given")
    if transactional:
        checks.append(("abort drops the batch", _check_abort))
    else:
        skipped.append("abort drops the batch: transactional=False")
    probe = factory()
    try:
        keeps_history = probe.load_history() is not None
    finally:
        probe.close()
    if keeps_history:
        checks.append(("run history keeps every applied run", _check_history))
    else:
        skipped.append("run history: the sink keeps none (load_history() returns None)")
    passed: list[str] = []
    for name, check in checks:
        try:
            check(checker)
        except _CheckFailedError as exc:
            raise AssertionError(f"check_sink: {name}: {exc}") from None
        except SinkError as exc:
            raise AssertionError(f"check_sink: {name}: unexpected SinkError: {exc}") from exc
        except Exception as exc:
            raise AssertionError(
                f"check_sink: {name}: raised {type(exc).__name__}; a sink signals every "
                f"failure with SinkError"
            ) from exc
        passed.append(name)
    return ConformanceResult(passed=tuple(passed), skipped=tuple(skipped))


def _check_empty_batch(checker: _Checker) -> None:
    with checker.sink() as sink:
        refusals = _batch(sink)
        _expect(not refusals, f"an empty batch was refused: {dict(refusals)!r}")
        _expect(not list(sink.users()), "an empty batch made users appear")


def _check_create(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        refusals = _batch(sink, lambda: sink.create(key, record))
        _expect(not refusals, f"the create was refused: {dict(refusals)!r}")
        user = _user(sink, key)
        _expect(user.managed, "a created user must be managed")
        _expect(not user.suspended, "a created user must be active")
        _expect(not user.excluded, "a created user must not be excluded")
        _same_fields(user, record, "after create")


def _check_create_twice(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        _batch(sink, lambda: sink.create(key, record))
        _batch(sink, lambda: sink.create(key, record))
        _same_fields(_user(sink, key), record, "after creating twice")


def _check_update(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        name = next(iter(checker.fields))
        change = {name: _value(checker.fields[name], 9)}
        _batch(sink, lambda: sink.create(key, record))
        _batch(sink, lambda: sink.update(key, change))
        _same_fields(_user(sink, key), {**record, **change}, "after update")


def _check_clear(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        name = list(checker.fields)[-1]
        _batch(sink, lambda: sink.create(key, record))
        _batch(sink, lambda: sink.update(key, {name: None}))
        _same_fields(_user(sink, key), {**record, name: None}, "after clearing a field")


def _check_suspend_reactivate(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        _batch(sink, lambda: sink.create(key, record))
        _batch(sink, lambda: sink.suspend(key))
        user = _user(sink, key)
        _expect(user.suspended, "a suspended user must read back as suspended")
        _expect(user.managed, "suspending must keep the user managed (never delete)")
        _batch(sink, lambda: sink.suspend(key))
        _expect(_user(sink, key).suspended, "suspending twice must keep the user suspended")
        name = next(iter(checker.fields))
        change = {name: _value(checker.fields[name], 7)}
        _batch(sink, lambda: sink.reactivate(key, change))
        user = _user(sink, key)
        _expect(not user.suspended, "a reactivated user must read back as active")
        _same_fields(user, {**record, **change}, "after reactivate with changes")


def _check_exclude(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        _batch(sink, lambda: sink.create(key, record))
        _batch(sink, lambda: sink.exclude(key))
        user = _user(sink, key)
        _expect(not user.suspended, "an excluded user must stay active")
        _same_fields(user, record, "after exclude")
        _batch(sink, lambda: sink.update(key, {}))
        _expect(not _user(sink, key).excluded, "an update must bring the user back in scope")


def _check_unknown_keys(checker: _Checker) -> None:
    with checker.sink() as sink:
        name = next(iter(checker.fields))
        key = checker.key()
        change = {name: checker.fields[name]}
        _fails_for(sink, key, lambda: sink.update(key, change), "update of an unknown key")
        key = checker.key()
        _fails_for(sink, key, lambda: sink.suspend(key), "suspend of an unknown key")
        key = checker.key()
        _fails_for(sink, key, lambda: sink.reactivate(key, {}), "reactivate of an unknown key")


def _check_generation(checker: _Checker) -> None:
    with checker.sink() as sink:
        before = sink.generation()
        if before is None:
            return  # the sink binds no plan; apply checks each action's users instead
        _expect(
            type(before) is int,
            f"generation() must return an int or None, got {type(before).__name__}",
        )
        list(sink.users())
        _expect(sink.generation() == before, "generation() changed while nothing was written")
        key = checker.key()
        record = checker.record(sink, key)
        _batch(sink, lambda: sink.create(key, record))
        created = sink.generation()
        _expect(
            created != before,
            f"generation() is still {before} after a commit that created a user: a plan made "
            "before that commit would be applied to the new state",
        )
        _batch(sink, lambda: sink.suspend(key))
        _expect(
            sink.generation() not in (before, created),
            "generation() did not change when a user was suspended",
        )


def _check_adoption(checker: _Checker, seed: Callable[[Sink, TargetUser], None]) -> None:
    with checker.sink() as sink:
        record = checker.record(sink, "legacy-1")
        seed(sink, TargetUser(key="legacy-1", fields=record, managed=False))
        seeded = _user(sink, "legacy-1")
        _expect(not seeded.managed, "the seeded user must read back as not managed")
        key = checker.key()
        _batch(sink, lambda: sink.update("legacy-1", {}, new_key=key))
        user = _user(sink, key)
        _expect(user.managed, "an adopted user must be managed")
        _expect(
            all(u.key != "legacy-1" for u in sink.users()),
            "after adoption the old key must be gone",
        )


def _check_abort(checker: _Checker) -> None:
    with checker.sink() as sink:
        key = checker.key()
        record = checker.record(sink, key)
        sink.begin()
        sink.create(key, record)
        sink.abort()
        _expect(all(u.key != key for u in sink.users()), "an aborted create became visible")


@attrs.frozen
class _Mapping:
    key_field: str
    manager_field: str | None
    fields: Mapping[str, str]
    create_only: frozenset[str] = frozenset()

    def map(self, employee: Employee) -> dict[str, str | None]:
        record: dict[str, str | None] = {
            name: _value(sample, employee.id) for name, sample in self.fields.items()
        }
        record[self.key_field] = str(employee.id)
        if self.manager_field is not None:
            manager = employee.manager_id
            record[self.manager_field] = None if manager is None else str(manager)
        return record


def _check_pipeline(checker: _Checker) -> None:
    from lucca_sync._engine._apply import apply
    from lucca_sync._engine._identity import FIRST_PUBLICATION
    from lucca_sync._engine._plan import plan
    from lucca_sync._engine._safety import Safety

    with checker.sink() as sink:
        mapping = _Mapping(sink.key_field, sink.manager_field, checker.fields)
        # A small tree listed reports first: the library must create managers first.
        employees = [
            Employee(id=2003, first_name="Ana", last_name="B", manager_id=2002),
            Employee(id=2002, first_name="Léo", last_name="C", manager_id=2001),
            Employee(id=2001, first_name="Zoé", last_name="D"),
        ]
        made = plan(
            employees,
            sink,
            rules=(),
            mapping=mapping,
            today=date(2024, 1, 1),
            safety=Safety.review_only(),
        )
        # A snapshot store's first publication is a reviewed step: approved here by digest.
        limits = {violation.limit for violation in made.violations}
        _expect(limits <= {FIRST_PUBLICATION}, f"a first plan of 3 creates trips {limits}")
        report = apply(made, sink, expected_digest=made.digest)
        _expect(not report.failures, f"applying a first plan failed: {report.summary()}")
        _expect(
            sink.first_publication() is None,
            "first_publication() must be None once something was published",
        )
        again = plan(employees, sink, rules=(), mapping=mapping, today=date(2024, 1, 1))
        _expect(
            again.is_empty,
            f"re-planning after apply must be empty, got {again.counts}: the sink does not "
            f"read back what it was given",
        )


def _check_history(checker: _Checker) -> None:
    from lucca_sync._engine._apply import apply
    from lucca_sync._engine._history import load_records
    from lucca_sync._engine._identity import FIRST_PUBLICATION
    from lucca_sync._engine._plan import plan
    from lucca_sync._engine._safety import Safety

    with checker.sink() as sink:
        mapping = _Mapping(sink.key_field, sink.manager_field, checker.fields)
        employees = [Employee(id=2101, first_name="Zoé", last_name="D")]
        for day in (date(2024, 1, 1), date(2024, 1, 2)):
            made = plan(
                employees, sink, rules=(), mapping=mapping, today=day, safety=Safety.review_only()
            )
            # A snapshot store's first publication is approved by digest (see the pipeline).
            limits = {violation.limit for violation in made.violations}
            _expect(limits <= {FIRST_PUBLICATION}, f"a plan of one create trips {limits}")
            apply(made, sink, expected_digest=made.digest)
        records = load_records(sink.load_history()) or ()
        _expect(
            [(record.run, record.today) for record in records]
            == [(1, date(2024, 1, 1)), (2, date(2024, 1, 2))],
            "load_history() must return every record given to append_history(), in order, "
            f"as given; got runs {[record.run for record in records]}",
        )


def _check_check_plan(checker: _Checker) -> None:
    from lucca_sync._engine._apply import apply
    from lucca_sync._engine._identity import FIRST_PUBLICATION
    from lucca_sync._engine._plan import plan
    from lucca_sync._engine._safety import Safety

    with checker.sink() as sink:
        mapping = _Mapping(sink.key_field, sink.manager_field, checker.fields)
        first = Employee(id=3001, first_name="Zoé", last_name="D")
        made = plan(
            [first],
            sink,
            rules=(),
            mapping=mapping,
            today=date(2024, 1, 1),
            safety=Safety.review_only(),
        )
        _expect(
            not made.errors,
            f"check_plan() refused valid records: {[e.message for e in made.errors]!r}",
        )
        limits = {violation.limit for violation in made.violations}
        _expect(limits <= {FIRST_PUBLICATION}, f"a plan of one create trips {limits}")
        report = apply(made, sink, expected_digest=made.digest)  # a first publication, approved
        _expect(not report.failures, f"applying a first plan failed: {report.summary()}")
        before, generation = list(sink.users()), sink.generation()
        hire = Employee(id=3002, first_name="Léo", last_name="C", manager_id=3001)
        made = plan([first, hire], sink, rules=(), mapping=mapping, today=date(2024, 1, 1))
        _expect(
            [create.key for create in made.creates] == ["3002"],
            f"check_plan() refused valid records: {[e.message for e in made.errors]!r}",
        )
        refusals = sink.check_plan(made)
        _expect(
            isinstance(refusals, Mapping),
            f"check_plan() must return a mapping of refusals, got {type(refusals).__name__}",
        )
        _expect(not refusals, f"check_plan() refused valid records: {dict(refusals)!r}")
        _expect(
            list(sink.users()) == before and sink.generation() == generation,
            "check_plan() changed the users or the generation: it must write nothing",
        )
