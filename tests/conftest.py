"""Shared fixtures and hypothesis settings for the test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from gnupg import GnuPG

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def gpg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GnuPG]:
    """A throw-away GnuPG home driving the real ``gpg`` (skips without it, unless CI needs it)."""
    with GnuPG(tmp_path_factory.mktemp("gpg")) as running:
        yield running
