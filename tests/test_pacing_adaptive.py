"""Pacing: alone within Lucca's budget, and adaptive when other integrations share it."""

from __future__ import annotations

from datetime import date

from lucca_sync import ApiKey, LuccaDirectory
from lucca_sync._lucca._pacing import Pacer
from lucca_sync.testing import FakeLucca, generate_company

TODAY = date(2025, 3, 10)
KEY = "k" * 32


class _Clock:
    """A shared fake clock: sleeping advances it, so nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _read(server_budget: int, *, rpm: int = 50) -> tuple[FakeLucca, LuccaDirectory, int]:
    clock = _Clock()
    users = generate_company(600, seed=2, today=TODAY)
    with FakeLucca(
        users, api_key=KEY, today=TODAY, rate_limit=(server_budget, 60.0), clock=clock
    ) as fake:
        directory = LuccaDirectory(
            fake.url,
            ApiKey(KEY),
            page_size=10,
            requests_per_minute=rpm,
            clock=clock,
            sleep=clock.sleep,
        )
        count = len(list(directory.list_employees(include_former=True)))
    return fake, directory, count


class TestAlone:
    """At the default budget, a tenant to ourselves never answers 429."""

    def test_no_429_at_the_default_budget(self) -> None:
        fake, directory, count = _read(50)
        statuses = [request.status for request in fake.requests]
        assert count == 600
        assert len(statuses) > 50
        assert 429 not in statuses
        assert directory.requests_per_minute == 50
        # Pages beyond the first 50 wait for the window: about one minute per 50 requests.
        assert directory.seconds_waited >= 60 * ((len(statuses) - 1) // 50) - 1


class TestShared:
    """Sharing the tenant (a lower budget left for us), the reader slows down instead of failing."""

    def test_one_429_then_a_halved_rate(self) -> None:
        fake, directory, count = _read(30)
        statuses = [request.status for request in fake.requests]
        assert count == 600
        assert statuses.count(429) == 1
        assert directory.requests_per_minute == 25
        pages = statuses.count(200)
        # The time cost: at most about a minute per 25 pages, plus the Retry-After wait.
        assert directory.seconds_waited <= 60 * (pages / 25 + 2)

    def test_repeated_429s_halve_again_but_not_below_one(self) -> None:
        clock = _Clock()
        pacer = Pacer(50, clock=clock, sleep=clock.sleep)
        for _ in range(10):
            pacer.slow_down()
        assert pacer.limit == 1
        pacer.acquire()
        assert pacer.acquire() == 60.0
