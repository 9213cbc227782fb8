"""Safety limits: mass suspensions, short and empty reads, approving a reviewed plan."""

from __future__ import annotations

from datetime import date

import pytest

import lucca_sync
from lucca_sync import Employee, Safety, TargetUser
from lucca_sync.exceptions import ConfigurationError, SafetyError
from lucca_sync.testing import MemorySink

TODAY = date(2025, 3, 10)


def emp(employee_id: int, **fields: object) -> Employee:
    return Employee(
        id=employee_id,
        first_name="Zoé",
        last_name="Durand",
        email=f"z{employee_id}@example.com",
        **fields,  # type: ignore[arg-type]
    )


def company(n: int) -> list[Employee]:
    return [emp(i) for i in range(1, n + 1)]


def with_leavers(n: int, leavers: int) -> list[Employee]:
    """``n`` employees whose last ``leavers`` left before TODAY (explained departures)."""
    left = date(2025, 3, 1)
    return [emp(i, contract_end=left) if i > n - leavers else emp(i) for i in range(1, n + 1)]


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
        assert len(plan(with_leavers(40, 10), sink).suspensions) == 10

    def test_eleven_suspensions_trip_the_default_with_the_numbers(self) -> None:
        sink = synced_sink(company(40))
        with pytest.raises(SafetyError) as caught:
            plan(with_leavers(40, 11), sink)
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
            lucca_sync.sync(with_leavers(40, 20), sink, rules=(), today=TODAY)
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


class TestNotVisible:
    """Users Lucca stops returning, with no contract end, look like lost rights: few pass."""

    def test_five_vanished_users_are_suspended(self) -> None:
        sink = synced_sink(company(40))
        result = plan(company(35), sink)
        assert [s.reason.startswith("no longer visible") for s in result.suspensions] == [True] * 5

    def test_six_vanished_users_trip_their_own_limit_with_the_numbers(self) -> None:
        sink = synced_sink(company(40))
        with pytest.raises(SafetyError) as caught:
            plan(company(34), sink)
        assert (caught.value.limit, caught.value.observed, caught.value.allowed) == (
            "max_not_visible",
            6,
            5,
        )

    def test_leavers_do_not_count_as_vanished(self) -> None:
        sink = synced_sink(company(40))
        assert len(plan(with_leavers(40, 8), sink).suspensions) == 8

    def test_leavers_do_not_make_a_read_look_short(self) -> None:
        """Three of four people left: explained departures, not a short read."""
        sink = synced_sink(company(4))
        result = plan(with_leavers(4, 3), sink)
        assert [s.reason for s in result.suspensions] == ["contract ended on 2025-03-01"] * 3

    def test_former_employees_do_not_make_a_short_read_look_complete(self) -> None:
        """40 current employees and 60 long-gone ones is a read of 40 for a target of 100."""
        sink = synced_sink(company(100))
        gone = [emp(i, contract_end=date(2024, 1, 1)) for i in range(101, 161)]
        source = [*company(40), *gone]
        with pytest.raises(SafetyError) as caught:
            plan(source, sink, safety=Safety(max_suspensions=1000))
        assert caught.value.limit == "min_source_ratio"
        assert caught.value.observed == 0.4


class TestHiddenSkipFlag:
    """Excluded users do not flood back when the check box vanishes from every employee."""

    def excluded_target(self) -> MemorySink:
        """Ten users synced; 3 of them since marked excluded by the check box."""
        sink = synced_sink(company(10))
        ticked = [emp(i, extended_data={"e_skip_elevo_sync": i <= 3}) for i in range(1, 11)]
        lucca_sync.apply(plan(ticked, sink, rules=lucca_sync.DEFAULT_RULES), sink)
        assert sum(user.excluded for user in sink.users()) == 3
        return sink

    def test_returns_without_any_visible_check_box_trip_the_limit(self) -> None:
        sink = self.excluded_target()
        with pytest.raises(SafetyError) as caught:
            plan(company(10), sink, rules=lucca_sync.DEFAULT_RULES)
        assert (caught.value.limit, caught.value.observed) == ("hidden_skip_flag", 3)

    def test_unticking_a_visible_check_box_brings_users_back(self) -> None:
        sink = self.excluded_target()
        unticked = [emp(i, extended_data={"e_skip_elevo_sync": False}) for i in range(1, 11)]
        result = plan(unticked, sink, rules=lucca_sync.DEFAULT_RULES)
        assert sorted(u.key for u in result.updates if u.reason == "back in scope") == [
            "1",
            "2",
            "3",
        ]

    def test_a_check_box_seen_on_nobody_is_reported(self) -> None:
        result = plan(company(3), MemorySink(), rules=lucca_sync.DEFAULT_RULES)
        assert any("e_skip_elevo_sync appears on no employee" in w for w in result.warnings)


class TestApproval:
    """A reviewed plan that trips a limit passes only under its own digest."""

    def test_review_only_records_violations_instead_of_raising(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(with_leavers(40, 20), sink, safety=Safety.review_only())
        assert [v.limit for v in reviewed.violations] == ["max_suspensions"]
        assert "SAFETY" in reviewed.summary()

    def test_the_error_message_gives_the_digest_to_approve(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(with_leavers(40, 20), sink, safety=Safety.review_only())
        with pytest.raises(SafetyError, match=reviewed.digest):
            plan(with_leavers(40, 20), sink)

    def test_allow_reviewed_lets_exactly_that_plan_through(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(with_leavers(40, 20), sink, safety=Safety.review_only())
        approved = plan(with_leavers(40, 20), sink, safety=Safety.allow_reviewed(reviewed.digest))
        assert approved.digest == reviewed.digest
        with pytest.raises(SafetyError):
            plan(with_leavers(40, 21), sink, safety=Safety.allow_reviewed(reviewed.digest))

    def test_apply_refuses_a_violating_plan_without_its_digest(self) -> None:
        sink = synced_sink(company(40))
        reviewed = plan(with_leavers(40, 20), sink, safety=Safety.review_only())
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
