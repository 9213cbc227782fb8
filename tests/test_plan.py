"""The planner: classification, matching, diff, lifecycle, managers and errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date

import attrs
import pytest

import lucca_sync
from lucca_sync import Employee, FieldChange, Plan, Safety, TargetUser
from lucca_sync.exceptions import (
    APIConnectionError,
    ConfigurationError,
    MappingError,
    ResponseDecodeError,
    SinkError,
)
from lucca_sync.rules import Exclusion
from lucca_sync.testing import MemorySink

TODAY = date(2025, 3, 10)
NOT_VISIBLE = "no longer visible in Lucca"


def emp(employee_id: int, **fields: object) -> Employee:
    defaults: dict[str, object] = {
        "first_name": f"Prénom{employee_id}",
        "last_name": f"Nom{employee_id}",
        "email": f"p{employee_id}@example.com",
        "job_title": "Développeur",
        "contract_start": date(2020, 1, 1),
    }
    defaults.update(fields)
    return Employee(id=employee_id, **defaults)  # type: ignore[arg-type]


@attrs.frozen
class SimpleMapping:
    """A small mapping: key, manager, names, email, job title; optional create-only keys."""

    create_only: frozenset[str] = frozenset()
    fail_for: frozenset[int] = frozenset()

    def map(self, employee: Employee) -> Mapping[str, str | None]:
        if employee.id in self.fail_for:
            raise MappingError("bad value", employee_id=employee.id, field="job_title")
        record: dict[str, str | None] = {
            "uniq_identifier": str(employee.id),
            "manager_uniq_identifier": None
            if employee.manager_id is None
            else str(employee.manager_id),
            "first_name": employee.first_name,
            "last_name": employee.last_name,
            "email": employee.email,
        }
        if employee.job_title:  # "leave" policy: an empty job title is left as it is
            record["job_title"] = employee.job_title
        return record


MAPPING = SimpleMapping()


def target_of(employees: list[Employee], **flags: bool) -> list[TargetUser]:
    """Target users exactly as a previous sync of ``employees`` left them."""
    return [TargetUser(key=str(e.id), fields=dict(MAPPING.map(e)), **flags) for e in employees]


def make_plan(source: list[Employee], sink: MemorySink | None = None, **options: object) -> Plan:
    options.setdefault("mapping", MAPPING)
    options.setdefault("rules", ())
    options.setdefault("today", TODAY)
    options.setdefault("safety", Safety(max_suspensions=1000))
    return lucca_sync.plan(source, sink or MemorySink(), **options)  # type: ignore[arg-type]


def skip_odd(employee: Employee) -> str | None:
    return "odd id" if employee.id % 2 else None


class TestFirstRun:
    """Against an empty target every kept employee is created, nothing else."""

    def test_every_kept_employee_is_created_with_its_record(self) -> None:
        result = make_plan([emp(1), emp(2, manager_id=1)])
        assert [c.key for c in result.creates] == ["1", "2"]
        assert result.creates[1].fields["manager_uniq_identifier"] == "1"
        assert result.creates[0].fields["email"] == "p1@example.com"
        assert not (result.updates)
        assert not (result.suspensions)
        assert not (result.reactivations)

    def test_the_elevo_default_mapping_is_used_without_a_mapping(self) -> None:
        result = lucca_sync.plan([emp(7)], MemorySink(), rules=(), today=TODAY)
        assert result.creates[0].fields["uniq_identifier"] == "7"
        assert result.creates[0].fields["first_name"] == "Prénom7"

    def test_former_employees_are_not_created(self) -> None:
        result = make_plan([emp(1, contract_end=date(2025, 3, 9)), emp(2)])
        assert [c.key for c in result.creates] == ["2"]
        assert result.stats.employees_former == 1

    def test_an_employee_whose_contract_ends_today_is_still_created(self) -> None:
        result = make_plan([emp(1, contract_end=TODAY)])
        assert [c.key for c in result.creates] == ["1"]

    def test_excluded_employees_are_recorded_and_not_created(self) -> None:
        result = make_plan([emp(1), emp(2)], rules=(skip_odd,))
        assert [c.key for c in result.creates] == ["2"]
        assert result.exclusions == (Exclusion(1, "skip_odd", "odd id"),)

    def test_the_default_rule_reads_the_elevo_skip_flag(self) -> None:
        flagged = emp(3, extended_data={"e_skip_elevo_sync": True})
        result = lucca_sync.plan([flagged, emp(4)], MemorySink(), mapping=MAPPING, today=TODAY)
        assert [c.key for c in result.creates] == ["4"]
        assert [e.employee_id for e in result.exclusions] == [3]


class TestUpdates:
    """Only fields that differ are updated, each with its before and after."""

    def test_a_synced_directory_gives_an_empty_plan(self) -> None:
        people = [emp(1), emp(2, manager_id=1)]
        assert make_plan(people, MemorySink(target_of(people))).is_empty

    def test_a_changed_job_title_is_one_update_with_that_field(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1, job_title="Directrice")], sink)
        assert len(result.updates) == 1
        assert result.updates[0].changes == (FieldChange("job_title", "Développeur", "Directrice"),)
        assert result.updates[0].values == {"job_title": "Directrice"}

    def test_a_key_the_mapping_leaves_out_keeps_the_target_value(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        assert make_plan([emp(1, job_title=None)], sink).is_empty

    def test_a_cleared_value_is_an_update_to_none(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1, email=None)], sink)
        assert result.updates[0].changes == (FieldChange("email", "p1@example.com", None),)

    def test_create_only_fields_are_never_updated(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        mapping = SimpleMapping(create_only=frozenset({"email"}))
        result = make_plan([emp(1, email="new@example.com")], sink, mapping=mapping)
        assert result.is_empty

    def test_create_only_fields_are_written_on_create(self) -> None:
        mapping = SimpleMapping(create_only=frozenset({"email"}))
        result = make_plan([emp(1)], mapping=mapping)
        assert result.creates[0].fields["email"] == "p1@example.com"

    def test_unmanaged_target_users_are_never_touched(self) -> None:
        hand_made = TargetUser(key="admin", fields={"email": "p1@example.com"}, managed=False)
        result = make_plan([], MemorySink([hand_made]))
        assert result.is_empty


class TestLifecycle:
    """Suspensions, reactivations and exclusions of target users."""

    def test_a_leaver_is_suspended_with_the_contract_end_date(self) -> None:
        people = [emp(1), emp(2)]
        sink = MemorySink(target_of(people))
        result = make_plan([emp(1), emp(2, contract_end=date(2025, 2, 28))], sink)
        assert [(s.key, s.reason) for s in result.suspensions] == [
            ("2", "contract ended on 2025-02-28")
        ]

    def test_someone_missing_from_the_read_is_suspended_with_a_rights_hint(self) -> None:
        sink = MemorySink(target_of([emp(1), emp(2)]))
        result = make_plan([emp(1)], sink)
        assert len(result.suspensions) == 1
        assert result.suspensions[0].key == "2"
        assert result.suspensions[0].employee_id == 2
        assert result.suspensions[0].reason.startswith(NOT_VISIBLE)
        assert "rights" in result.suspensions[0].reason

    def test_already_suspended_users_are_not_suspended_again(self) -> None:
        sink = MemorySink(target_of([emp(2)], suspended=True))
        assert make_plan([], sink, safety=Safety(allow_empty_source=True)).is_empty

    def test_a_returning_employee_is_reactivated_with_changes(self) -> None:
        sink = MemorySink(target_of([emp(1)], suspended=True))
        result = make_plan([emp(1, job_title="Lead")], sink)
        assert [r.key for r in result.reactivations] == ["1"]
        assert result.reactivations[0].values == {"job_title": "Lead"}
        assert not result.updates

    def test_a_newly_excluded_user_is_marked_excluded_by_default(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1)], sink, rules=(skip_odd,))
        assert [(e.key, e.rule, e.reason) for e in result.excludes] == [("1", "skip_odd", "odd id")]
        assert not result.suspensions

    def test_an_already_excluded_user_is_left_alone(self) -> None:
        sink = MemorySink(target_of([emp(1)], excluded=True))
        assert make_plan([emp(1)], sink, rules=(skip_odd,)).is_empty

    def test_on_excluded_suspend_suspends_with_the_rule_reason(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1)], sink, rules=(skip_odd,), on_excluded="suspend")
        assert [(s.key, s.reason) for s in result.suspensions] == [("1", "excluded: odd id")]
        assert not result.excludes

    def test_an_unreadable_skip_flag_is_never_a_suspension(self) -> None:
        """Kept out on doubt, yes; suspended on doubt, never — even under on_excluded=suspend."""
        sink = MemorySink(target_of([emp(1)]))
        doubtful = emp(1, extended_data={"e_skip_elevo_sync": "peut-être"})
        result = make_plan([doubtful], sink, rules=lucca_sync.DEFAULT_RULES, on_excluded="suspend")
        assert not result.suspensions
        assert [e.key for e in result.excludes] == ["1"]
        assert [e.warning for e in result.exclusions] == [True]

    def test_an_excluded_user_back_in_scope_gets_an_update_even_without_changes(self) -> None:
        sink = MemorySink(target_of([emp(2)], excluded=True))
        result = make_plan([emp(2)], sink)
        assert [(u.key, u.changes, u.reason) for u in result.updates] == [
            ("2", (), "back in scope")
        ]

    def test_a_leaver_not_managed_by_the_sync_is_not_suspended(self) -> None:
        sink = MemorySink(target_of([emp(2)], managed=False))
        result = make_plan([emp(2, contract_end=date(2024, 1, 1))], sink)
        assert result.is_empty


class TestMatching:
    """Target users are found by key, then by the fallback keys for adoption."""

    def test_a_matching_unmanaged_user_is_adopted_by_email_case_insensitively(self) -> None:
        hand_made = TargetUser(key="x-9", fields={"email": "P1@Example.COM "}, managed=False)
        result = make_plan([emp(1)], MemorySink([hand_made]), match_by=("email",))
        assert not result.creates
        assert len(result.updates) == 1
        update = result.updates[0]
        assert (update.key, update.new_key, update.reason) == (
            "x-9",
            "1",
            "adopted: matched by email",
        )
        assert FieldChange("first_name", None, "Prénom1") in update.changes

    def test_the_registration_number_is_the_second_fallback(self) -> None:
        @attrs.frozen
        class WithNumber:
            create_only: frozenset[str] = frozenset()

            def map(self, employee: Employee) -> Mapping[str, str | None]:
                return {**MAPPING.map(employee), "registration_number": employee.employee_number}

        hand_made = TargetUser(
            key="old", fields={"email": "other@x.org", "registration_number": "0023"}, managed=False
        )
        result = make_plan(
            [emp(1, employee_number="0023")],
            MemorySink([hand_made]),
            mapping=WithNumber(),
            match_by=("email", "registration_number"),
        )
        assert [(u.key, u.new_key) for u in result.updates] == [("old", "1")]

    def test_an_ambiguous_match_is_an_error_not_a_guess(self) -> None:
        twins = [TargetUser(key=k, fields={"email": "p1@example.com"}, managed=False) for k in "ab"]
        result = make_plan([emp(1)], MemorySink(twins), match_by=("email",))
        assert result.is_empty
        assert [(e.employee_id, e.stage, e.field) for e in result.errors] == [(1, "match", "email")]

    def test_two_employees_matching_one_user_are_both_errors(self) -> None:
        hand_made = TargetUser(key="h", fields={"email": "same@example.com"}, managed=False)
        people = [emp(1, email="same@example.com"), emp(2, email="SAME@example.com")]
        result = make_plan(people, MemorySink([hand_made]), match_by=("email",))
        assert result.is_empty
        assert sorted(e.employee_id or 0 for e in result.errors) == [1, 2]

    def test_without_match_by_an_unmanaged_user_is_not_matched_by_email(self) -> None:
        hand_made = TargetUser(key="h", fields={"email": "p1@example.com"}, managed=False)
        result = make_plan([emp(1)], MemorySink([hand_made]))
        assert [c.key for c in result.creates] == ["1"]

    def test_an_unmanaged_user_holding_the_key_is_an_error_without_match_by(self) -> None:
        hand_made = TargetUser(key="1", fields={}, managed=False)
        result = make_plan([emp(1)], MemorySink([hand_made]))
        assert result.is_empty
        assert [(e.employee_id, e.stage) for e in result.errors] == [(1, "match")]

    def test_a_suspended_unmanaged_match_is_an_error(self) -> None:
        hand_made = TargetUser(
            key="h", fields={"email": "p1@example.com"}, managed=False, suspended=True
        )
        result = make_plan([emp(1)], MemorySink([hand_made]), match_by=("email",))
        assert result.is_empty
        assert result.errors[0].stage == "match"


class TestManagers:
    """Manager references point at synced users; cycles are reported and broken."""

    def test_an_excluded_manager_is_replaced_by_the_nearest_synced_ancestor(self) -> None:
        people = [emp(2), emp(3, manager_id=2), emp(4, manager_id=3)]
        result = make_plan(people, rules=(skip_odd,))
        managers = {c.key: c.fields["manager_uniq_identifier"] for c in result.creates}
        assert managers == {"2": None, "4": "2"}

    def test_the_empty_policy_clears_a_manager_who_is_not_synced(self) -> None:
        people = [emp(2), emp(3, manager_id=2), emp(4, manager_id=3)]
        result = make_plan(people, rules=(skip_odd,), manager_fallback="empty")
        assert {c.key: c.fields["manager_uniq_identifier"] for c in result.creates} == {
            "2": None,
            "4": None,
        }

    def test_a_departed_or_missing_manager_is_skipped(self) -> None:
        people = [
            emp(1),
            emp(2, manager_id=1, contract_end=date(2024, 1, 1)),
            emp(3, manager_id=2),
            emp(4, manager_id=99),
        ]
        result = make_plan(people)
        managers = {c.key: c.fields["manager_uniq_identifier"] for c in result.creates}
        assert managers == {"1": None, "3": "1", "4": None}

    def test_self_management_is_reported_and_left_empty(self) -> None:
        result = make_plan([emp(5, manager_id=5)])
        assert result.creates[0].fields["manager_uniq_identifier"] is None
        assert any("employee 5" in w and "own manager" in w for w in result.warnings)

    def test_a_cycle_is_reported_and_broken_at_its_smallest_id(self) -> None:
        result = make_plan([emp(7, manager_id=8), emp(8, manager_id=9), emp(9, manager_id=7)])
        managers = {c.key: c.fields["manager_uniq_identifier"] for c in result.creates}
        assert managers == {"7": None, "8": "9", "9": "7"}
        assert [c.key for c in result.creates] == ["7", "9", "8"]
        assert any("7, 8, 9" in w and "cycle" in w for w in result.warnings)

    def test_a_cycle_through_excluded_managers_terminates(self) -> None:
        people = [emp(2, manager_id=3), emp(3, manager_id=5), emp(5, manager_id=3)]
        result = make_plan(people, rules=(skip_odd,))
        assert result.creates[0].fields["manager_uniq_identifier"] is None
        assert any("cycle" in w for w in result.warnings)

    def test_managers_are_created_before_their_reports(self) -> None:
        people = [emp(1, manager_id=30), emp(30, manager_id=20), emp(20), emp(10, manager_id=1)]
        result = make_plan(people)
        assert [c.key for c in result.creates] == ["20", "30", "1", "10"]
        assert [c.depth for c in result.creates] == [0, 1, 2, 3]

    def test_a_manager_change_is_an_update(self) -> None:
        people = [emp(1), emp(2), emp(3, manager_id=1)]
        sink = MemorySink(target_of(people))
        result = make_plan([emp(1), emp(2), emp(3, manager_id=2)], sink)
        assert result.updates[0].changes == (FieldChange("manager_uniq_identifier", "1", "2"),)


class TestErrors:
    """Per-employee errors are recorded; those employees are never suspended."""

    def test_a_mapping_error_is_recorded_and_other_employees_continue(self) -> None:
        result = make_plan([emp(1), emp(2)], mapping=SimpleMapping(fail_for=frozenset({1})))
        assert [c.key for c in result.creates] == ["2"]
        assert [(e.employee_id, e.stage, e.field) for e in result.errors] == [
            (1, "mapping", "job_title")
        ]

    def test_an_employee_with_a_mapping_error_is_not_suspended(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1)], sink, mapping=SimpleMapping(fail_for=frozenset({1})))
        assert result.is_empty

    def test_a_rule_that_raises_is_a_rule_error(self) -> None:
        def broken(employee: Employee) -> str | None:
            raise ValueError("boom")

        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1)], sink, rules=(broken,))
        assert result.is_empty
        assert [(e.employee_id, e.stage) for e in result.errors] == [(1, "rule")]

    def test_duplicate_ids_in_the_read_are_an_error_with_no_action(self) -> None:
        sink = MemorySink(target_of([emp(1)]))
        result = make_plan([emp(1), emp(1, job_title="Autre"), emp(2)], sink)
        assert [c.key for c in result.creates] == ["2"]
        assert not result.suspensions
        assert not result.updates
        assert [(e.employee_id, e.stage) for e in result.errors] == [(1, "read")]

    def test_a_mapping_that_changes_the_key_is_an_error(self) -> None:
        @attrs.frozen
        class WrongKey:
            create_only: frozenset[str] = frozenset()

            def map(self, employee: Employee) -> Mapping[str, str | None]:
                return {"uniq_identifier": f"L{employee.id}"}

        result = make_plan([emp(1)], mapping=WrongKey())
        assert result.is_empty
        assert result.errors[0].field == "uniq_identifier"

    def test_a_failed_read_raises_and_plans_nothing(self) -> None:
        class Failing:
            def list_employees(
                self, *, include_former: bool = False, strict: bool = True
            ) -> Iterator[Employee]:
                yield emp(1)
                raise APIConnectionError("connection reset", url="https://x/api/v3/users")

        with pytest.raises(APIConnectionError):
            lucca_sync.plan(Failing(), MemorySink(target_of([emp(2)])), mapping=MAPPING)

    def test_decode_errors_are_plan_errors_and_their_ids_are_not_suspended(self) -> None:
        class Pager(list[Employee]):
            errors = (
                ResponseDecodeError("bad date", path="items[1].dtContractStart", employee_id=2),
            )
            requests_made = 3

        class Directory:
            def list_employees(
                self, *, include_former: bool = False, strict: bool = True
            ) -> list[Employee]:
                assert include_former
                assert not strict
                return Pager([emp(1)])

        sink = MemorySink(target_of([emp(1), emp(2)]))
        result = lucca_sync.plan(Directory(), sink, mapping=MAPPING, rules=(), today=TODAY)
        assert result.is_empty
        assert [(e.employee_id, e.stage, e.field) for e in result.errors] == [
            (2, "read", "items[1].dtContractStart")
        ]
        assert result.stats.requests_made == 3

    def test_a_decode_error_without_id_holds_back_every_suspension(self) -> None:
        class Pager(list[Employee]):
            errors = (ResponseDecodeError("no id", path="items[4]"),)

        class Directory:
            def list_employees(
                self, *, include_former: bool = False, strict: bool = True
            ) -> list[Employee]:
                return Pager([emp(1), emp(3, contract_end=date(2024, 5, 1))])

        sink = MemorySink(target_of([emp(1), emp(2), emp(3)]))
        result = lucca_sync.plan(Directory(), sink, mapping=MAPPING, rules=(), today=TODAY)
        assert not result.suspensions
        assert any("2 suspension(s) held back" in w for w in result.warnings)
        assert result.errors[0].employee_id is None

    def test_a_sink_listing_a_key_twice_raises(self) -> None:
        class Twice(MemorySink):
            def users(self) -> list[TargetUser]:
                return [TargetUser(key="1"), TargetUser(key="1")]

        with pytest.raises(SinkError, match="twice"):
            make_plan([emp(1)], Twice())

    @pytest.mark.parametrize(
        "options",
        [
            {"on_excluded": "delete"},
            {"manager_fallback": "ceo"},
            {"match_by": "email"},
            {"time_zone": "Mars/Olympus_Mons", "today": None},
        ],
    )
    def test_invalid_options_raise_configuration_error(self, options: dict[str, object]) -> None:
        with pytest.raises(ConfigurationError):
            make_plan([emp(1)], None, **options)

    def test_today_defaults_to_the_date_in_the_time_zone(self) -> None:
        result = lucca_sync.plan([], MemorySink(), mapping=MAPPING, time_zone="Pacific/Kiritimati")
        assert abs((result.today - date.today()).days) <= 1


class TestPlanValue:
    """The plan is an ordered, serialisable value with a stable digest."""

    def people(self) -> list[Employee]:
        return [emp(1), emp(2, manager_id=1), emp(3), emp(4, contract_end=date(2025, 1, 31))]

    def plan_with_everything(self) -> Plan:
        sink = MemorySink(
            [
                *target_of([emp(1, job_title="Avant")]),
                *target_of([emp(4), emp(6)]),
                *target_of([emp(2)], suspended=True),
                TargetUser(key="h", fields={"email": "p5@example.com"}, managed=False),
            ]
        )
        people = [*self.people(), emp(5), emp(7)]
        return make_plan(
            people, sink, rules=(lambda e: "seven" if e.id == 7 else None,), match_by=("email",)
        )

    def test_json_round_trip_keeps_everything_and_the_digest(self) -> None:
        original = self.plan_with_everything()
        assert original.creates
        assert original.updates
        assert original.suspensions
        assert original.reactivations
        assert original.exclusions
        copy = Plan.from_json(original.to_json())
        assert copy == original
        assert copy.digest == original.digest

    def test_a_plan_over_a_safety_limit_keeps_its_digest_through_json(self) -> None:
        """Violations count whole people; JSON must not turn them into a different digest."""
        sink = MemorySink(target_of([emp(n) for n in range(1, 41)]))
        reviewed = make_plan([emp(1)], sink, safety=lucca_sync.Safety.review_only())
        assert reviewed.violations
        assert Plan.from_json(reviewed.to_json()).digest == reviewed.digest

    def test_the_digest_ignores_the_time_of_day_the_plan_was_made(self) -> None:
        first = make_plan(self.people())
        made = first.created_at.astimezone(UTC)
        second = attrs.evolve(first, created_at=made.replace(hour=(made.hour + 6) % 24))
        assert second.created_at.date() == made.date()
        assert first.digest == second.digest

    def test_the_digest_changes_with_the_day_the_plan_is_for(self) -> None:
        assert make_plan(self.people()).digest != (
            make_plan(self.people(), today=date(2025, 3, 11)).digest
        )

    def test_the_digest_changes_with_the_actions(self) -> None:
        assert make_plan(self.people()).digest != make_plan(self.people()[:2]).digest

    def test_an_edited_plan_file_is_refused(self) -> None:
        text = make_plan(self.people()).to_json().replace("p1@example.com", "evil@example.com")
        with pytest.raises(lucca_sync.exceptions.PlanMismatchError):
            Plan.from_json(text)

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "[]",
            '{"format": "other"}',
            '{"format": "lucca_sync.plan", "version": 99}',
            "[" * 100_000 + "]" * 100_000,
        ],
    )
    def test_a_file_that_is_not_a_plan_is_a_configuration_error(self, text: str) -> None:
        with pytest.raises(ConfigurationError):
            Plan.from_json(text)

    def test_a_plan_with_a_wrong_field_lists_the_problem(self) -> None:
        text = make_plan(self.people()).to_json().replace('"depth": 0', '"depth": "deep"', 1)
        with pytest.raises(ConfigurationError, match="depth"):
            Plan.from_json(text)

    def test_is_empty_and_counts(self) -> None:
        result = self.plan_with_everything()
        assert not result.is_empty
        assert result.counts["creates"] == len(result.creates) == 1
        assert result.counts["suspensions"] == 2

    def test_the_summary_names_fields_but_hides_values_by_default(self) -> None:
        text = self.plan_with_everything().summary()
        assert "job_title" in text
        assert "Avant" not in text
        assert "contract ended on 2025-01-31" in text
        shown = self.plan_with_everything().summary(show_values=True)
        assert "'Avant' -> 'Développeur'" in shown

    def test_the_repr_holds_no_field_values(self) -> None:
        result = self.plan_with_everything()
        assert "example.com" not in repr(result)
        assert "example.com" not in repr(result.creates)

    def test_the_plan_does_not_depend_on_the_source_order(self) -> None:
        people = [emp(i, manager_id=(i // 2) or None) for i in range(1, 12)]
        assert make_plan(people).to_json() != ""
        assert make_plan(people).digest == make_plan(list(reversed(people))).digest
