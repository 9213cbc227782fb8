"""plan() finds everything the Elevo file would refuse, for exactly the employees at fault."""

from __future__ import annotations

import csv
import io
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lucca_sync
from lucca_sync import Employee, Plan, TargetUser
from lucca_sync.elevo import ElevoSink
from lucca_sync.testing import FakeLucca, MemorySink, generate_company

TODAY = date(2025, 3, 10)


def review(*args: Any, **options: Any) -> lucca_sync.Plan:
    """``plan()``, except that a new account's first publication is left for approval."""
    made = lucca_sync.plan(*args, safety=lucca_sync.Safety.review_only(), **options)
    others = tuple(v for v in made.violations if v.limit != "first_publication")
    lucca_sync.Safety().check(attrs.evolve(made, violations=others))  # the other limits stop
    return made


def approve(people: list[Employee], sink: ElevoSink) -> None:
    """Plan and apply ``people`` by the reviewed plan's digest (a first publication)."""
    made = review(people, sink, rules=(), today=TODAY)
    assert lucca_sync.apply(made, sink, expected_digest=made.digest).ok


def elevo(folder: Path) -> ElevoSink:
    drop = folder / "drop"
    drop.mkdir(exist_ok=True)
    return ElevoSink.to_directory(drop, state_dir=folder / "state")


