"""Fixtures of the reliability suite: a fake clock and a target pre-filled by a first run."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from fake_clock import FakeClock
from lucca_sync import Sink
from lucca_sync.elevo import ElevoSink
from lucca_sync.elevo._atomic import is_temp_of
from lucca_sync.elevo._lock import LOCK_NAME
from lucca_sync.testing import MemorySink

from ._support import State, active_titles, elevo_sink, file_state, folder_listing


@attrs.define
class Target:
    """A sink under test, with what is needed to prove a failed run wrote nothing.

    ``mark()`` records the target's complete footprint (users, or files on disk and their
    bytes); ``assert_unchanged()`` compares against it.
    """

    sink: Sink
    drop: Path | None = None
    state_dir: Path | None = None
    _mark: object = None
    _log_length: int = 0

    @property
    def kind(self) -> str:
        return "elevo" if isinstance(self.sink, ElevoSink) else "memory"

    def footprint(self) -> object:
        if isinstance(self.sink, MemorySink):
            return dict(self.sink.users_by_key)
        assert self.drop is not None
        assert self.state_dir is not None
        # The lock file says who runs (pid, time): not part of what the target holds.
        return {
            folder.name: {
                path.name: path.read_bytes() for path in folder.iterdir() if path.name != LOCK_NAME
            }
            for folder in (self.drop, self.state_dir)
        }

    def mark(self) -> None:
        self._mark = self.footprint()
        if isinstance(self.sink, MemorySink):
            self._log_length = len(self.sink.log)

    def assert_unchanged(self, *, hidden_temp_allowed: bool = False) -> None:
        """Zero suspensions, zero partial files, state unchanged: the target is as marked.

        With ``hidden_temp_allowed`` (a connection that died mid-upload cannot remove its own
        temporary file), one hidden ``.users.csv.*.lucca-sync-tmp`` may remain beside the
        untouched file: Elevo ignores it and the next delivery removes it.
        """
        footprint = self.footprint()
        if hidden_temp_allowed and isinstance(footprint, dict) and "drop" in footprint:
            temps = [name for name in footprint["drop"] if is_temp_of(name, "users.csv")]
            assert len(temps) <= 1
            for name in temps:
                del footprint["drop"][name]
        assert footprint == self._mark
        if isinstance(self.sink, MemorySink):
            writes = [op for op in self.sink.log[self._log_length :] if op.name != "abort"]
            assert [op.name for op in writes if op.name == "suspend"] == []
            assert writes == [] or writes[0].name == "begin"

    def assert_file_matches(self, expected: State) -> None:
        """For ElevoSink: the delivered file holds exactly the active users, nothing else."""
        if self.drop is None:
            return
        assert folder_listing(self.drop) == ["users.csv"]
        assert file_state(self.drop / "users.csv") == active_titles(expected)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "elevo"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """An empty MemorySink or directory ElevoSink (tests pre-fill it with a first run)."""
    if request.param == "memory":
        return Target(MemorySink())
    return Target(elevo_sink(tmp_path), drop=tmp_path / "drop", state_dir=tmp_path / "state")
