"""Shared fixtures and hypothesis settings for the test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gnupg import GnuPG
from sftp_server import SftpServer

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


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """An empty drop folder for an Elevo sink."""
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpServer]:
    """A real OpenSSH SFTP server on 127.0.0.1 (skips without sshd, unless CI needs it)."""
    with SftpServer(tmp_path) as running:
        yield running


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """Elevo's upload folder on that server (``uploads/users``), created empty."""
    folder = tmp_path / "uploads" / "users"
    folder.mkdir(parents=True)
    return folder
