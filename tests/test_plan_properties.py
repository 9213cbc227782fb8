"""Property tests of the engine: idempotence, order independence, safety, managers first."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date

import attrs
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import lucca_sync
from lucca_sync import Employee, Plan, Safety
from lucca_sync.exceptions import APIConnectionError, SafetyError
from lucca_sync.testing import MemorySink

TODAY = date(2025, 3, 10)
# Every limit open: these properties are about the diff, not the safety net.
OPEN = Safety(
    max_suspensions=10_000,
    max_not_visible=10_000,
    min_source_ratio=0,
    allow_empty_source=True,
    max_reactivations=10_000,
    max_excludes=10_000,
    max_field_changes=10_000,
    max_window_suspensions=10_000,
    max_window_reactivations=10_000,
)
IDS = st.integers(min_value=1, max_value=25)


@attrs.frozen
class RecordOf:
    create_only: frozenset[str] = frozenset()

    def map(self, employee: Employee) -> Mapping[str, str | None]:
        return {
            "uniq_identifier": str(employee.id),
            "manager_uniq_identifier": None
            if employee.manager_id is None
            else str(employee.manager_id),
            "job_title": employee.job_title,
        }


def skip(employee: Employee) -> str | None:
    return "skip flag" if employee.extended_data.get("skip") else None


MAPPING = RecordOf()


@st.composite
def directories(draw: st.DrawFn) -> list[Employee]:
    ids = draw(st.lists(IDS, unique=True, max_size=15))
    return [
        Employee(
            id=employee_id,
            first_name="Zoé",
            last_name="Durand",
            job_title=draw(st.sampled_from(["Dev", "Lead", "RH"])),
            manager_id=draw(st.none() | IDS),
            contract_end=draw(st.none() | st.sampled_from([date(2024, 1, 1), date(2026, 1, 1)])),
            extended_data={"skip": draw(st.booleans())},
        )
        for employee_id in ids
    ]


def make_plan(source: object, sink: MemorySink, safety: Safety = OPEN) -> Plan:
    return lucca_sync.plan(
        source,  # type: ignore[arg-type]
        sink,
        rules=(skip,),
        mapping=MAPPING,
        today=TODAY,
        safety=safety,
    )


def kept(directory: list[Employee]) -> set[str]:
    return {
        str(e.id)
        for e in directory
        if e.status(TODAY) != "former" and not e.extended_data.get("skip")
    }


def content(made: Plan) -> dict[str, object]:
    """The plan as JSON data, without the time it was made at."""
    data: dict[str, object] = json.loads(made.to_json())
    del data["created_at"]
    return data


class TestProperties:
    """Invariants that hold for any directory and any earlier target state."""

    @given(directories(), directories())
    def test_apply_then_replan_is_empty(
        self, before: list[Employee], after: list[Employee]
    ) -> None:
        sink = MemorySink()
        lucca_sync.apply(make_plan(before, sink), sink)
        report = lucca_sync.apply(make_plan(after, sink), sink)
        assert report.ok
        assert make_plan(after, sink).is_empty
        active = {u.key for u in sink.users() if not u.suspended and not u.excluded}
        assert active == kept(after)

    @given(directories(), directories(), st.randoms(use_true_random=False))
    def test_the_plan_does_not_depend_on_the_source_order(
        self, before: list[Employee], after: list[Employee], rng: object
    ) -> None:
        sink = MemorySink()
        lucca_sync.apply(make_plan(before, sink), sink)
        shuffled = list(after)
        rng.shuffle(shuffled)  # type: ignore[attr-defined]
        assert content(make_plan(shuffled, sink)) == content(make_plan(after, sink))
        assert make_plan(shuffled, sink).digest == make_plan(after, sink).digest

    @given(directories(), directories())
    def test_excluded_employees_are_never_written(
        self, before: list[Employee], after: list[Employee]
    ) -> None:
        sink = MemorySink()
        lucca_sync.apply(make_plan(before, sink), sink)
        sink.log.clear()
        lucca_sync.apply(make_plan(after, sink), sink)
        excluded = {str(e.id) for e in after if e.extended_data.get("skip")}
        written = {
            op.key for op in sink.operations if op.name in ("create", "update", "reactivate")
        }
        assert not written & excluded

    @given(
        directories(),
        directories(),
        st.integers(min_value=0, max_value=5),
        st.floats(min_value=0, max_value=1),
    )
    def test_suspensions_never_exceed_the_limit_without_safety_error(
        self, before: list[Employee], after: list[Employee], count: int, ratio: float
    ) -> None:
        sink = MemorySink()
        lucca_sync.apply(make_plan(before, sink), sink)
        safety = Safety(max_suspensions=count, max_suspension_ratio=ratio, min_source_ratio=0)
        managed = sum(1 for u in sink.users() if u.managed and not u.suspended)
        try:
            result = make_plan(after, sink, safety)
        except SafetyError as exc:
            error: SafetyError | None = exc
        else:
            error = None
            assert len(result.suspensions) <= safety.suspension_limit(managed)
        if error is not None:
            assert error.limit == "empty_source" or (error.observed or 0) > (error.allowed or 0)

    @given(directories())
    def test_managers_are_written_before_their_reports(self, directory: list[Employee]) -> None:
        sink = MemorySink()
        made = make_plan(directory, sink)
        lucca_sync.apply(made, sink)
        position = {op.key: index for index, op in enumerate(sink.operations)}
        for create in made.creates:
            manager = create.fields["manager_uniq_identifier"]
            if manager is not None and manager in position:
                assert position[manager] < position[create.key]

    @given(directories(), directories())
    def test_a_field_mapping_resolves_managers_as_any_mapping_of_the_same_records(
        self, before: list[Employee], after: list[Employee]
    ) -> None:
        # The planner takes a FieldMapping's manager references from the employees instead of
        # parsing its records back: excluded, departed, self- and cyclic managers included.
        field_mapping = lucca_sync.FieldMapping(fields={"job_title": "job_title"})

        @attrs.frozen
        class SameRecords:
            create_only: frozenset[str] = frozenset()

            def map(self, employee: Employee) -> Mapping[str, str | None]:
                return field_mapping.map(employee)

        def planned(mapping: object) -> dict[str, object]:
            sink = MemorySink()
            lucca_sync.apply(make_plan(before, sink), sink)
            made = lucca_sync.plan(
                after,
                sink,
                rules=(skip,),
                mapping=mapping,  # type: ignore[arg-type]
                today=TODAY,
                safety=OPEN,
            )
            return content(made)

        assert planned(field_mapping) == planned(SameRecords())

    @given(directories(), directories(), st.integers(min_value=0, max_value=15))
    def test_a_failed_read_never_suspends(
        self, before: list[Employee], after: list[Employee], cut: int
    ) -> None:
        sink = MemorySink()
        lucca_sync.apply(make_plan(before, sink), sink)
        suspended = {u.key for u in sink.users() if u.suspended}

        class Broken:
            def list_employees(self, **options: bool) -> Iterator[Employee]:
                yield from after[:cut]
                raise APIConnectionError("reset after a page")

        try:
            lucca_sync.sync(
                Broken(), sink, rules=(skip,), mapping=MAPPING, today=TODAY, safety=OPEN
            )
        except APIConnectionError:
            pass
        else:  # pragma: no cover - the read always fails
            raise AssertionError("the broken read did not raise")
        assert {u.key for u in sink.users() if u.suspended} == suspended


class ChangingDirectory(RuleBasedStateMachine):
    """A directory that hires, changes, excludes and loses people, synced after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.people: dict[int, Employee] = {}
        self.sink = MemorySink()

    def sync(self) -> None:
        report = lucca_sync.sync(
            list(self.people.values()),
            self.sink,
            rules=(skip,),
            mapping=MAPPING,
            today=TODAY,
            safety=OPEN,
        )
        assert report.ok

    @rule(employee_id=IDS, manager=st.none() | IDS)
    def hire(self, employee_id: int, manager: int | None) -> None:
        self.people[employee_id] = Employee(
            id=employee_id, first_name="A", last_name="B", manager_id=manager, job_title="Dev"
        )
        self.sync()

    @rule(employee_id=IDS, title=st.sampled_from(["Dev", "Lead"]))
    def change_title(self, employee_id: int, title: str) -> None:
        if employee_id in self.people:
            self.people[employee_id] = attrs.evolve(self.people[employee_id], job_title=title)
        self.sync()

    @rule(employee_id=IDS, ended=st.booleans())
    def leave_or_return(self, employee_id: int, ended: bool) -> None:
        if employee_id in self.people:
            end = date(2025, 1, 1) if ended else None
            self.people[employee_id] = attrs.evolve(self.people[employee_id], contract_end=end)
        self.sync()

    @rule(employee_id=IDS, flag=st.booleans())
    def toggle_exclusion(self, employee_id: int, flag: bool) -> None:
        if employee_id in self.people:
            employee = self.people[employee_id]
            self.people[employee_id] = attrs.evolve(employee, extended_data={"skip": flag})
        self.sync()

    @rule(employee_id=IDS)
    def disappear(self, employee_id: int) -> None:
        self.people.pop(employee_id, None)
        self.sync()

    @invariant()
    def replanning_is_empty(self) -> None:
        assert make_plan(list(self.people.values()), self.sink).is_empty

    @invariant()
    def the_active_users_are_the_kept_employees(self) -> None:
        active = {
            u.key for u in self.sink.users() if not u.suspended and not u.excluded and u.managed
        }
        assert active == kept_from(self.people.values())

    @invariant()
    def nobody_is_ever_deleted(self) -> None:
        # A Sink has no delete operation (OperationName lists none): what matters is that
        # everyone ever created is still there.
        ever = {op.key for op in self.sink.log if op.name == "create"}
        assert ever <= set(self.sink.users_by_key)


def kept_from(people: object) -> set[str]:
    return kept(list(people))  # type: ignore[call-overload]


TestChangingDirectory = ChangingDirectory.TestCase
