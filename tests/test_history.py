"""The run history: one record per applied plan, kept by the sink, shown by lucca-sync history."""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import lucca_sync
from lucca_sync import Employee, Safety, Sink, TargetUser
from lucca_sync._engine._history import RunRecord, load_records, window
from lucca_sync.cli import main
from lucca_sync.elevo import ElevoSink
from lucca_sync.elevo._state import StateStore
from lucca_sync.exceptions import SafetyError, SinkError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

TODAY = date(2025, 3, 10)
LEFT = date(2025, 3, 1)


def emp(employee_id: int, **fields: object) -> Employee:
    return Employee(
        id=employee_id,
        first_name="Zoé",
        last_name="Durand",
        email=f"z{employee_id}@example.com",
        **fields,  # type: ignore[arg-type]
    )


def company(n: int, *, leavers: Iterable[int] = ()) -> list[Employee]:
    gone = set(leavers)
    return [emp(i, contract_end=LEFT) if i in gone else emp(i) for i in range(1, n + 1)]


def sync(employees: list[Employee], sink: Sink, **options: object) -> lucca_sync.SyncReport:
    options.setdefault("today", TODAY)
    return lucca_sync.sync(employees, sink, rules=(), **options)  # type: ignore[arg-type]


class TestRecords:
    """Each applied plan leaves one record with its counts, keys and digest."""

    def test_an_apply_records_what_it_did(self) -> None:
        sink = MemorySink()
        sync(company(5), sink)
        report = sync(company(5, leavers=[2, 3]), sink)
        first, second = load_records(sink.load_history()) or ()
        assert (first.run, first.counts["create"], first.managed_active) == (1, 5, 0)
        assert second.run == 2
        assert second.digest == report.plan.digest
        assert second.today == TODAY
        assert dict(second.suspended) == {"2": "departed", "3": "departed"}
        assert (second.outcome, second.approved) == ("ok", ())

    def test_a_no_op_rerun_writes_nothing_to_the_target_but_is_recorded(self) -> None:
        sink = MemorySink()
        sync(company(5), sink)
        logged = len(sink.log)
        report = sync(company(5), sink)
        assert report.plan.is_empty
        assert sink.operations[logged:] == []
        assert len(sink.history) == 2
        counts = sink.history[-1]["counts"]
        assert isinstance(counts, dict)
        assert sum(counts.values()) == 0

    def test_reactivations_and_their_keys_are_recorded(self) -> None:
        sink = MemorySink()
        sync(company(5), sink)
        sync(company(5, leavers=[4]), sink)
        sync(company(5), sink)
        records = load_records(sink.history) or ()
        assert records[-1].reactivated == ("4",)
        assert window(records, today=TODAY, days=7).reactivations == 1

    def test_a_failed_action_makes_the_run_partial_and_is_not_counted_as_done(self) -> None:
        sink = MemorySink()
        sync(company(5), sink)
        sink.fail_on("suspend", "2", times=5)
        sync(company(5, leavers=[2, 3]), sink)
        record = (load_records(sink.history) or ())[-1]
        assert (record.outcome, record.counts["failed"], dict(record.suspended)) == (
            "partial",
            1,
            {"3": "departed"},
        )

    def test_a_sink_failing_as_a_whole_records_nothing(self) -> None:
        sink = MemorySink()
        sync(company(5), sink)
        sink.fail_commit()
        with pytest.raises(lucca_sync.exceptions.SinkError):
            sync(company(6), sink)
        assert len(sink.history) == 1

    def test_a_record_survives_its_json_form(self) -> None:
        record = RunRecord(
            run=3,
            applied_at=datetime(2025, 3, 10, 2, 0, tzinfo=UTC),
            today=TODAY,
            digest="d" * 64,
            mode="incremental",
            managed_active=250,
            counts={"suspend": 2},
            suspended={"7": "not_visible", "9": "excluded"},
            reactivated=("4",),
            approved=("window_suspensions",),
            outcome="partial",
        )
        assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record

    def test_an_unreadable_record_stops_the_plan_rather_than_being_forgotten(self) -> None:
        sink = MemorySink()
        sync(company(5), sink)
        sink.history.insert(0, {"format": "lucca_sync.run", "version": 1, "run": "one"})
        with pytest.raises(SinkError, match="record 1 cannot be read") as caught:
            sync(company(5, leavers=[5]), sink)
        assert "restore" in str(caught.value).lower()
        assert not any(user.suspended for user in sink.users())


