"""Incremental plans over FakeLucca: few requests, same decisions as a full read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lucca_sync import ApiKey, LuccaDirectory, Plan, Safety, apply, plan
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import ConfigurationError
from lucca_sync.testing import FakeLucca, MemorySink, generate_company, make_lucca_user

TODAY = date(2025, 3, 10)
KEY = "k" * 32


def _now() -> datetime:
    return datetime.now(ZoneInfo("Europe/Paris")).replace(tzinfo=None)


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(60, seed=3, today=TODAY), api_key=KEY, today=TODAY) as server:
        yield server


def _directory(fake: FakeLucca) -> LuccaDirectory:
    return LuccaDirectory(fake.url, ApiKey(KEY), requests_per_minute=10_000)


def _synced(fake: FakeLucca, sink: MemorySink | None = None) -> MemorySink:
    sink = sink or MemorySink()
    apply(plan(_directory(fake), sink, today=TODAY), sink)
    return sink


def _actions(made: Plan) -> tuple[object, ...]:
    return (made.creates, made.updates, made.reactivations, made.excludes, made.suspensions)


def _active_id(fake: FakeLucca, *, manager: bool = False) -> int:
    managers = {u["managerId"] for u in fake.users if u.get("managerId") is not None}
    for user in fake.users:
        ended = user.get("dtContractEnd")
        flagged = user.get("extendedData")
        if ended is None and not flagged and (user["id"] in managers) == manager:
            return int(str(user["id"]))
    raise AssertionError("no suitable employee in the generated company")


class TestRequests:
    """An incremental run costs a few requests whatever the size of the directory."""

    @pytest.mark.parametrize("size", [40, 2500])
    def test_one_change_costs_two_requests_on_the_same_day(self, size: int) -> None:
        users = generate_company(size, seed=1, today=TODAY)
        with FakeLucca(users, api_key=KEY, today=TODAY) as server:
            sink = _synced(server)
            server.update_user(_active_id(server), jobTitle="Chef de projet")
            directory = _directory(server)
            made = plan(directory, sink, today=TODAY, mode="incremental")
        assert made.stats.mode == "incremental"
        assert made.stats.requests_made == directory.requests_made == 2
        assert [u.values for u in made.updates] == [{"job_title": "Chef de projet"}]

    def test_a_new_day_adds_the_departure_and_start_queries(self, fake: FakeLucca) -> None:
        sink = _synced(fake)
        fake.today = TODAY + timedelta(days=3)
        fake.clear_requests()
        made = plan(_directory(fake), sink, today=fake.today, mode="incremental")
        queries = [dict(r.query) for r in fake.requests]
        assert made.stats.requests_made == 4
        assert any(q.get("dtContractEnd") == ("between,2025-03-10,2025-03-12",) for q in queries)
        assert any(q.get("dtContractStart") == ("between,2025-03-11,2025-03-13",) for q in queries)
        assert any(q.get("fields") == ("collection.count",) for q in queries)


class TestDecisions:
    """Each kind of change gives the actions a full read would give."""

    def _both(self, fake: FakeLucca, sink: MemorySink, today: date = TODAY) -> tuple[Plan, Plan]:
        incremental = plan(_directory(fake), sink, today=today, mode="incremental")
        full = plan(_directory(fake), sink, today=today, mode="full")
        assert incremental.stats.mode == "incremental"
        return incremental, full

    def test_title_change_is_an_update(self, fake: FakeLucca) -> None:
        sink = _synced(fake)
        employee = _active_id(fake)
        fake.update_user(employee, jobTitle="Responsable qualité")
        incremental, full = self._both(fake, sink)
        assert [(u.key, u.values) for u in incremental.updates] == [
            (str(employee), {"job_title": "Responsable qualité"})
        ]
        assert _actions(incremental) == _actions(full)

    def test_hire_is_a_create(self, fake: FakeLucca) -> None:
        sink = _synced(fake)
        hire = fake.add_user(
            make_lucca_user(id=9001, dtContractStart=TODAY, manager=None, modifiedAt=_now())
        )
        incremental, full = self._both(fake, sink)
        assert [c.key for c in incremental.creates] == [str(hire)]
        assert _actions(incremental) == _actions(full)

    def test_leaver_recorded_today_is_suspended(self, fake: FakeLucca) -> None:
        sink = _synced(fake)
        leaver = _active_id(fake)
        fake.update_user(leaver, dtContractEnd="2025-03-01T00:00:00")
        incremental, full = self._both(fake, sink)
        assert [(s.key, s.reason) for s in incremental.suspensions] == [
            (str(leaver), "contract ended on 2025-03-01")
        ]
        assert _actions(incremental) == _actions(full)

    def test_contract_ending_by_time_alone_is_found_and_reports_move_up(
        self, fake: FakeLucca
    ) -> None:
        manager = _active_id(fake, manager=True)
        # Recorded long ago (old modifiedAt): only the date makes them leave.
        fake.update_user(
            manager, dtContractEnd="2025-03-10T00:00:00", modifiedAt="2024-01-01T00:00:00"
        )
        sink = _synced(fake)
        fake.today = TODAY + timedelta(days=1)
        incremental, full = self._both(fake, sink, today=fake.today)
        assert [s.key for s in incremental.suspensions] == [str(manager)]
        moved = {u.key for u in incremental.updates if "manager_uniq_identifier" in u.values}
        assert moved, "the manager's reports must be re-attached"
        assert _actions(incremental) == _actions(full)

    def test_deleted_employee_makes_the_count_differ_and_the_read_full(
        self, fake: FakeLucca
    ) -> None:
        sink = _synced(fake)
        gone = _active_id(fake)
        fake.remove_user(gone)
        made = plan(_directory(fake), sink, today=TODAY, mode="incremental")
        assert made.stats.mode == "full"
        assert "count" in made.stats.mode_reason
        assert [s.key for s in made.suspensions] == [str(gone)]


class TestState:
    """The sync state is saved with successful applies and decides the mode."""

    def test_first_run_without_state_is_full(self, fake: FakeLucca) -> None:
        made = plan(_directory(fake), MemorySink(), today=TODAY, mode="incremental")
        assert made.stats.mode == "full"
        assert made.stats.mode_reason.startswith("no saved sync state")

    def test_auto_mode_reads_everyone_every_full_every_runs(self, fake: FakeLucca) -> None:
        sink = MemorySink()
        modes = []
        for _ in range(5):
            made = plan(_directory(fake), sink, today=TODAY, mode="auto", full_every=3)
            apply(made, sink)
            modes.append(made.stats.mode)
        assert modes == ["full", "incremental", "incremental", "full", "incremental"]

    def test_failed_action_keeps_the_previous_state(self, fake: FakeLucca) -> None:
        sink = _synced(fake)
        saved = sink.sync_state
        employee = _active_id(fake)
        fake.update_user(employee, jobTitle="Acheteur")
        sink.fail_on("update", str(employee), times=10)
        report = apply(plan(_directory(fake), sink, today=TODAY, mode="incremental"), sink)
        assert report.failures
        assert sink.sync_state == saved

    def test_iterable_source_cannot_be_incremental(self) -> None:
        with pytest.raises(ConfigurationError, match="incremental"):
            plan([], MemorySink(), today=TODAY, mode="incremental")

    def test_state_survives_a_plan_file(self, fake: FakeLucca) -> None:
        made = plan(_directory(fake), MemorySink(), today=TODAY)
        again = Plan.from_json(made.to_json())
        assert again.sync_state == made.sync_state
        assert again.sync_state is not None
        assert len(again.sync_state.population) == made.stats.employees_read - (
            made.stats.employees_former
        )


class TestElevoSink:
    """ElevoSink keeps the state beside its snapshot and delivers nothing for a no-op."""

    def test_noop_rerun_delivers_nothing_and_incremental_works(
        self, fake: FakeLucca, tmp_path: Path
    ) -> None:
        drop = tmp_path / "drop"
        drop.mkdir()
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        first = plan(_directory(fake), sink, today=TODAY, safety=Safety.review_only())
        apply(first, sink, expected_digest=first.digest)  # the first publication, reviewed
        delivered = (drop / "users.csv").stat().st_mtime_ns
        (drop / "users.csv").unlink()
        again = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        made = plan(_directory(fake), again, today=TODAY, mode="auto")
        assert made.is_empty
        assert made.stats.mode == "incremental"
        apply(made, again)
        assert not (drop / "users.csv").exists()
        assert delivered > 0

    def test_state_of_another_snapshot_is_ignored(self, fake: FakeLucca, tmp_path: Path) -> None:
        drop = tmp_path / "drop"
        drop.mkdir()
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        first = plan(_directory(fake), sink, today=TODAY, safety=Safety.review_only())
        apply(first, sink, expected_digest=first.digest)
        (tmp_path / "state" / "elevo-state.json").unlink()
        (drop / "users.csv").unlink()  # consumed by Elevo: else the lost state stops the run
        fresh = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        assert fresh.load_sync_state() is None
