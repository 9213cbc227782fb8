"""Client-side pacing: at most N requests in any sliding 60-second window, adaptively lowered."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

__all__ = ["Pacer"]

logger = logging.getLogger("lucca_sync.http")

WINDOW_SECONDS = 60.0


class Pacer:
    """Blocks (through the injected ``sleep``) until one more request fits in the window.

    Lucca's budget is per tenant and per 60-second window (50 requests by default). Keeping the
    send times of the last ``limit`` requests is enough: a new request may go when the oldest of
    them left the window. Retries count like any other request.

    The budget is shared by every integration of the tenant, so a 429 means others are using
    it: :meth:`slow_down` halves this client's own rate for the rest of its life, instead of
    hitting the limit again and again.

    Args:
        limit: Requests allowed in any 60-second window (>= 1).
        clock: Monotonic seconds (``time.monotonic`` in production, a fake in tests).
        sleep: Waits the given seconds (``time.sleep`` in production).

    Attributes:
        waited: Seconds spent waiting for the window so far.
    """

    def __init__(
        self, limit: int, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque(maxlen=limit)
        self.waited = 0.0

    @property
    def limit(self) -> int:
        """The current requests-per-minute budget (lowered by :meth:`slow_down`)."""
        return self._limit

    def acquire(self) -> float:
        """Wait until a request may be sent, record it, and return the seconds waited."""
        waited = 0.0
        if len(self._sent) == self._limit:
            # time.sleep never returns early, so one wait is enough (and a frozen fake clock
            # cannot make this loop forever).
            waited = max(0.0, self._sent[0] + WINDOW_SECONDS - self._clock())
            if waited:
                self._sleep(waited)
                self.waited += waited
        self._sent.append(self._clock())
        return waited

    def slow_down(self) -> None:
        """Halve the budget (not below 1 per minute): Lucca answered 429."""
        if self._limit == 1:
            return
        self._limit = max(1, self._limit // 2)
        # Keep the most recent sends: they still count in the window.
        self._sent = deque(self._sent, maxlen=self._limit)
        logger.warning(
            "Lucca answered 429 (the tenant's budget is shared with other integrations): "
            "pacing down to %d requests per minute",
            self._limit,
        )