class TestSinksWithoutHistory:
    """A sink that keeps no history works as before; only the rolling limits go unchecked."""

    class Plain(Sink):
        def __init__(self) -> None:
            self.users_by_key: dict[str, TargetUser] = {}

        def users(self) -> list[TargetUser]:
            return list(self.users_by_key.values())

        def create(self, key: str, fields: Mapping[str, str | None]) -> None:
            self.users_by_key[key] = TargetUser(key, fields)

        def update(
            self, key: str, changes: Mapping[str, str | None], *, new_key: str | None = None
        ) -> None:
            user = self.users_by_key[key]
            self.users_by_key[key] = TargetUser(key, {**user.fields, **changes})

        def suspend(self, key: str) -> None:
            self.users_by_key[key] = TargetUser(key, self.users_by_key[key].fields, True)

        def reactivate(self, key: str, changes: Mapping[str, str | None]) -> None:
            self.users_by_key[key] = TargetUser(key, {**self.users_by_key[key].fields, **changes})

    def test_a_third_party_sink_keeps_working(self) -> None:
        sink = self.Plain()
        assert sink.load_history() is None
        sync(company(30), sink)
        for night in range(3):  # 15 suspensions in three runs: no window without a history
            sync(company(30, leavers=range(1, 6 + 5 * night)), sink)
        assert sum(user.suspended for user in sink.users()) == 15


def publish_first(employees: list[Employee], sink: Sink) -> lucca_sync.SyncReport:
    """The first file to a new Elevo account: planned for review, applied by its digest."""
    made = lucca_sync.plan(employees, sink, rules=(), safety=lucca_sync.Safety.review_only())
    assert [violation.limit for violation in made.violations] == ["first_publication"]
    return lucca_sync.apply(made, sink, expected_digest=made.digest)


