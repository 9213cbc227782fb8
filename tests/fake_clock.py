"""A clock for tests of retries, pacing and rate limits: time passes only when told to."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock whose ``sleep`` advances it instantly: retries never really wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
