"""The pytest plugin's fixtures: a fake Lucca and a directory that never really sleep."""

from __future__ import annotations

import time

import pytest

from lucca_sync import LuccaDirectory
from lucca_sync.testing import FakeClock, FakeLucca, make_lucca_user


def _no_real_sleep(seconds: float) -> None:
    raise AssertionError(f"time.sleep({seconds!r}) was called: the fixtures must not wait")


@pytest.fixture
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", _no_real_sleep)


@pytest.mark.usefixtures("no_real_sleep")
class TestFixturesWaitOnTheFakeClock:
    """lucca_directory retries and paces on fake_clock: no real sleeping, the waits are seen."""

    def test_a_retry_after_of_twenty_seconds_passes_on_the_fake_clock(
        self, fake_lucca: FakeLucca, lucca_directory: LuccaDirectory, fake_clock: FakeClock
    ) -> None:
        fake_lucca.add_user(make_lucca_user(id=1))
        fake_lucca.fail_next(429, retry_after=20)
        started = fake_clock()
        assert [e.id for e in lucca_directory.list_employees()] == [1]
        assert fake_clock.sleeps == [20]
        assert fake_clock() - started == 20
        assert [r.status for r in fake_lucca.requests] == [429, 200]

    def test_pacing_past_fifty_requests_a_minute_waits_on_the_fake_clock(
        self, fake_lucca: FakeLucca, lucca_directory: LuccaDirectory, fake_clock: FakeClock
    ) -> None:
        fake_lucca.add_user(make_lucca_user(id=1))
        for _ in range(51):
            lucca_directory.get_employee(1)
        assert len(fake_lucca.requests) == 51
        assert 0 < fake_clock.slept <= 60

    def test_the_fake_server_counts_its_rate_limit_on_the_same_clock(
        self, fake_lucca: FakeLucca, lucca_directory: LuccaDirectory, fake_clock: FakeClock
    ) -> None:
        fake_lucca.add_user(make_lucca_user(id=1))
        fake_lucca.rate_limit = (3, 60.0)
        for _ in range(4):
            lucca_directory.get_employee(1)
        # The client waited the server's Retry-After on the fake clock, and the server saw the
        # minute pass on that same clock: the retry was admitted.
        assert [r.status for r in fake_lucca.requests] == [200, 200, 200, 429, 200]
        assert fake_clock.sleeps == [60]


class TestFakeClock:
    """FakeClock: a reading that moves only by sleep and advance."""

    def test_sleep_records_and_advances(self) -> None:
        clock = FakeClock(start=5.0)
        clock.sleep(1.5)
        clock.sleep(2)
        assert (clock(), clock.sleeps, clock.slept) == (8.5, [1.5, 2], 3.5)

    def test_advance_moves_time_without_a_sleep(self) -> None:
        clock = FakeClock()
        before = clock()
        clock.advance(60)
        assert (clock() - before, clock.sleeps) == (60, [])

    @pytest.mark.parametrize("method", ["sleep", "advance"])
    def test_time_never_goes_back(self, method: str) -> None:
        with pytest.raises(ValueError, match=r"negative|go back"):
            getattr(FakeClock(), method)(-1)
