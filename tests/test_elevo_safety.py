"""Nothing leaves Elevo's file uncounted: identity, memory and one run at a time (issue #17).

Each class reproduces one way an identifier used to leave the published file without a
``Suspend`` in the plan, over real files and a FakeLucca on loopback; the lock is tested against
a real second process.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import lucca_sync
from lucca_sync import Plan, Safety, SyncReport
from lucca_sync.cli import main
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import LuccaSyncError
from lucca_sync.testing import FakeLucca, make_lucca_user

FLAG = "e_skip_elevo_sync"


def employee(user_id: int, email: str, **fields: object) -> dict[str, object]:
    defaults: dict[str, object] = {
        "firstName": f"First{user_id}",
        "lastName": f"Last{user_id}",
        "dtContractStart": "2020-01-06T00:00:00",
        "dtContractEnd": None,
        "manager": None,
    }
    return make_lucca_user(id=user_id, mail=email, **{**defaults, **fields})  # type: ignore[arg-type]


def file_rows(drop: Path) -> dict[str, dict[str, str]]:
    text = (drop / "users.csv").read_bytes().decode("utf-8")
    return {row["uniq_identifier"]: row for row in csv.DictReader(io.StringIO(text))}


def reviewed_sync(
    directory: lucca_sync.LuccaDirectory, sink: ElevoSink, **options: object
) -> SyncReport:
    """Plan for review and apply by digest (how a first publication is approved)."""
    made = lucca_sync.plan(directory, sink, safety=Safety.review_only(), **options)  # type: ignore[arg-type]
    assert {v.limit for v in made.violations} <= {"first_publication"}, made.violations
    return lucca_sync.apply(made, sink, expected_digest=made.digest)


def assert_invariant(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]],
                     plan: Plan) -> None:  # fmt: skip
    """Every identifier of the previous file is in the new one, or suspended by the plan."""
    suspended = {suspension.key for suspension in plan.suspensions}
    assert set(before) - set(after) <= suspended


@pytest.fixture
def lucca() -> Iterator[FakeLucca]:
    people = [
        employee(10, "grace@acme.example"),
        employee(11, "ada@acme.example", manager=10),
        employee(12, "linus@acme.example", extendedData={FLAG: {"id": 1, "value": True}}),
    ]
    with FakeLucca(people) as fake:
        yield fake


def reader(fake: FakeLucca) -> lucca_sync.LuccaDirectory:
    return lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))


class TestAdoptionKeepsIdentity:
    """Scenario 1: an Elevo user adopted by e-mail keeps the uniq_identifier Elevo knows it by."""

    @pytest.fixture
    def export(self, tmp_path: Path) -> Path:
        path = tmp_path / "elevo-export.csv"
        path.write_text(
            "uniq_identifier,email,first_name,last_name\n"
            "legacy-7,GRACE@acme.example,Grace,Hopper\n"
            "legacy-8,ada@acme.example,Ada,Lovelace\n"
            "ext-1,partner@other.example,Kim,Lee\n",
            encoding="utf-8",
        )
        return path

    def test_adopted_users_keep_their_identifier_in_every_file(
        self, lucca: FakeLucca, export: Path, drop: Path, tmp_path: Path
    ) -> None:
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state", adopt_from=export)
        report = reviewed_sync(reader(lucca), sink, match_by=("email",))
        assert report.ok
        assert report.plan.suspensions == ()
        rows = file_rows(drop)
        # Elevo still knows Grace and Ada by their identifiers: nobody is suspended and
        # re-created; Ada's manager is named by Grace's identifier.
        assert set(rows) == {"legacy-7", "legacy-8", "ext-1"}
        assert rows["legacy-7"]["first_name"] == "First10"
        assert rows["legacy-8"]["manager_uniq_identifier"] == "legacy-7"
        assert rows["ext-1"]["skip"] == "true"
        assert "keeps its uniq_identifier legacy-7" in report.plan.summary()
        # The next runs know them by Lucca id, and the file never re-keys them.
        lucca.update_user(10, jobTitle="Rear Admiral")
        second = lucca_sync.sync(reader(lucca), sink, match_by=("email",))
        assert [update.key for update in second.plan.updates] == ["10"]
        assert_invariant(rows, file_rows(drop), second.plan)
        assert file_rows(drop)["legacy-7"]["job_title"] == "Rear Admiral"
        assert "10" not in file_rows(drop)
        assert lucca_sync.plan(reader(lucca), sink, match_by=("email",)).is_empty

    def test_two_employees_claiming_one_elevo_user_adopt_nobody(
        self, lucca: FakeLucca, export: Path, drop: Path, tmp_path: Path
    ) -> None:
        lucca.add_user(employee(13, "other@acme.example", employeeNumber="E7"))
        lucca.update_user(10, employeeNumber="E7")
        path = tmp_path / "by-number.csv"
        path.write_text(
            "uniq_identifier,email,registration_number\nlegacy-7,grace@acme.example,E7\n",
            encoding="utf-8",
        )
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state", adopt_from=path)
        made = lucca_sync.plan(
            reader(lucca), sink, match_by=("registration_number",), safety=Safety.review_only()
        )
        claimed = {error.employee_id for error in made.errors if error.stage == "match"}
        assert claimed == {10, 13}
        assert all(update.key != "legacy-7" for update in made.updates)
        sink.close()

    def test_an_identifier_that_is_another_employees_lucca_id_is_refused(
        self, lucca: FakeLucca, drop: Path, tmp_path: Path
    ) -> None:
        # An earlier integration gave Grace the identifier "12": employee 12 is someone else.
        path = tmp_path / "numbers.csv"
        path.write_text("uniq_identifier,email\n12,grace@acme.example\n", encoding="utf-8")
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state", adopt_from=path)
        lucca.update_user(12, extendedData={})  # employee 12 is synced too
        made = lucca_sync.plan(
            reader(lucca), sink, match_by=("email",), safety=Safety.review_only()
        )
        errors = {error.employee_id: error.message for error in made.errors}
        assert set(errors) == {10, 12}
        assert "e-mail" in errors[12] or "email" in errors[12]
        assert not [c for c in made.creates if c.key in ("10", "12")]
        assert not [u for u in made.updates if u.key == "12"]
        sink.close()

    def test_a_new_employee_whose_id_an_adopted_user_kept_is_an_error(
        self, drop: Path, tmp_path: Path
    ) -> None:
        path = tmp_path / "numbers.csv"
        path.write_text("uniq_identifier,email\n20,grace@acme.example\n", encoding="utf-8")
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state", adopt_from=path)
        with FakeLucca([employee(10, "grace@acme.example")]) as fake:
            assert reviewed_sync(reader(fake), sink, match_by=("email",)).ok
            assert set(file_rows(drop)) == {"20"}  # Grace kept the identifier 20
            fake.add_user(employee(20, "newcomer@acme.example"))
            made = lucca_sync.plan(reader(fake), sink, match_by=("email",))
        assert [error.employee_id for error in made.errors] == [20]
        assert "merge two people" in made.errors[0].message
        assert made.creates == ()
        sink.close()


class TestMemoryIsNeverAssumedEmpty:
    """Scenario 2: a lost state stops the run instead of dropping the users it protected."""

    @pytest.fixture
    def published(self, lucca: FakeLucca, drop: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
        """A first publication with a full row, a report, and two skip rows."""
        export = tmp_path / "elevo-export.csv"
        export.write_text("uniq_identifier,email\next-1,partner@other.example\n", encoding="utf-8")
        sink = ElevoSink.to_directory(drop, adopt_from=export)  # default state_dir
        assert reviewed_sync(reader(lucca), sink).ok
        sink.close()
        # Excluded employee 12 is not in Elevo: tick the box of employee 11 now (a skip row).
        lucca.update_user(11, extendedData={FLAG: {"id": 1, "value": True}})
        assert lucca_sync.sync(reader(lucca), ElevoSink.to_directory(drop)).ok
        rows = file_rows(drop)
        assert rows["11"]["skip"] == "true"
        assert rows["ext-1"]["skip"] == "true"
        return rows

    def test_deleted_state_folder_stops_the_run(
        self, lucca: FakeLucca, drop: Path, published: dict[str, dict[str, str]]
    ) -> None:
        shutil.rmtree(drop.with_name("drop.lucca-sync-state"))
        before = (drop / "users.csv").read_bytes()
        with pytest.raises(LuccaSyncError, match="rebuild"):
            lucca_sync.sync(reader(lucca), ElevoSink.to_directory(drop))
        assert (drop / "users.csv").read_bytes() == before

    def test_renamed_drop_folder_with_the_default_state_stops_the_run(
        self, lucca: FakeLucca, drop: Path, published: dict[str, dict[str, str]]
    ) -> None:
        moved = drop.rename(drop.with_name("to-elevo"))
        before = (moved / "users.csv").read_bytes()
        with pytest.raises(LuccaSyncError, match="published earlier"):
            lucca_sync.sync(reader(lucca), ElevoSink.to_directory(moved))
        assert (moved / "users.csv").read_bytes() == before

    def test_rebuilt_state_keeps_every_skip_row(
        self, lucca: FakeLucca, drop: Path, published: dict[str, dict[str, str]]
    ) -> None:
        shutil.rmtree(drop.with_name("drop.lucca-sync-state"))
        sink = ElevoSink.to_directory(drop)
        assert sink.rebuild_state() == len(published)
        lucca.update_user(10, jobTitle="Rear Admiral")
        report = lucca_sync.sync(reader(lucca), sink)
        assert report.ok
        assert report.plan.suspensions == ()
        assert_invariant(published, file_rows(drop), report.plan)
        assert file_rows(drop)["11"]["skip"] == "true"

    def test_a_skip_row_that_leaves_the_file_is_a_counted_suspension(
        self, lucca: FakeLucca, drop: Path, published: dict[str, dict[str, str]]
    ) -> None:
        lucca.remove_user(11)  # excluded, then gone from Lucca
        sink = ElevoSink.to_directory(drop)
        report = lucca_sync.sync(reader(lucca), sink)
        assert [suspension.key for suspension in report.plan.suspensions] == ["11"]
        assert_invariant(published, file_rows(drop), report.plan)
        assert "11" not in file_rows(drop)

    def test_a_state_from_an_older_backup_stops_the_run(
        self, lucca: FakeLucca, drop: Path, tmp_path: Path
    ) -> None:
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        assert reviewed_sync(reader(lucca), sink).ok
        backup = tmp_path / "backup"
        shutil.copytree(tmp_path / "state", backup)
        lucca.update_user(11, extendedData={FLAG: {"id": 1, "value": True}})
        assert lucca_sync.sync(reader(lucca), sink).ok
        shutil.rmtree(tmp_path / "state")
        shutil.copytree(backup, tmp_path / "state")
        with pytest.raises(LuccaSyncError, match="older backup"):
            lucca_sync.plan(
                reader(lucca), ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
            )

    def test_the_first_publication_is_a_reviewed_step(
        self, lucca: FakeLucca, drop: Path, tmp_path: Path
    ) -> None:
        export = tmp_path / "elevo-export.csv"
        export.write_text("email\nnobody@other.example\nghost@other.example\n", encoding="utf-8")
        sink = ElevoSink.to_directory(
            drop, state_dir=tmp_path / "state", adopt_from=export, omit_unidentified=True
        )
        with pytest.raises(LuccaSyncError, match="first publication") as stopped:
            lucca_sync.sync(reader(lucca), sink)
        assert getattr(stopped.value, "observed", None) == 2  # two export users left out
        assert not (drop / "users.csv").exists()
        assert reviewed_sync(reader(lucca), sink).ok
        assert lucca_sync.plan(reader(lucca), sink).violations == ()


LOCK_HOLDER = textwrap.dedent(
    """
    import sys
    import lucca_sync
    from lucca_sync.elevo import ElevoSink
    from lucca_sync.testing import FakeLucca

    drop, state, url, key = sys.argv[1:5]
    sink = ElevoSink.to_directory(drop, state_dir=state)
    directory = lucca_sync.LuccaDirectory(url, lucca_sync.ApiKey(key))
    plan = lucca_sync.plan(directory, sink, safety=lucca_sync.Safety.review_only())
    print("planned", flush=True)
    if sys.stdin.readline().strip() == "apply":
        lucca_sync.apply(plan, sink, expected_digest=plan.digest)
    print("done", flush=True)
    """
)


@pytest.fixture
def holder(lucca: FakeLucca, drop: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another run, in another process, that has planned and not applied yet."""
    source = Path(lucca_sync.__file__).resolve().parent.parent  # the code under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), *sys.path])}
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(drop), str(tmp_path / "state"), lucca.url,
         lucca.api_key],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "planned"
        yield process
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


