"""Lucca faults on page 2 of a 3-page read, against a target pre-filled with every employee.

The backbone of the matrix ("Done when" of issue 10): 250 employees read 100 per page, a first
run fills the target, the directory then changes (two new titles, a leaver, a hire) and the
second run meets the fault on page 2. Recoverable faults must give exactly the result of a run
without fault; the others must raise their typed error with the target untouched — zero
suspensions, zero partial files — and the next run must converge.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fake_clock import FakeClock
from lucca_sync import exceptions
from lucca_sync.exceptions import LuccaSyncError
from lucca_sync.testing import FakeLucca, make_lucca_user

from ._support import (
    COMPANY_SIZE,
    PAGE_OFFSETS,
    TODAY,
    OnPage,
    State,
    change_directory,
    company,
    employee_id,
    expected_state,
    paging_offset,
    run_sync,
    state_of,
)
from .conftest import Target
from .matrix import LUCCA, LUCCA_DIRECTORY, Case, cases_for

#: A hire slotted between two ids of page 1 while page 2 is being requested.
LATE_HIRE = employee_id(50) + 1


def _late_hire(fake: FakeLucca) -> None:
    fake.add_user(
        make_lucca_user(
            id=LATE_HIRE,
            firstName="Inès",
            lastName="Late",
            mail="ines.late@acme.example",
            jobTitle="Buyer",
            dtContractStart="2025-01-13T00:00:00",
            dtContractEnd=None,
            manager=employee_id(2),
        )
    )


def _delete_next() -> Callable[[FakeLucca], None]:
    removed = iter(range(20, 40))
    return lambda fake: fake.remove_user(employee_id(next(removed)))


def _burst(fake: FakeLucca) -> None:
    for status in (500, 502, 503, 504):
        fake.fail_next(status)


INJECT: dict[str, Callable[[FakeLucca], None]] = {
    "429-storm-retry-after": lambda fake: fake.fail_next(429, retry_after=30, times=4),
    "429-storm-no-retry-after": lambda fake: fake.fail_next(429, times=4),
    "429-never-stops": lambda fake: fake.fail_next(429, retry_after=1, times=100),
    "5xx-burst": _burst,
    "5xx-never-stops": lambda fake: fake.fail_next(503, times=100),
    "connection-reset": lambda fake: fake.reset_next(times=2),
    "connection-reset-never-stops": lambda fake: fake.reset_next(times=100),
    "read-timeout": lambda fake: fake.delay_next(0.75),
    "read-timeout-never-stops": lambda fake: fake.delay_next(0.75, times=100),
    "truncated-body": lambda fake: fake.truncate_next(),
    "truncated-body-never-stops": lambda fake: fake.truncate_next(times=100),
    "invalid-json": lambda fake: fake.invalid_json_next(),
    "malformed-envelope": lambda fake: fake.fail_next(200, body={"data": {"items": "none"}}),
    "401-mid-run": lambda fake: fake.fail_next(401, body={"Message": "Unauthorized"}),
    "403-mid-run": lambda fake: fake.fail_next(403),
    "employee-removed-while-paging": lambda fake: fake.remove_user(employee_id(20)),
    "duplicate-ids-across-pages": _late_hire,
    "page-missing-rows": lambda fake: fake.short_page_next(5),
    "paging-offset-ignored": lambda fake: fake.ignore_paging_next(),
}
#: Faults injected again on every request for page 2 (a fresh closure per test).
EVERY: dict[str, Callable[[], Callable[[FakeLucca], None]]] = {
    "rows-keep-shifting": _delete_next,
    "page-missing-rows-never-stops": lambda: lambda fake: fake.short_page_next(5),
}
#: Reader options of some cases (read timeouts need a short timeout to stay fast).
OPTIONS: dict[str, dict[str, object]] = {
    "read-timeout": {"timeout": 0.25},
    "read-timeout-never-stops": {"timeout": 0.25, "retries": 2},
}
#: Requests for page 2 a recovering run sends (first attempt + retries).
PAGE_TWO_REQUESTS = {
    "429-storm-retry-after": 5,
    "429-storm-no-retry-after": 5,
    "5xx-burst": 5,
    "connection-reset": 3,
    "read-timeout": 2,
    "truncated-body": 2,
    "page-missing-rows": 2,
}


def list_requests(fake: FakeLucca) -> list[int | None]:
    """Offsets of the list requests FakeLucca answered (retries included)."""
    return [offset for r in fake.requests if (offset := paging_offset(r)) is not None]


def prefill(fake: FakeLucca, target: Target, clock: FakeClock) -> State:
    """The first run: every employee becomes an active user of the target."""
    report = run_sync(fake, target.sink, clock)
    assert report.ok
    before = state_of(target.sink)
    assert len(before) == COMPANY_SIZE
    assert all(active for active, _ in before.values())
    return before


def suspended_keys(before: State, after: State) -> set[str]:
    return {key for key, (active, _) in after.items() if not active and before[key][0]}


class TestFaultsOnPageTwo:
    """Each Lucca fault on page 2 of 3: recovered completely, or stopped with nothing written."""

    def test_every_fault_of_the_matrix_has_an_injection(self) -> None:
        assert {case.id for case in cases_for(LUCCA)} == set(INJECT) | set(EVERY)

    @pytest.mark.parametrize("case", cases_for(LUCCA), ids=lambda case: case.id)
    def test_fault(self, case: Case, target: Target, clock: FakeClock) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            assert list_requests(fake) == []
            before = prefill(fake, target, clock)
            assert list_requests(fake) == list(PAGE_OFFSETS)
            change_directory(fake)
            fake.clear_requests()
            inject = EVERY[case.id]() if case.id in EVERY else INJECT[case.id]
            hook = OnPage(fake, inject, every=case.id in EVERY)
            fake.before_response = hook
            listed_before = fake.users
            target.mark()
            options = OPTIONS.get(case.id, {})
            if case.recoverable:
                report = run_sync(fake, target.sink, clock, **options)
                assert hook.fired == 1
                assert report.ok
                self.check_recovered(case, fake, target, before, listed_before)
                if case.id in PAGE_TWO_REQUESTS:
                    assert hook.requests_for_page() == PAGE_TWO_REQUESTS[case.id]
                if case.id == "429-storm-retry-after":
                    assert [wait for wait in clock.sleeps if wait == 30] == [30] * 4
            else:
                assert case.error is not None
                with pytest.raises(LuccaSyncError) as raised:
                    run_sync(fake, target.sink, clock, **options)
                assert type(raised.value) is getattr(exceptions, case.error)
                assert hook.fired >= 1
                target.assert_unchanged()
            # The next run, without the fault, converges (and a third changes nothing).
            fake.before_response = None
            fake.clear_faults()
            report = run_sync(fake, target.sink, clock)
            assert report.ok
            expected = expected_state(fake.users, before)
            assert state_of(target.sink) == expected
            target.assert_file_matches(expected)
            assert run_sync(fake, target.sink, clock).plan.is_empty

    @staticmethod
    def check_recovered(
        case: Case,
        fake: FakeLucca,
        target: Target,
        before: State,
        listed_before: list[dict[str, object]],
    ) -> None:
        """The run saw the directory as it was when the run started: nobody missed or doubled.

        A row deleted or added while paging is a change after the read began: its effect
        (a suspension, a creation) belongs to the next run, which the caller checks.
        """
        expected = expected_state(listed_before, before)
        after = state_of(target.sink)
        assert after == expected
        target.assert_file_matches(expected)
        assert suspended_keys(before, after) == {str(employee_id(150))}  # the leaver only
        if case.id == "employee-removed-while-paging":
            # The overlap row went missing: the read restarted from page 1.
            assert list_requests(fake) == [0, 99, 0, 99, 198]
            assert str(employee_id(20)) not in {str(user["id"]) for user in fake.users}
        if case.id == "page-missing-rows":
            # Page 2 ended the pass 5 rows short of Lucca's count: read again from page 1.
            assert list_requests(fake) == [0, 99, 0, 99, 198]
        if case.id == "duplicate-ids-across-pages":
            # Page 2 repeated the last row of page 1 (and the overlap row): counted once, no
            # restart; the hire slotted into page 1 is for the next run.
            assert list_requests(fake) == [0, 99, 198]
            assert str(LATE_HIRE) not in after
            assert LATE_HIRE in {user["id"] for user in fake.users}
            assert after[str(employee_id(COMPANY_SIZE + 10))] == (True, "Intern")


class TestDirectoryFaults:
    """A directory that reads empty or short is never taken for mass departures."""

    @pytest.mark.parametrize("case", cases_for(LUCCA_DIRECTORY), ids=lambda case: case.id)
    def test_fault(self, case: Case, target: Target, clock: FakeClock) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            before = prefill(fake, target, clock)
            hidden = fake.users if case.id == "empty-directory" else fake.users[100:]
            for user in hidden:
                fake.remove_user(user["id"])
            target.mark()
            with pytest.raises(LuccaSyncError) as raised:
                run_sync(fake, target.sink, clock)
            assert type(raised.value) is getattr(exceptions, str(case.error))
            target.assert_unchanged()
            for user in hidden:  # the rights are back
                fake.add_user(user)
            assert run_sync(fake, target.sink, clock).plan.is_empty
            assert state_of(target.sink) == before

    def test_empty_directory_and_empty_target_is_a_quiet_run(
        self, target: Target, clock: FakeClock
    ) -> None:
        with FakeLucca(today=TODAY) as fake:
            report = run_sync(fake, target.sink, clock)
        assert report.plan.is_empty
        assert report.ok
        assert state_of(target.sink) == {}
