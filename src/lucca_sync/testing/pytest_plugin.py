"""Opt-in pytest fixtures for testing code built on lucca_sync.

Installed with the package as a pytest plugin; it only *defines* fixtures, so a test suite is
unaffected until a test asks for one of them:

- ``memory_sink``: an empty :class:`~lucca_sync.testing.MemorySink`;
- ``fake_clock``: a :class:`~lucca_sync.testing.FakeClock`, the time line of the two below;
- ``fake_lucca``: a running :class:`~lucca_sync.testing.FakeLucca` (no users; add some with
  ``fake_lucca.add_user(make_lucca_user(...))``) whose rate limit and tokens follow
  ``fake_clock``, stopped after the test;
- ``lucca_directory``: a :class:`~lucca_sync.LuccaDirectory` reading ``fake_lucca`` that paces
  and retries on ``fake_clock``: it never really sleeps (a ``Retry-After: 20`` takes no time),
  and ``fake_clock.sleeps`` shows what it waited.

Imports are lazy so that loading the plugin costs nothing and pulls in no server code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lucca_sync import LuccaDirectory
    from lucca_sync.testing import FakeClock, FakeLucca, MemorySink

__all__ = ["fake_clock", "fake_lucca", "lucca_directory", "memory_sink"]


@pytest.fixture
def memory_sink() -> MemorySink:
    """An empty in-memory sink."""
    from lucca_sync.testing import MemorySink

    return MemorySink()


@pytest.fixture
def fake_clock() -> FakeClock:
    """The time of ``fake_lucca`` and ``lucca_directory``: advances only when they wait."""
    from lucca_sync.testing import FakeClock

    return FakeClock()


@pytest.fixture
def fake_lucca(fake_clock: FakeClock) -> Iterator[FakeLucca]:
    """A fake Lucca server on 127.0.0.1 with no users, on ``fake_clock``, stopped after the test."""
    from lucca_sync.testing import FakeLucca

    with FakeLucca(clock=fake_clock) as fake:
        yield fake


@pytest.fixture
def lucca_directory(fake_lucca: FakeLucca, fake_clock: FakeClock) -> LuccaDirectory:
    """A directory client reading ``fake_lucca`` with its API key; waits on ``fake_clock``."""
    from lucca_sync import ApiKey, LuccaDirectory

    return LuccaDirectory(
        fake_lucca.url, ApiKey(fake_lucca.api_key), clock=fake_clock, sleep=fake_clock.sleep
    )