class TestOneRunAtATime:
    """Scenario 3: a second run on the same state fails at once, or waits when asked to."""

    def test_second_run_fails_at_once_naming_the_first(
        self, lucca: FakeLucca, drop: Path, tmp_path: Path, holder: subprocess.Popen[str]
    ) -> None:
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        with pytest.raises(LuccaSyncError, match=f"process {holder.pid} on host") as refused:
            reviewed_sync(reader(lucca), sink)
        assert getattr(refused.value, "pid", None) == holder.pid
        assert not (drop / "users.csv").exists()
        # The first run goes on and publishes; its file and its state agree.
        assert holder.stdin is not None
        assert holder.stdout is not None
        holder.stdin.write("apply\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "done"
        assert holder.wait(timeout=30) == 0
        assert lucca_sync.plan(reader(lucca), sink).is_empty
        sink.close()

    def test_a_waiting_run_goes_on_once_the_first_finished(
        self, lucca: FakeLucca, drop: Path, tmp_path: Path, holder: subprocess.Popen[str]
    ) -> None:
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state", lock_timeout=60)
        outcome: list[object] = []
        waiting = threading.Thread(target=lambda: outcome.append(list(sink.users())))
        waiting.start()
        assert holder.stdin is not None
        holder.stdin.write("apply\n")
        holder.stdin.flush()
        waiting.join(timeout=60)
        assert holder.wait(timeout=30) == 0
        assert len(outcome) == 1  # it waited, then read what the first run published
        assert {user.key for user in sink.users()} == {"10", "11"}
        sink.close()

    def test_the_lock_of_a_killed_run_is_taken_over(
        self, lucca: FakeLucca, drop: Path, tmp_path: Path, holder: subprocess.Popen[str]
    ) -> None:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        assert reviewed_sync(reader(lucca), sink).ok
        assert set(file_rows(drop)) == {"10", "11"}


class TestCommandLine:
    """The command line rebuilds a lost state, and waits for the lock when asked to."""

    @pytest.fixture
    def config(self, lucca: FakeLucca, drop: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Path:  # fmt: skip
        path = tmp_path / "lucca-sync.toml"
        path.write_text(
            f'[lucca]\nurl = "{lucca.url}"\napi_key_env = "SAFETY_TEST_KEY"\n\n'
            '[sink]\ntype = "directory"\npath = "drop"\nstate_dir = "state"\n',
            encoding="utf-8",
        )
        monkeypatch.setenv("SAFETY_TEST_KEY", lucca.api_key)
        sink = ElevoSink.to_directory(drop, state_dir=tmp_path / "state")
        assert reviewed_sync(reader(lucca), sink).ok
        return path

    def test_rebuild_state_gives_the_sink_its_memory_back(
        self, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        shutil.rmtree(tmp_path / "state")
        assert main(["plan", "--config", str(config)]) == 1
        assert "lucca-sync rebuild-state --config" in capsys.readouterr().err
        assert main(["rebuild-state", "--config", str(config)]) == 0
        assert "2 user(s), 2 managed" in capsys.readouterr().out
        assert main(["apply", "--config", str(config)]) == 0
        assert "0 create" in capsys.readouterr().out

    def test_a_run_fails_at_once_unless_told_to_wait(
        self, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state") as other:
            other.users()  # another run is planning
            assert main(["plan", "--config", str(config)]) == 1
            assert f"process {os.getpid()} on host" in capsys.readouterr().err
            waited = threading.Timer(0.5, other.close)
            waited.start()
            assert main(["plan", "--config", str(config), "--wait-for-lock", "60"]) == 0
            waited.join()
