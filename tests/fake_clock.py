"""The suite's clock for retries, pacing and rate limits: the public testing one."""

from __future__ import annotations

from lucca_sync.testing import FakeClock

__all__ = ["FakeClock"]
