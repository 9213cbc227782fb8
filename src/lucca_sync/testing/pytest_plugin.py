"""Opt-in pytest fixtures for testing code built on lucca_sync.

Installed with the package as a pytest plugin; it only *defines* fixtures, so a test suite is
unaffected until a test asks for one of them:

- ``memory_sink``: an empty :class:`~lucca_sync.testing.MemorySink`;
- ``fake_lucca``: a running :class:`~lucca_sync.testing.FakeLucca` (no users; add some with
  ``fake_lucca.add_user(make_lucca_user(...))``), stopped after the test;
- ``lucca_directory``: a :class:`~lucca_sync.LuccaDirectory` reading ``fake_lucca``.

Imports are lazy so that loading the plugin costs nothing and pulls in no server code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lucca_sync import LuccaDirectory
    from lucca_sync.testing import FakeLucca, MemorySink

__all__ = ["fake_lucca", "lucca_directory", "memory_sink"]


@pytest.fixture
def memory_sink() -> MemorySink:
    """An empty in-memory sink."""
    from lucca_sync.testing import MemorySink

    return MemorySink()


@pytest.fixture
def fake_lucca() -> Iterator[FakeLucca]:
    """A fake Lucca server on 127.0.0.1 with no users, stopped after the test."""
    from lucca_sync.testing import FakeLucca

    with FakeLucca() as fake:
        yield fake


@pytest.fixture
def lucca_directory(fake_lucca: FakeLucca) -> LuccaDirectory:
    """A directory client reading the ``fake_lucca`` server with its API key."""
    from lucca_sync import ApiKey, LuccaDirectory

    return LuccaDirectory(fake_lucca.url, ApiKey(fake_lucca.api_key))
