"""Client-side pacing: at most N requests in any sliding 60-second window."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["Pacer"]

WINDOW_SECONDS = 60.0


class Pacer:
    """Blocks (through the injected ``sleep``) until one more request fits in the window.

    Lucca's budget is per tenant and per 60-second window (50 requests by default). Keeping the
    send times of the last ``limit`` requests is enough: a new request may go when the oldest of
    them left the window. Retries count like any other request.

    Args:
        limit: Requests allowed in any 60-second window (>= 1).
        clock: Monotonic seconds (``time.monotonic`` in production, a fake in tests).
        sleep: Waits the given seconds (``time.sleep`` in production).
    """

    def __init__(
        self, limit: int, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque(maxlen=limit)

    def acquire(self) -> float:
        """Wait until a request may be sent, record it, and return the seconds waited."""
        waited = 0.0
        if len(self._sent) == self._limit:
            # time.sleep never returns early, so one wait is enough (and a frozen fake clock
            # cannot make this loop forever).
            waited = max(0.0, self._sent[0] + WINDOW_SECONDS - self._clock())
            if waited:
                self._sleep(waited)
        self._sent.append(self._clock())
        return waited
