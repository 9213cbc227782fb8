"""Safety limits: mass suspensions, short and empty reads, approving a reviewed plan."""

from __future__ import annotations

from datetime import date

import pytest

import lucca_sync
from lucca_sync import Employee, Safety, TargetUser
from lucca_sync.exceptions import ConfigurationError, SafetyError
from lucca_sync.testing import MemorySink

TODAY = date(2025, 3, 10)


def emp(employee_id: int) -> Employee:
    return Employee(
        id=employee_id, first_name="Zoé", last_name="Durand", email=f"z{employee_id}@example.com"
    )


def company(n: int) -> list[Employee]:
    return [emp(i) for i in range(1, n + 1)]


def synced_sink(employees: list[Employee]) -> MemorySink:
    sink = MemorySink()
    lucca_sync.apply(lucca_sync.plan(employees, sink, rules=(), today=TODAY), sink)
    return sink


def plan(source: list[Employee], sink: MemorySink, **options: object) -> lucca_sync.Plan:
    options.setdefault("rules", ())
    return lucca_sync.plan(source, sink, today=TODAY, **options)  # type: ignore[arg-type]


class TestSuspensionLimit:
    """At most max(10, 5 % of managed active users) suspensions by default."""

    def test_the_default_allows_ten_suspensions_in_a_small_company(self) -> None:
        sink = synced_sink(company(40))
        assert len(plan(company(30), sink).suspensions) == 10

    def test_eleven_suspensions_trip_the_default_with_the_numbers(self) -> None:
        sink = synced_sink(company(40))
        with pytest.raises(SafetyError) as caught:
            plan(company(29), sink)
        assert (caught.value.limit, caught.value.observed, caught.value.allowed) == (
            "max_suspensions",
            11,
            10,
        )
        assert "11" in str(caught.value)
        assert "10" in str(caught.value)

    def test_the_ratio_wins_in_a_large_company(self) -> None:
        safety = Safety(max_suspensions=1, max_suspension_ratio=0.1)
        assert safety.suspension_limit(1000) == 100
        assert safety.suspension_limit(5) == 1

    def test_nothing_is_written_when_the_limit_trips(self) -> None:
        sink = synced_sink(company(40))
        before = dict(sink.users_by_key)
        with pytest.raises(SafetyError):
            lucca_sync.sync(company(20), sink, rules=(), today=TODAY)
        assert sink.users_by_key == before

    def test_on_excluded_suspend_counts_against_the_limit(self) -> None:
        sink = synced_sink(company(20))
        with pytest.raises(SafetyError, match="suspends 15"):
            lucca_sync.plan(
                company(20),
                sink,
                rules=(lambda e: "out" if e.id > 5 else None,),
                on_excluded="suspend",
                today=TODAY,
            )


class TestShortRead:
    """A read far smaller than the managed population is refused."""

    def test_reading_under_half_the_managed_users_trips(self) -> None:
        sink = synced_sink(company(100))
        with pytest.raises(SafetyError) as caught:
            plan(company(40), sink, safety=Safety(max_suspensions=1000))
        assert caught.value.limit == "min_source_ratio"
        assert caught.value.observed == 0.4
        assert caught.value.allowed == 0.5

    def test_excluded_employees_still_count_as_read(self) -> None:
        sink = synced_sink(company(10))
        result = plan(company(10), sink, rules=(lambda e: "out" if e.id > 3 else None,))
        assert len(result.excludes) == 7

    def test_reading_nobody_with_a_managed_target_trips(self) -> None:
        sink = synced_sink(company(3))
        with pytest.raises(SafetyError) as caught:
            plan([], sink)
        assert caught.value.limit == "empty_source"

    def test_an_empty_read_can_be_allowed_explicitly(self) -> None:
        sink = synced_sink(company(3))
        result = plan([], sink, safety=Safety(allow_empty_source=True, min_source_ratio=0))
        assert len(result.suspensions) == 3

    def test_an_empty_read_with_an_empty_target_is_fine(self) -> None:
        assert plan([], MemorySink()).is_empty

    def test_unmanaged_users_do_not_count_as_the_population(self) -> None:
        sink = MemorySink([TargetUser(key=str(i), managed=False) for i in range(100, 200)])
        assert plan(company(2), sink).creates


class TestApproval:
    """A reviewed plan that trips a limit passes only under its own digest."""

    def test_review_only_records_violations_instead_of_raising(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(company(20), sink, safety=Safety.review_only())
        assert [v.limit for v in reviewed.violations] == ["max_suspensions"]
        assert "SAFETY" in reviewed.summary()

    def test_the_error_message_gives_the_digest_to_approve(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(company(20), sink, safety=Safety.review_only())
        with pytest.raises(SafetyError, match=reviewed.digest):
            plan(company(20), sink)

    def test_allow_reviewed_lets_exactly_that_plan_through(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(company(20), sink, safety=Safety.review_only())
        approved = plan(company(20), sink, safety=Safety.allow_reviewed(reviewed.digest))
        assert approved.digest == reviewed.digest
        with pytest.raises(SafetyError):
            plan(company(19), sink, safety=Safety.allow_reviewed(reviewed.digest))

    def test_apply_refuses_a_violating_plan_without_its_digest(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(company(20), sink, safety=Safety.review_only())
        with pytest.raises(SafetyError):
            lucca_sync.apply(reviewed, sink)
        assert not any(u.suspended for u in sink.users())
        report = lucca_sync.apply(reviewed, sink, expected_digest=reviewed.digest)
        assert report.counts["suspend"] == 20

    def test_sync_with_an_approved_digest_applies_it(self) -> None:
        sink = synced_sink(company(40))
        digest = plan(company(20), sink, safety=Safety.review_only()).digest
        report = lucca_sync.sync(
            company(20), sink, rules=(), today=TODAY, safety=Safety.allow_reviewed(digest)
        )
        assert report.counts["suspend"] == 20


class TestConfiguration:
    """Limits are validated when built."""

    @pytest.mark.parametrize(
        "options",
        [{"max_suspensions": -1}, {"max_suspension_ratio": 1.5}, {"min_source_ratio": -0.1}],
    )
    def test_invalid_limits_raise(self, options: dict[str, float]) -> None:
        with pytest.raises(ConfigurationError):
            Safety(**options)  # type: ignore[arg-type]
