"""The process dies mid-run (a ``BaseException`` nothing may swallow); the next run converges."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from fake_clock import FakeClock
from lucca_sync.elevo import ElevoSink, _state
from lucca_sync.testing import FakeLucca, MemorySink

from ._support import (
    TODAY,
    Crash,
    change_directory,
    company,
    elevo_sink,
    employee_id,
    expected_state,
    file_state,
    folder_listing,
    run_sync,
    state_of,
)
from .conftest import Target
from .matrix import PROCESS, Case, cases_for

HIRE = str(employee_id(260))
FIRST_RETITLED = str(employee_id(120))
SECOND_RETITLED = str(employee_id(230))
LEAVER = str(employee_id(150))


def _target(case: Case, tmp_path: Path) -> Target:
    if case.id.endswith("-memory"):
        return Target(MemorySink())
    return Target(elevo_sink(tmp_path), tmp_path / "drop", tmp_path / "state")


def _crash_run(
    case: Case, target: Target, fake: FakeLucca, clock: FakeClock, patch: pytest.MonkeyPatch
) -> None:
    """Run a sync that dies at the point ``case`` names."""
    sink = target.sink
    if case.id == "crash-after-delivery":
        patch.setattr(_state.StateStore, "confirm", lambda self: (_ for _ in ()).throw(Crash()))
    elif isinstance(sink, MemorySink):
        sink.fail_on("update", SECOND_RETITLED, error=Crash())
        patch.setattr(sink, "abort", lambda: None)  # a dead process rolls nothing back
    else:
        real_update = ElevoSink.update

        def update_then_die(
            self: ElevoSink,
            key: str,
            changes: Mapping[str, str | None],
            *,
            new_key: str | None = None,
        ) -> None:
            if key == SECOND_RETITLED:
                raise Crash
            real_update(self, key, changes, new_key=new_key)

        patch.setattr(ElevoSink, "update", update_then_die)
    with pytest.raises(Crash):
        run_sync(fake, sink, clock)


class TestProcessFaults:
    """A crash leaves a state the next run recognises; re-running converges, no wrong suspension."""

    @pytest.mark.parametrize("case", cases_for(PROCESS), ids=lambda case: case.id)
    def test_fault(
        self, case: Case, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        target = _target(case, tmp_path)
        with FakeLucca(company(), today=TODAY) as fake:
            assert run_sync(fake, target.sink, clock).ok
            before = state_of(target.sink)
            change_directory(fake)
            expected = expected_state(fake.users, before)
            target.mark()
            with monkeypatch.context() as patch:
                _crash_run(case, target, fake, clock, patch)
            if isinstance(target.sink, ElevoSink):
                target.sink.close()  # the process died: the system released its state lock
            self.check_crashed(case, target, before, expected)
            # The next run: a new process, a new sink object on the same target.
            sink = elevo_sink(tmp_path) if target.drop is not None else target.sink
            report = run_sync(fake, sink, clock)
            assert report.ok
            suspended = {o.key for o in report.outcomes if o.action == "suspend"}
            assert suspended <= {LEAVER}  # only the real leaver, if not suspended already
            assert state_of(sink) == expected
            Target(sink, target.drop, target.state_dir).assert_file_matches(expected)
            assert run_sync(fake, sink, clock).plan.is_empty

    @staticmethod
    def check_crashed(case: Case, target: Target, before: dict[str, tuple[bool, str | None]],
                      expected: dict[str, tuple[bool, str | None]]) -> None:  # fmt: skip
        """What the crash left behind, as each kind of target documents it."""
        if case.id == "crash-after-delivery":
            # Delivered but not recorded: the file is the new one, the state still pending.
            assert target.drop is not None
            assert target.state_dir is not None
            assert file_state(target.drop / "users.csv") == {
                key: title or "" for key, (active, title) in expected.items() if active
            }
            snapshots = [n for n in folder_listing(target.state_dir) if n.startswith("elevo-state")]
            assert snapshots == ["elevo-state.json", "elevo-state.pending.json"]
        elif isinstance(target.sink, MemorySink):
            # Managers-first order: the creation and the first update are done; suspensions
            # come last, so none happened before the crash.
            after = state_of(target.sink)
            assert after[HIRE] == expected[HIRE]
            assert after[FIRST_RETITLED] == expected[FIRST_RETITLED]
            assert after[SECOND_RETITLED] == before[SECOND_RETITLED]
            assert after[LEAVER] == before[LEAVER]
            assert [op for op in target.sink.log if op.name == "suspend"] == []
        else:
            target.assert_unchanged()  # the batch died in memory: nothing delivered
