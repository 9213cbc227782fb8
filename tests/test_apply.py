"""apply() and sync(): order, isolation of failures, checks before writing, the report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

import pytest

import lucca_sync
from lucca_sync import Employee, Plan, TargetUser
from lucca_sync.exceptions import PlanMismatchError, SinkError
from lucca_sync.testing import MemorySink

TODAY = date(2025, 3, 10)


def emp(employee_id: int, **fields: object) -> Employee:
    values: dict[str, object] = {
        "first_name": "Zoé",
        "last_name": "Durand",
        "email": f"z{employee_id}@example.com",
        "job_title": "Développeuse",
    }
    values.update(fields)
    return Employee(id=employee_id, **values)  # type: ignore[arg-type]


def make_plan(source: list[Employee], sink: MemorySink, **options: object) -> Plan:
    options.setdefault("rules", ())
    return lucca_sync.plan(source, sink, today=TODAY, **options)  # type: ignore[arg-type]


def synced(people: list[Employee]) -> MemorySink:
    sink = MemorySink()
    lucca_sync.apply(make_plan(people, sink), sink)
    sink.log.clear()
    return sink


class TestOrder:
    """Managers come first, suspensions last, inside one begin/commit batch."""

    def test_creates_follow_the_manager_tree(self) -> None:
        people = [emp(3, manager_id=2), emp(2, manager_id=1), emp(1)]
        sink = MemorySink()
        lucca_sync.apply(make_plan(people, sink), sink)
        assert [(op.name, op.key) for op in sink.log] == [
            ("begin", None),
            ("create", "1"),
            ("create", "2"),
            ("create", "3"),
            ("commit", None),
        ]

    def test_a_reactivated_manager_comes_before_a_created_report(self) -> None:
        sink = MemorySink([TargetUser(key="9", fields={"uniq_identifier": "9"}, suspended=True)])
        lucca_sync.apply(make_plan([emp(9), emp(1, manager_id=9)], sink), sink)
        assert [op.name for op in sink.operations] == ["reactivate", "create"]

    def test_the_kinds_run_adoptions_creates_updates_excludes_suspensions(self) -> None:
        people = [emp(1), emp(2), emp(3), emp(4)]
        sink = synced(people)
        sink.users_by_key["h"] = TargetUser(
            key="h", fields={"email": "z5@example.com"}, managed=False
        )
        changed = [emp(1, job_title="Lead"), emp(2), emp(5), emp(6)]
        result = make_plan(
            changed,
            sink,
            rules=(lambda e: "out" if e.id == 2 else None,),
            match_by=("email",),
        )
        lucca_sync.apply(result, sink)
        assert [(op.name, op.key) for op in sink.operations] == [
            ("update", "h"),
            ("create", "6"),
            ("update", "1"),
            ("exclude", "2"),
            ("suspend", "3"),
            ("suspend", "4"),
        ]
        assert sink.users_by_key["5"].managed
        assert sink.users_by_key["2"].excluded


class TestFailures:
    """Per-record failures are retried, isolated and reported."""

    def test_a_transient_failure_is_retried(self) -> None:
        sink = MemorySink()
        sink.fail_on("create", "2", times=2)
        report = lucca_sync.apply(make_plan([emp(1), emp(2)], sink), sink)
        assert report.ok
        assert [o.attempts for o in report.outcomes] == [1, 3]
        assert set(sink.users_by_key) == {"1", "2"}

    def test_a_persistent_failure_is_one_failed_outcome_and_the_rest_goes_on(self) -> None:
        sink = MemorySink()
        sink.fail_on("create", "1", times=10)
        report = lucca_sync.apply(make_plan([emp(1), emp(2)], sink), sink, retries=1)
        assert [(o.key, o.status, o.attempts) for o in report.failures] == [("1", "failed", 2)]
        assert report.failures[0].error == "injected create failure"
        assert report.counts["create"] == 1
        assert not report.ok
        assert set(sink.users_by_key) == {"2"}

    def test_a_foreign_exception_is_wrapped_and_not_retried(self) -> None:
        sink = MemorySink()
        sink.fail_on("create", "1", times=5, error=KeyError("secret-value"))
        report = lucca_sync.apply(make_plan([emp(1)], sink), sink)
        (failure,) = report.failures
        assert failure.attempts == 1
        assert "KeyError" in (failure.error or "")
        assert "secret-value" not in (failure.error or "")

    def test_a_refusal_at_commit_is_a_failed_outcome(self) -> None:
        sink = MemorySink()
        sink.refuse_on_commit("2", "duplicate e-mail")
        report = lucca_sync.apply(make_plan([emp(1), emp(2)], sink), sink)
        assert [(o.key, o.error) for o in report.failures] == [
            ("2", "refused when committing: duplicate e-mail")
        ]
        assert set(sink.users_by_key) == {"1"}

    def test_a_failing_commit_aborts_and_raises(self) -> None:
        sink = MemorySink()
        sink.fail_commit()
        with pytest.raises(SinkError, match="commit"):
            lucca_sync.apply(make_plan([emp(1)], sink), sink)
        assert sink.log[-1].name == "abort"
        assert not sink.users_by_key

    def test_an_interruption_aborts_the_batch(self) -> None:
        sink = MemorySink()
        sink.fail_on("create", "2", error=KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            lucca_sync.apply(make_plan([emp(1), emp(2)], sink), sink)
        assert sink.log[-1].name == "abort"
        assert not sink.users_by_key

    def test_negative_retries_are_refused(self) -> None:
        sink = MemorySink()
        with pytest.raises(lucca_sync.exceptions.ConfigurationError):
            lucca_sync.apply(make_plan([emp(1)], sink), sink, retries=-1)


class TestChecksBeforeWriting:
    """A plan is applied only if it is the reviewed one and the target did not move."""

    def test_a_wrong_digest_is_refused_before_writing(self) -> None:
        sink = MemorySink()
        with pytest.raises(PlanMismatchError):
            lucca_sync.apply(make_plan([emp(1)], sink), sink, expected_digest="0" * 64)
        assert not sink.log

    def test_the_reviewed_digest_is_applied(self) -> None:
        sink = MemorySink()
        reviewed = make_plan([emp(1)], sink)
        loaded = Plan.from_json(reviewed.to_json())
        report = lucca_sync.apply(loaded, sink, expected_digest=reviewed.digest)
        assert report.counts["create"] == 1

    def test_a_plan_applies_once(self) -> None:
        sink = MemorySink()
        made = make_plan([emp(1)], sink)
        lucca_sync.apply(made, sink)
        with pytest.raises(PlanMismatchError, match="employee 1"):
            lucca_sync.apply(made, sink)

    def test_a_field_changed_in_the_target_since_planning_is_refused(self) -> None:
        sink = synced([emp(1)])
        made = make_plan([emp(1, job_title="Lead")], sink)
        user = sink.users_by_key["1"]
        sink.users_by_key["1"] = TargetUser(key="1", fields={**user.fields, "job_title": "CTO"})
        with pytest.raises(PlanMismatchError, match="job_title"):
            lucca_sync.apply(made, sink)
        assert not sink.operations

    def test_verification_can_be_turned_off(self) -> None:
        sink = MemorySink()
        made = make_plan([emp(1)], sink)
        lucca_sync.apply(made, sink)
        report = lucca_sync.apply(made, sink, verify_target=False)
        assert report.counts["create"] == 1


class TestReport:
    """The report counts outcomes and serialises to JSON."""

    def test_counts_and_json(self) -> None:
        sink = synced([emp(1), emp(2)])
        report = lucca_sync.apply(make_plan([emp(1, job_title="Lead"), emp(3)], sink), sink)
        assert report.counts == {
            "create": 1,
            "update": 1,
            "reactivate": 0,
            "exclude": 0,
            "suspend": 1,
            "failed": 0,
            "errors": 0,
        }
        data = json.loads(report.to_json())
        assert data["counts"]["suspend"] == 1
        assert data["plan"]["digest"] == report.plan.digest
        assert [o["action"] for o in data["outcomes"]] == ["create", "update", "suspend"]
        assert report.duration >= 0
        assert "1 create" in report.summary()

    def test_requests_made_come_from_the_source(self) -> None:
        class Pager(list[Employee]):
            requests_made = 4
            errors: tuple[Exception, ...] = ()

        class Directory:
            def list_employees(
                self, *, include_former: bool = False, strict: bool = True
            ) -> list[Employee]:
                return Pager([emp(1)])

        report = lucca_sync.sync(Directory(), MemorySink(), rules=(), today=TODAY)
        assert report.requests_made == 4


class TestSync:
    """sync() plans then applies, or only plans on a dry run."""

    def test_sync_applies(self) -> None:
        sink = MemorySink()
        report = lucca_sync.sync([emp(1), emp(2)], sink, rules=(), today=TODAY)
        assert report.counts["create"] == 2
        assert set(sink.users_by_key) == {"1", "2"}

    def test_a_dry_run_writes_nothing_and_reports_the_plan(self) -> None:
        sink = MemorySink()
        report = lucca_sync.sync([emp(1)], sink, rules=(), today=TODAY, dry_run=True)
        assert report.dry_run
        assert [c.key for c in report.plan.creates] == ["1"]
        assert not report.outcomes
        assert not sink.log
        assert "dry run" in report.summary()


class TestWithFieldMapping:
    """The default mapping and a create-only mapping behave with apply."""

    def test_apply_then_replan_is_empty_with_the_elevo_default(self) -> None:
        people = [emp(1), emp(2, manager_id=1, department=lucca_sync.Ref(3, "R&D"))]
        sink = MemorySink()
        lucca_sync.apply(make_plan(people, sink), sink)
        assert make_plan(people, sink).is_empty
        fields: Mapping[str, str | None] = sink.users_by_key["2"].fields
        assert fields["department"] == "R&D"
        assert fields["manager_uniq_identifier"] == "1"