class TestLostHistory:
    """A lost, cut or damaged Elevo history stops the run: the rolling limits never restart."""

    def sink(self, tmp_path: Path) -> ElevoSink:
        (tmp_path / "drop").mkdir(exist_ok=True)
        return ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")

    def history(self, tmp_path: Path) -> Path:
        return tmp_path / "state" / "elevo-history.jsonl"

    def published(self, tmp_path: Path) -> None:
        """Two published runs: the state records the history they left."""
        publish_first(company(300), self.sink(tmp_path))
        sync(company(300, leavers=range(1, 9)), self.sink(tmp_path))
        sync(company(301, leavers=range(1, 9)), self.sink(tmp_path))
        assert len(self.history(tmp_path).read_text(encoding="utf-8").splitlines()) == 3

    def test_a_deleted_history_stops_the_next_plan(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        self.history(tmp_path).unlink()
        with pytest.raises(SinkError, match="is missing, but the state folder records 3"):
            sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))

    def test_a_lost_count_and_a_cut_history_stop_the_next_plan(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        lines = self.history(tmp_path).read_text(encoding="utf-8").splitlines(keepends=True)
        self.history(tmp_path).write_text("".join(lines[:-1]), encoding="utf-8")
        (tmp_path / "state" / "elevo-history.count").unlink()
        with pytest.raises(SinkError, match=r"elevo-history\.count is missing") as caught:
            sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))
        assert "Restore elevo-history.jsonl and elevo-history.count" in str(caught.value)

    def test_a_redelivery_does_not_make_a_lost_count_and_a_cut_history_pass(
        self, tmp_path: Path
    ) -> None:
        self.published(tmp_path)
        lines = self.history(tmp_path).read_text(encoding="utf-8").splitlines(keepends=True)
        self.history(tmp_path).write_text(lines[0], encoding="utf-8")
        (tmp_path / "state" / "elevo-history.count").unlink()
        self.sink(tmp_path).redeliver()  # Elevo lost the file: needs no history
        with pytest.raises(SinkError, match="holds 1 run"):
            self.sink(tmp_path).load_history()

    def test_a_damaged_count_does_not_block_a_redelivery(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        (tmp_path / "state" / "elevo-history.count").write_text("2x\n", encoding="ascii")
        self.sink(tmp_path).redeliver()
        with pytest.raises(SinkError, match=r"count .*elevo-history\.count is damaged"):
            self.sink(tmp_path).load_history()

    def test_a_rebuilt_state_still_needs_its_count_file(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        self.sink(tmp_path).rebuild_state()
        (tmp_path / "state" / "elevo-history.count").unlink()
        self.history(tmp_path).unlink()
        with pytest.raises(SinkError, match=r"elevo-history\.count is missing"):
            self.sink(tmp_path).load_history()

    def test_a_damaged_count_names_the_count_file(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        (tmp_path / "state" / "elevo-history.count").write_text("2x\n", encoding="ascii")
        with pytest.raises(SinkError, match=r"count .*elevo-history\.count is damaged"):
            sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))

    def test_a_history_replaced_by_an_older_copy_stops_the_next_plan(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        lines = self.history(tmp_path).read_text(encoding="utf-8").splitlines(keepends=True)
        self.history(tmp_path).write_text(lines[0], encoding="utf-8")
        with pytest.raises(SinkError, match="holds 1 run") as caught:
            sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))
        assert "lucca-sync history --config FILE --restart" in str(caught.value)
        assert "sink.restart_history()" in str(caught.value)

    def test_a_record_of_another_format_stops_the_next_plan(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        text = self.history(tmp_path).read_text(encoding="utf-8")
        self.history(tmp_path).write_text(
            text.replace('"format":"lucca_sync.run"', '"format":"x"'), encoding="utf-8"
        )
        with pytest.raises(SinkError, match="cannot be read"):
            sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))

    def test_restarting_the_history_is_explicit_and_keeps_the_old_file(
        self, tmp_path: Path
    ) -> None:
        self.published(tmp_path)
        self.history(tmp_path).unlink()
        self.sink(tmp_path).restart_history()
        assert self.sink(tmp_path).load_history() == []
        # Counted from zero again, knowingly: 8 more suspensions fit the window.
        report = sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))
        assert report.counts["suspend"] == 8

    def test_a_state_written_before_the_count_takes_its_history_as_it_is_once(
        self, tmp_path: Path
    ) -> None:
        self.published(tmp_path)
        state = tmp_path / "state" / "elevo-state.json"
        document = json.loads(state.read_text(encoding="utf-8"))
        del document["history_runs"], document["history_counted"]
        state.write_text(json.dumps(document), encoding="utf-8")
        (tmp_path / "state" / "elevo-history.count").unlink()  # written by later versions
        self.history(tmp_path).unlink()
        assert self.sink(tmp_path).load_history() == []
        sync(company(301, leavers=range(1, 10)), self.sink(tmp_path))
        self.history(tmp_path).unlink()
        with pytest.raises(SinkError, match="is missing"):
            self.sink(tmp_path).load_history()

    def test_a_run_that_cannot_be_recorded_says_so_in_its_report(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.published(tmp_path)

        def disk_full(self: object, record: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(StateStore, "append_history", disk_full)
        with caplog.at_level(logging.ERROR, "lucca_sync"):
            report = sync(company(301, leavers=range(1, 10)), self.sink(tmp_path))
        assert report.counts["suspend"] == 1
        assert any("could not record this run" in warning for warning in report.warnings)
        assert "No space left on device" in caplog.text
        monkeypatch.undo()
        with pytest.raises(SinkError, match="holds 3 run"):
            sync(company(301, leavers=range(1, 10)), self.sink(tmp_path))

    def test_losing_only_the_last_run_is_noticed(self, tmp_path: Path) -> None:
        self.published(tmp_path)
        lines = self.history(tmp_path).read_text(encoding="utf-8").splitlines(keepends=True)
        self.history(tmp_path).write_text("".join(lines[:-1]), encoding="utf-8")
        with pytest.raises(SinkError, match="holds 2 run"):
            sync(company(301, leavers=range(1, 17)), self.sink(tmp_path))


class TestElevoHistory:
    """ElevoSink keeps the history as JSON Lines in its state folder."""

    def sink(self, tmp_path: Path) -> ElevoSink:
        (tmp_path / "drop").mkdir(exist_ok=True)
        return ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")

    def test_the_history_outlives_the_process(self, tmp_path: Path) -> None:
        publish_first(company(5), self.sink(tmp_path))
        sync(company(5, leavers=[5]), self.sink(tmp_path))
        path = tmp_path / "state" / "elevo-history.jsonl"
        assert len(path.read_text(encoding="utf-8").splitlines()) == 2
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        records = load_records(self.sink(tmp_path).load_history()) or ()
        assert [dict(record.suspended) for record in records] == [{}, {"5": "departed"}]

    def test_after_a_restart_a_line_cut_short_no_longer_swallows_the_next(
        self, tmp_path: Path
    ) -> None:
        publish_first(company(5), self.sink(tmp_path))
        path = tmp_path / "state" / "elevo-history.jsonl"
        with path.open("ab") as file:
            file.write(b'{"format":"lucca_sync.run","ver')
        with pytest.raises(SinkError, match="line 2 is not a record"):
            sync(company(5, leavers=[5]), self.sink(tmp_path))
        self.sink(tmp_path).restart_history()
        sync(company(5, leavers=[5]), self.sink(tmp_path))
        records = load_records(self.sink(tmp_path).load_history()) or ()
        assert [record.run for record in records] == [1]

    def test_the_rolling_window_reads_the_files_history(self, tmp_path: Path) -> None:
        publish_first(company(300), self.sink(tmp_path))
        sync(company(300, leavers=range(1, 9)), self.sink(tmp_path))
        with pytest.raises(SafetyError) as caught:
            sync(company(300, leavers=range(1, 17)), self.sink(tmp_path))
        assert (caught.value.limit, caught.value.observed, caught.value.allowed) == (
            "window_suspensions",
            16,
            12,
        )


@pytest.fixture
def lucca() -> Iterator[FakeLucca]:
    users = [
        make_lucca_user(id=i, firstName="Zoé", lastName=f"N{i}", mail=f"p{i}@acme.example")
        for i in range(1, 21)
    ]
    with FakeLucca(users, today=TODAY) as fake:
        yield fake


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lucca: FakeLucca) -> Path:
    """A configuration file whose sink has applied two runs (the second suspends two)."""
    (tmp_path / "drop").mkdir()
    config = tmp_path / "lucca-sync.toml"
    config.write_text(
        f'[lucca]\nurl = "{lucca.url}"\napi_key_env = "HISTORY_TEST_KEY"\n\n'
        '[sink]\ntype = "directory"\npath = "drop"\nstate_dir = "state"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HISTORY_TEST_KEY", lucca.api_key)
    # The first publication to the account: planned for review, applied by its digest.
    plan_file = tmp_path / "first-plan.json"
    assert main(["plan", "--config", str(config), "--json", str(plan_file), "-q"]) == 3
    digest = json.loads(plan_file.read_text(encoding="utf-8"))["digest"]
    command = ["apply", "--config", str(config), "--plan", str(plan_file), "-q"]
    assert main([*command, "--expect-digest", digest]) == 0
    lucca.remove_user(3)
    lucca.remove_user(4)
    assert main(["apply", "--config", str(config), "-q"]) == 0
    return config


class TestHistoryCommand:
    """lucca-sync history lists the runs and shows one, from the state folder alone."""

    def test_history_lists_every_run(
        self, configured: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        assert main(["history", "--config", str(configured)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert "suspend" in lines[0]
        assert [line.split()[0] for line in lines[1:]] == ["1", "2"]
        assert lines[2].split()[3:8] == ["0", "0", "0", "0", "2"]

    def test_history_show_names_the_suspended_users(
        self, configured: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        assert main(["history", "show", "2", "--config", str(configured)]) == 0
        out = capsys.readouterr().out
        assert "run 2:" in out
        assert "suspended       3  not visible" in out
        assert "suspended       4  not visible" in out

    def test_history_as_json(self, configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
        capsys.readouterr()
        assert main(["history", "--json", "--config", str(configured)]) == 0
        runs = json.loads(capsys.readouterr().out)
        assert [run["run"] for run in runs] == [1, 2]

    def test_showing_an_unknown_run_fails_plainly(
        self, configured: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["history", "show", "9", "--config", str(configured)]) == 1
        assert "no run 9" in capsys.readouterr().err
        assert main(["history", "show", "--config", str(configured)]) == 2

    def test_a_lost_history_stops_apply_until_restarted_knowingly(
        self, configured: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (configured.parent / "state" / "elevo-history.jsonl").unlink()
        capsys.readouterr()
        assert main(["apply", "--config", str(configured), "-q"]) == 1
        assert "lucca-sync history --config FILE --restart" in capsys.readouterr().err
        assert main(["history", "--config", str(configured), "--restart"]) == 0
        assert "count from zero" in capsys.readouterr().out
        assert main(["apply", "--config", str(configured), "-q"]) == 0


class TestApprovalWords:
    """A tripped limit says what it saw and how to approve, in the reader's own terms."""

    def test_the_library_speaks_python(self) -> None:
        sink = MemorySink()
        sync(company(40), sink)
        with pytest.raises(SafetyError) as caught:
            sync(company(40, leavers=range(1, 12)), sink)
        message = str(caught.value)
        assert "suspends 11 user(s), more than the 10 allowed" in message
        assert f"expected_digest={caught.value.digest!r}" in message
        assert "Safety.allow_reviewed(" in message
        assert "lucca-sync" not in message

    def test_the_command_line_speaks_commands(
        self, configured: Path, lucca: FakeLucca, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for user_id in range(5, 16):
            lucca.remove_user(user_id)
        capsys.readouterr()
        assert main(["apply", "--config", str(configured)]) == 3
        err = capsys.readouterr().err
        assert "11 user(s) would be suspended only because Lucca no longer returns them" in err
        assert f"lucca-sync plan --config {configured} --json plan.json" in err
        assert f"lucca-sync apply --config {configured} --plan plan.json --expect-digest" in err
        assert "Safety." not in err
        assert "expected_digest" not in err

    def test_every_limit_names_its_settings(self) -> None:
        from lucca_sync._engine._safety import LIMIT_SETTINGS

        fields = {field.name for field in Safety.__attrs_attrs__}
        for settings in LIMIT_SETTINGS.values():
            assert set(settings) <= fields