def published(folder: Path) -> dict[str, dict[str, str]]:
    text = (folder / "drop" / "users.csv").read_text(encoding="utf-8")
    return {row["uniq_identifier"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}


def target_errors(plan: Plan) -> dict[int | None, str | None]:
    return {error.employee_id: error.field for error in plan.errors if error.stage == "target"}


def managers_with_reports(users: list[dict[str, object]]) -> list[int]:
    """Active employees with a manager and reports, no exclusion flag, no contract end."""
    managed = {user["managerId"] for user in users}
    return [
        int(str(user["id"]))
        for user in users
        if user["id"] in managed
        and user["managerId"] is not None
        and user["dtContractEnd"] is None
        and not user["extendedData"]
    ]


@pytest.fixture
def company() -> list[dict[str, object]]:
    return generate_company(300, seed=11, today=TODAY)


@pytest.fixture
def fake(company: list[dict[str, object]]) -> Iterator[FakeLucca]:
    with FakeLucca(company, today=TODAY) as server:
        yield server


class TestSharedEmailInAFirstSync:
    """Two employees sharing an e-mail are the only errors; everyone else is published."""

    def test_only_the_two_are_errors_and_their_reports_are_published(
        self, tmp_path: Path, fake: FakeLucca, company: list[dict[str, object]]
    ) -> None:
        first, second = managers_with_reports(company)[:2]
        # The same address, once precomposed and lower-case, once decomposed and upper-case.
        fake.update_user(first, mail="zoé.martin@acme.example")
        fake.update_user(second, mail=unicodedata.normalize("NFD", "ZOÉ.MARTIN@ACME.EXAMPLE"))
        directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
        sink = elevo(tmp_path)

        made = review(directory, sink, today=TODAY)

        assert target_errors(made) == {first: "email", second: "email"}
        created = {create.employee_id for create in made.creates}
        assert not {first, second} & created
        reports = {int(str(u["id"])) for u in company if u["managerId"] in (first, second)}
        assert reports <= created
        report = lucca_sync.apply(made, sink, expected_digest=made.digest)
        assert report.failures == ()
        rows = published(tmp_path)
        assert set(rows) == {str(employee_id) for employee_id in created}
        for report_id in reports:
            manager = rows[str(report_id)]["manager_uniq_identifier"]
            assert manager not in ("", str(first), str(second))
            assert manager in rows

    def test_the_reports_are_attached_to_nothing_with_the_empty_fallback(
        self, tmp_path: Path, fake: FakeLucca, company: list[dict[str, object]]
    ) -> None:
        first, second = managers_with_reports(company)[:2]
        address = next(str(user["mail"]) for user in company if user["id"] == first)
        fake.update_user(second, mail=address.upper())
        directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
        made = review(directory, elevo(tmp_path), today=TODAY, manager_fallback="empty")
        assert set(target_errors(made)) == {first, second}
        reports = [c for c in made.creates if c.employee_id in self.reports_of(company, first)]
        assert reports
        assert all(c.fields["manager_uniq_identifier"] is None for c in reports)

    @staticmethod
    def reports_of(company: list[dict[str, object]], manager: int) -> set[int]:
        return {int(str(u["id"])) for u in company if u["managerId"] == manager}


class TestOtherRefusalsFoundWhilePlanning:
    """Registration numbers, usernames, values and newcomers are checked as the file will be."""

    def test_a_shared_registration_number_is_an_error_of_the_newcomer(self, tmp_path: Path) -> None:
        sink = elevo(tmp_path)
        people = [person(1), person(2)]
        approve(people, sink)
        newcomer = person(3, employee_number=" 00001 ")  # employee 1's number, with spaces
        made = review([*people, newcomer], sink, rules=(), today=TODAY)
        assert target_errors(made) == {3: "registration_number"}
        assert lucca_sync.apply(made, sink, expected_digest=made.digest).failures == ()

    def test_an_address_held_by_a_suspended_user_is_refused_to_a_newcomer(
        self, tmp_path: Path
    ) -> None:
        sink = elevo(tmp_path)
        approve([person(1), person(2)], sink)
        gone = person(2, contract_end=date(2025, 3, 1))
        made = review(
            [person(1), gone, person(3, email="P2@Acme.Example")], sink, rules=(), today=TODAY
        )
        assert [s.key for s in made.suspensions] == ["2"]
        assert target_errors(made) == {3: "email"}

    def test_a_value_elevo_refuses_is_found_by_the_sink_whatever_the_mapping(
        self, tmp_path: Path
    ) -> None:
        made = review(
            [person(1), person(2)], elevo(tmp_path), rules=(), mapping=FullTime(), today=TODAY
        )
        assert target_errors(made) == {1: "working_time_ratio"}
        assert [create.key for create in made.creates] == ["2"]

    def test_a_sink_that_refuses_nothing_changes_nothing(self) -> None:
        made = review([person(1), person(2, email="p1@acme.example")], MemorySink())
        assert not made.errors


class PredictingSink(MemorySink):
    """A MemorySink whose ``check_plan`` says it would refuse the current record of ``key``."""

    def __init__(self, users: list[TargetUser], key: str) -> None:
        super().__init__(users)
        self.key = key

    def check_plan(self, plan: Plan) -> dict[str, str]:
        return {self.key: "its manager is gone"}


class TestApplyOnUntouchedRefusals:
    """A refusal at commit of a user the plan does not touch: expected if the plan warned."""

    @staticmethod
    def _apply(sink: MemorySink) -> tuple[Plan, tuple[str, ...]]:
        made = lucca_sync.plan([person(1)], sink, rules=(), today=TODAY)
        sink.refuse_on_commit("7", "its manager is gone")
        report = lucca_sync.apply(made, sink, expected_digest=made.digest)
        return made, report.warnings[len(made.warnings) :]

    def test_a_refusal_the_plan_warned_of_is_reported_as_expected(self) -> None:
        made, applied = self._apply(PredictingSink([TargetUser("7", {}, managed=False)], "7"))
        assert made.warnings == (
            "target user 7: the target would refuse its current record (its manager is gone); "
            "it is left as it is",
        )
        assert applied == (
            "key 7 was left as it is, as the plan warned: the sink refused its current record "
            "(its manager is gone)",
        )

    def test_a_refusal_the_plan_did_not_warn_of_is_a_surprise(self) -> None:
        made, applied = self._apply(MemorySink([TargetUser("7", {}, managed=False)]))
        assert made.warnings == ()
        assert applied == (
            "the sink refused key 7 that the plan did not touch: its manager is gone",
        )

    def test_a_warning_for_another_key_does_not_make_a_refusal_expected(self) -> None:
        users = [TargetUser("7", {}, managed=False), TargetUser("77", {}, managed=False)]
        _, applied = self._apply(PredictingSink(users, "77"))
        assert applied == (
            "the sink refused key 7 that the plan did not touch: its manager is gone",
        )

    def test_on_the_elevo_file_a_report_whose_manager_leaves_is_an_expected_refusal(
        self, tmp_path: Path
    ) -> None:
        sink = elevo(tmp_path)
        first = [
            person(1, email="léa@acme.example", employee_number="N1", manager_id=2),
            person(2, email="ana@acme.example", employee_number="A1"),
        ]
        approve(first, sink)
        # 1 takes the address of 2, who leaves: 1 is an error; its current row names 2.
        made = review(
            [person(1, email="ana@acme.example", employee_number="A1")], sink, rules=(), today=TODAY
        )
        report = lucca_sync.apply(made, sink, expected_digest=made.digest)
        assert [w.split(":", 1)[0] for w in report.warnings] == [
            "target user 1",
            "key 1 was left as it is, as the plan warned",
        ]


class TestLineBreaks:
    """A value with a line break of any kind is an error: every reader sees one line per user."""

    @pytest.mark.parametrize("separator", ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\x0b"])
    def test_a_job_title_with_a_line_break_is_an_error_and_the_file_stays_one_line_per_user(
        self, tmp_path: Path, separator: str
    ) -> None:
        people = [person(1), person(2, job_title=f"Chargée{separator}de paie"), person(3)]
        sink = elevo(tmp_path)
        made = review(people, sink, rules=(), today=TODAY)
        assert target_errors(made) == {2: "job_title"}
        assert "line" in made.errors[0].message
        assert lucca_sync.apply(made, sink, expected_digest=made.digest).failures == ()
        text = (tmp_path / "drop" / "users.csv").read_bytes().decode("utf-8")
        by_csv = list(csv.reader(io.StringIO(text, newline="")))
        by_lines = [line.split(",") for line in text.splitlines()]
        assert len(by_csv) == len(by_lines) == 3  # the header, then employees 1 and 3
        assert [row[0] for row in by_csv[1:]] == [row[0] for row in by_lines[1:]] == ["1", "3"]


class FullTime:
    """A hand-written mapping (no FieldMapping checks): employee 1 works 120 %."""

    create_only: frozenset[str] = frozenset()

    def map(self, employee: Employee) -> dict[str, str | None]:
        return {
            "uniq_identifier": str(employee.id),
            "email": employee.email,
            "working_time_ratio": "120" if employee.id == 1 else "100",
        }


def person(employee_id: int, **fields: object) -> Employee:
    values: dict[str, object] = {
        "first_name": "Prénom",
        "last_name": f"Nom{employee_id}",
        "email": f"p{employee_id}@acme.example",
        "employee_number": f"{employee_id:05d}",
        "job_title": "Comptable",
    }
    values.update(fields)
    return Employee(id=employee_id, **values)  # type: ignore[arg-type]


# -- the property -------------------------------------------------------------------------------

_ADDRESSES = ("ana@acme.example", "ANA@acme.example", "léa@acme.example", "le\u0301a@acme.example")
_TITLES = ("Comptable", "Chef\u2028de projet", "Dev\nback", "RH")


@st.composite
def companies(draw: st.DrawFn) -> list[Employee]:
    size = draw(st.integers(min_value=1, max_value=14))
    people = []
    for employee_id in range(1, size + 1):
        manager = draw(st.none() | st.integers(min_value=1, max_value=size))
        people.append(
            Employee(
                id=employee_id,
                first_name="Prénom",
                last_name=f"Nom{employee_id}",
                email=draw(st.sampled_from((*_ADDRESSES, f"u{employee_id}@acme.example"))),
                employee_number=draw(st.sampled_from(("A1", "a1", f"N{employee_id}", None))),
                job_title=draw(st.sampled_from(_TITLES)),
                manager_id=manager,
            )
        )
    return people


class TestProperty:
    """Any plan applies to the Elevo file without a refusal it did not show, run after run."""

    @example(  # the next read is a third of the last file: a short read, for review
        first=[
            person(1, email="u1@acme.example", employee_number="N1"),
            person(2, email="ana@acme.example", employee_number="A1"),
            person(3, email="léa@acme.example", employee_number="N3"),
        ],
        then=[person(1, email="ana@acme.example", employee_number="A1")],
    )
    @example(  # 2 leaves, holding the address 1 now has: 1 is an error and its row a skip row
        first=[
            person(1, email="léa@acme.example", employee_number="N1", manager_id=2),
            person(2, email="ana@acme.example", employee_number="A1"),
        ],
        then=[person(1, email="ana@acme.example", employee_number="A1")],
    )
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(first=companies(), then=companies())
    def test_a_plan_applies_without_a_row_error(
        self, first: list[Employee], then: list[Employee]
    ) -> None:
        with tempfile.TemporaryDirectory() as folder:
            sink = elevo(Path(folder))
            for people in (first, then):
                # Reviewed, then applied by its digest: ``then`` may be a short read of
                # ``first`` or suspend most of it, which the safety limits rightly stop.
                made = lucca_sync.plan(
                    people, sink, safety=lucca_sync.Safety.review_only(), rules=(), today=TODAY
                )
                report = lucca_sync.apply(made, sink, expected_digest=made.digest)
                assert report.failures == ()
                # The file refuses only the current records of untouched users the plan named,
                # and apply says that the plan warned of each.
                assert report.warnings[: len(made.warnings)] == made.warnings
                shown = set(keys_after("target user ", made.warnings))
                applied = report.warnings[len(made.warnings) :]
                assert keys_after("the sink refused key ", applied) == []
                refused = keys_after("key ", applied)
                assert len(refused) == len(applied)
                assert set(refused) <= shown
                kept = {e.id for e in people} - {e.employee_id for e in made.errors}
                rows = published(Path(folder)) if kept else {}
                full = {key for key, row in rows.items() if row.get("skip") != "true"}
                assert {str(employee_id) for employee_id in kept} <= full


def keys_after(prefix: str, warnings: tuple[str, ...]) -> list[str]:
    """The user keys that warnings starting with ``prefix`` name (the word after it)."""
    return [
        w.removeprefix(prefix).split(" ", 1)[0].rstrip(":")
        for w in warnings
        if w.startswith(prefix)
    ]
