"""FakeClock: time for tests of retries, pacing and rate limits, passing only when told to."""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A monotonic clock whose ``sleep`` advances it at once: retries and pacing never wait.

    Pass the clock as ``clock=`` and its :meth:`sleep` as ``sleep=`` to a
    :class:`~lucca_sync.LuccaDirectory`, and the clock itself as ``clock=`` to a
    :class:`~lucca_sync.testing.FakeLucca`: client and server then share one time line, a
    ``Retry-After: 20`` costs nothing, and the test can still see the 20 seconds
    (:attr:`sleeps`, :attr:`now`). The pytest fixtures ``fake_clock``, ``fake_lucca`` and
    ``lucca_directory`` are wired this way.

    Args:
        start: The first reading, in seconds (only differences matter).

    Attributes:
        now: The current reading, in seconds.
        sleeps: Every wait asked of :meth:`sleep`, in order, in seconds.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        """The current reading, in seconds."""
        self.sleeps: list[float] = []
        """Every wait asked of :meth:`sleep`, in order, in seconds."""
        self._lock = threading.Lock()  # the fake server's thread reads it while a client sleeps

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, slept={self.slept!r})"

    def __call__(self) -> float:
        """The current reading (the clock is a ``Callable[[], float]``, like ``time.monotonic``)."""
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        """Record a wait of ``seconds`` and advance the clock by it, without waiting."""
        if seconds < 0:
            raise ValueError(f"FakeClock.sleep: cannot wait a negative time ({seconds!r} s)")
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (time spent elsewhere: not recorded as a sleep)."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance: time does not go back ({seconds!r} s)")
        with self._lock:
            self.now += seconds

    @property
    def slept(self) -> float:
        """The total of :attr:`sleeps`, in seconds."""
        with self._lock:
            return sum(self.sleeps)
