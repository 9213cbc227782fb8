"""ElevoSink: snapshot semantics, state, refusals, atomic publishing, recovery and adoption."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import lucca_sync
from lucca_sync import TargetUser
from lucca_sync.elevo import DirectoryDelivery, ElevoSink, UncertainDeliveryError, _atomic, _state
from lucca_sync.exceptions import ConfigurationError, SinkError
from lucca_sync.testing import FakeLucca, check_sink, generate_company, make_lucca_user


class Crash(BaseException):
    """Stands for the process dying (kill -9, power cut) at a chosen point."""


def crash(*args: object) -> None:
    raise Crash


def rows(drop: Path) -> list[dict[str, str]]:
    text = (drop / "users.csv").read_bytes().decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def person(key: str, **fields: str | None) -> dict[str, str | None]:
    return {
        "uniq_identifier": key,
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "email": f"user{key}@acme.example",
        **fields,
    }


def keys(sink: ElevoSink) -> dict[str, tuple[bool, bool, bool]]:
    return {u.key: (u.suspended, u.managed, u.excluded) for u in sink.users()}


def state_files(sink: ElevoSink) -> list[str]:
    """The files of the state folder, but the lock (always there once a run has started)."""
    folder = sink.state_path.parent
    return sorted(p.name for p in folder.iterdir() if p.name != "lucca-sync.lock")


def first_sync(
    directory: lucca_sync.LuccaDirectory, sink: ElevoSink, **options: object
) -> lucca_sync.SyncReport:
    """The first sync to a new account: its plan is reviewed, then approved by digest."""
    made = lucca_sync.plan(directory, sink, safety=lucca_sync.Safety.review_only(), **options)  # type: ignore[arg-type]
    assert [violation.limit for violation in made.violations] == ["first_publication"]
    return lucca_sync.apply(made, sink, expected_digest=made.digest)


@pytest.fixture
def make_sink(drop: Path, tmp_path: Path) -> Callable[..., ElevoSink]:
    def make(**options: object) -> ElevoSink:
        return ElevoSink.to_directory(drop, state_dir=tmp_path / "state", **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def sink(make_sink: Callable[..., ElevoSink]) -> ElevoSink:
    return make_sink()


def publish(sink: ElevoSink, *people: dict[str, str | None]) -> None:
    sink.begin()
    for fields in people:
        sink.create(str(fields["uniq_identifier"]), fields)
    assert sink.commit() == {}


class TestSnapshotSemantics:
    """The file lists every managed active user; suspension is omission, exclusion a skip row."""

    def test_created_users_are_rows_with_their_fields(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1"), person("2", manager_uniq_identifier="1"))
        assert [(r["uniq_identifier"], r["manager_uniq_identifier"]) for r in rows(drop)] == [
            ("1", ""),
            ("2", "1"),
        ]
        assert rows(drop)[1]["email"] == "user2@acme.example"

    def test_suspension_omits_and_reactivation_brings_back(
        self, sink: ElevoSink, drop: Path
    ) -> None:
        publish(sink, person("1"), person("2"))
        sink.begin()
        sink.suspend("2")
        sink.commit()
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]
        assert keys(sink)["2"] == (True, True, False)
        sink.begin()
        sink.reactivate("2", {"job_title": "Back"})
        sink.commit()
        assert rows(drop)[1]["job_title"] == "Back"
        assert keys(sink)["2"] == (False, True, False)

    def test_excluded_user_is_a_skip_row_without_data(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1"), person("2", job_title="Secret"))
        sink.begin()
        sink.exclude("2")
        sink.commit()
        raw = (drop / "users.csv").read_text(encoding="utf-8")
        assert "Secret" not in raw
        assert "user2@" not in raw
        skip_row = rows(drop)[1]
        assert skip_row["uniq_identifier"] == "2"
        assert skip_row["skip"] == "true"
        assert {v for k, v in skip_row.items() if k not in ("uniq_identifier", "skip")} == {""}
        user = next(u for u in sink.users() if u.key == "2")
        assert user.excluded
        assert user.fields["job_title"] == "Secret"

    def test_users_report_the_published_snapshot_not_the_batch(self, sink: ElevoSink) -> None:
        publish(sink, person("1"))
        sink.begin()
        sink.create("2", person("2"))
        assert set(keys(sink)) == {"1"}
        sink.abort()
        sink.begin()
        assert sink.commit() == {}
        assert set(keys(sink)) == {"1"}

    def test_unchanged_batch_delivers_nothing(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1"))
        (drop / "users.csv").unlink()  # Elevo consumed it
        sink.begin()
        sink.commit()
        assert not (drop / "users.csv").exists()
        sink.redeliver()
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]

    def test_redelivery_needs_a_published_snapshot(self, sink: ElevoSink, drop: Path) -> None:
        with pytest.raises(SinkError, match="never published"):
            sink.redeliver()
        assert list(drop.iterdir()) == []

    def test_unknown_field_is_refused_at_once(self, sink: ElevoSink) -> None:
        sink.begin()
        with pytest.raises(SinkError, match="'manager_email'") as caught:
            sink.create("1", {**person("1"), "manager_email": "b@acme.example"})
        assert caught.value.key == "1"


class TestRefusals:
    """Records Elevo would reject are refused at commit, and never cause a suspension."""

    def test_invalid_new_user_is_not_created(self, sink: ElevoSink, drop: Path) -> None:
        sink.begin()
        sink.create("1", person("1"))
        sink.create("2", person("2", work_start_date="2024-13-01"))
        refusals = sink.commit()
        assert list(refusals) == ["2"]
        assert "work_start_date" in refusals["2"]
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]
        assert set(keys(sink)) == {"1"}

    def test_invalid_update_keeps_the_user_untouched_in_elevo(
        self, sink: ElevoSink, drop: Path
    ) -> None:
        publish(sink, person("1"), person("2", job_title="Dev"))
        sink.begin()
        sink.update("2", {"email": "not an address", "job_title": "Lead"})
        sink.update("1", {"job_title": "CEO"})
        refusals = sink.commit()
        assert list(refusals) == ["2"]
        by_key = {r["uniq_identifier"]: r for r in rows(drop)}
        assert by_key["2"]["skip"] == "true"  # kept as is: not suspended by omission
        assert by_key["2"]["email"] == ""
        assert by_key["1"]["job_title"] == "CEO"
        user = next(u for u in sink.users() if u.key == "2")
        assert (user.fields["job_title"], user.suspended, user.excluded) == ("Dev", False, False)

    def test_duplicate_email_between_newcomers_refuses_both(self, sink: ElevoSink) -> None:
        sink.begin()
        sink.create("1", person("1", email="Same@acme.example"))
        sink.create("2", person("2", email="same@ACME.example"))
        sink.create("3", person("3"))
        refusals = sink.commit()
        assert sorted(refusals) == ["1", "2"]
        assert "user 2" in refusals["1"]
        assert "same@" not in refusals["1"].lower()

    def test_user_who_had_the_email_keeps_it(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1", username="ada"))
        sink.begin()
        sink.create("2", person("2", username="ADA"))
        refusals = sink.commit()
        assert list(refusals) == ["2"]
        assert "username" in refusals["2"]
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]

    def test_email_of_a_suspended_user_is_still_taken(self, sink: ElevoSink) -> None:
        publish(sink, person("1"), person("9"))
        sink.begin()
        sink.suspend("1")
        sink.create("2", person("2", email="USER1@acme.example"))
        refusals = sink.commit()
        assert list(refusals) == ["2"]
        assert "Elevo user 1" in refusals["2"]

    def test_refused_manager_takes_its_new_reports_along(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1"))
        sink.begin()
        sink.create("5", person("5", email="bad"))
        sink.create("6", person("6", manager_uniq_identifier="5"))
        sink.create("7", person("7", manager_uniq_identifier="6"))
        refusals = sink.commit()
        assert sorted(refusals) == ["5", "6", "7"]
        assert "manager_uniq_identifier 5" in refusals["6"]
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]

    def test_held_manager_still_anchors_its_reports(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1"))
        sink.begin()
        sink.update("1", {"working_time_ratio": "150"})
        sink.create("2", person("2", manager_uniq_identifier="1"))
        refusals = sink.commit()
        assert list(refusals) == ["1"]
        assert [(r["uniq_identifier"], r["skip"]) for r in rows(drop)] == [("1", "true"), ("2", "")]

    def test_manager_missing_from_the_file_is_refused(self, sink: ElevoSink) -> None:
        sink.begin()
        sink.create("1", person("1", manager_uniq_identifier="404"))
        sink.create("2", person("2"))
        assert "not a row of the file" in sink.commit()["1"]


class TestStateAndAtomicity:
    """The state changes only after a delivery; a failure publishes nothing, half or whole."""

    def test_state_file_records_the_snapshot_and_its_digest(
        self, sink: ElevoSink, drop: Path
    ) -> None:
        publish(sink, person("1"))
        document = json.loads(sink.state_path.read_text(encoding="utf-8"))
        assert (document["format"], document["version"]) == ("lucca_sync.elevo.state", 3)
        assert document["target"] == str(drop / "users.csv")
        assert document["sha256"] == hashlib.sha256((drop / "users.csv").read_bytes()).hexdigest()
        [row] = document["users"]
        assert row[:2] == ["1", ""]  # key, status (no letter: managed and active)
        assert dict(zip(document["columns"][row[2]], row[3:], strict=True)) == person("1")
        assert sink.state_path.stat().st_mode & 0o077 == 0

    def test_a_state_of_version_2_is_read_and_the_next_publication_writes_version_3(
        self, sink: ElevoSink, make_sink: Callable[..., ElevoSink]
    ) -> None:
        publish(sink, person("1"), person("2"))
        document = json.loads(sink.state_path.read_text(encoding="utf-8"))
        excluded, active = (False, True, True), (False, True, False)
        document["users"] = [
            {
                "key": "1",
                "fields": person("1"),
                "suspended": False,
                "managed": True,
                "excluded": True,
            },
            {
                "key": "2",
                "fields": person("2"),
                "suspended": False,
                "managed": True,
                "excluded": False,
            },
        ]
        document["version"] = 2
        del document["columns"]
        sink.state_path.write_text(json.dumps(document), encoding="utf-8")
        reader = make_sink()
        assert keys(reader) == {"1": excluded, "2": active}
        reader.begin()
        reader.update("2", {"job_title": "Boss"})
        reader.commit()
        document = json.loads(sink.state_path.read_text(encoding="utf-8"))
        assert document["version"] == 3
        assert [row[:2] for row in document["users"]] == [["1", "x"], ["2", ""]]
        assert keys(make_sink()) == {"1": excluded, "2": active}

    def test_a_held_user_stays_a_skip_row_until_their_row_is_valid_again(
        self, sink: ElevoSink, make_sink: Callable[..., ElevoSink], drop: Path
    ) -> None:
        # Enough users for a later batch to be checked by the index, not as a whole file.
        others = [person(str(n)) for n in range(3, 40)]
        publish(sink, person("1"), person("2", manager_uniq_identifier="1"), *others)
        first = make_sink()
        first.begin()
        first.suspend("1")
        assert set(first.commit()) == {"2"}  # its manager left the file: held as a skip row
        second = make_sink()
        second.begin()
        second.update("30", {"first_name": "Zoé"})  # unrelated to user 2
        assert set(second.commit()) == {"2"}
        assert {r["uniq_identifier"]: r.get("skip") for r in rows(drop)}["2"] == "true"
        third = make_sink()
        third.begin()
        third.reactivate("1", {})
        assert third.commit() == {}
        assert {r["uniq_identifier"]: r["manager_uniq_identifier"] for r in rows(drop)}["2"] == "1"

    def test_state_survives_a_new_sink(self, make_sink: Callable[..., ElevoSink]) -> None:
        first = make_sink()
        publish(first, person("1"), person("2"))
        first.begin()
        first.exclude("2")
        first.commit()
        assert keys(make_sink()) == {"1": (False, True, False), "2": (False, True, True)}

    def test_a_hand_edited_number_in_the_state_is_read_as_its_text(
        self, sink: ElevoSink, make_sink: Callable[..., ElevoSink]
    ) -> None:
        publish(sink, person("1", registration_number="42"))
        document = json.loads(sink.state_path.read_text(encoding="utf-8"))
        [row] = document["users"]
        row[3 + document["columns"][row[2]].index("registration_number")] = 42
        sink.state_path.write_text(json.dumps(document), encoding="utf-8")
        [user] = make_sink().users()
        assert user.fields["registration_number"] == "42"
        assert user.fields["first_name"] == "First1"

    def test_missing_drop_folder_publishes_nothing(self, sink: ElevoSink, drop: Path) -> None:
        publish(sink, person("1"))
        before = sink.state_path.read_bytes()
        drop.rename(drop.with_name("elsewhere"))
        sink.begin()
        sink.create("2", person("2"))
        with pytest.raises(SinkError, match="does not exist"):
            sink.commit()
        assert sink.state_path.read_bytes() == before
        assert set(keys(sink)) == {"1"}
        assert state_files(sink) == ["elevo-history.count", "elevo-state.json"]

    def test_full_disk_leaves_the_previous_file_and_no_temp(
        self, sink: ElevoSink, drop: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        publish(sink, person("1"))
        before = (drop / "users.csv").read_bytes()
        calls = itertools.count()

        def full_disk(fd: int, data: bytes) -> None:
            if next(calls) == 1:  # the pending state is written first, the users file second
                raise OSError(errno.ENOSPC, "No space left on device")
            _real_write_all(fd, data)

        _real_write_all = _atomic._write_all
        monkeypatch.setattr(_atomic, "_write_all", full_disk)
        sink.begin()
        sink.create("2", person("2"))
        with pytest.raises(SinkError, match="No space left"):
            sink.commit()
        assert (drop / "users.csv").read_bytes() == before
        assert [p.name for p in drop.iterdir()] == ["users.csv"]
        assert set(keys(sink)) == {"1"}

    def test_state_that_cannot_be_written_delivers_nothing(
        self, sink: ElevoSink, drop: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def full_disk(fd: int, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(_atomic, "_write_all", full_disk)
        sink.create("1", person("1"))
        with pytest.raises(SinkError, match="nothing was delivered"):
            sink.commit()
        assert list(drop.iterdir()) == []
        assert state_files(sink) == []

    def test_state_path_that_is_a_file_is_reported(self, drop: Path, tmp_path: Path) -> None:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        with pytest.raises(SinkError, match="Elevo state folder"):
            ElevoSink.to_directory(drop, state_dir=blocker).users()

    def test_crash_after_delivery_converges_on_the_next_run(
        self, make_sink: Callable[..., ElevoSink], drop: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        publish(make_sink(), person("1"))
        crashing = make_sink()
        crashing.begin()
        crashing.create("2", person("2"))
        with monkeypatch.context() as patch:
            patch.setattr(_state.StateStore, "confirm", crash)
            with pytest.raises(Crash):
                crashing.commit()
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1", "2"]
        restarted = make_sink()
        assert set(keys(restarted)) == {"1", "2"}  # the unconfirmed delivery is assumed done
        (drop / "users.csv").unlink()
        restarted.begin()
        assert restarted.commit() == {}
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1", "2"]  # sent again, in full
        assert state_files(restarted) == ["elevo-history.count", "elevo-state.json"]

    def test_an_uncertain_delivery_is_sent_again_even_without_changes(
        self, make_sink: Callable[..., ElevoSink], drop: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The connection broke after the server published the file: state and Elevo differ."""
        publish(make_sink(), person("1"))
        sink = make_sink()
        sink.begin()
        sink.create("2", person("2"))

        def published_then_broke(self: DirectoryDelivery, filename: str, data: bytes) -> None:
            (self.path / filename).write_bytes(data)
            raise UncertainDeliveryError("connection lost while renaming")

        with monkeypatch.context() as patch:
            patch.setattr(DirectoryDelivery, "deliver", published_then_broke)
            with pytest.raises(UncertainDeliveryError):
                sink.commit()
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1", "2"]  # Elevo got it
        restarted = make_sink()
        assert set(keys(restarted)) == {"1"}  # ... but it is not recorded as published
        restarted.begin()  # e.g. user 2 was removed from Lucca meanwhile: nothing to change
        assert restarted.commit() == {}
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]  # the recorded state, sent
        assert state_files(restarted) == ["elevo-history.count", "elevo-state.json"]

    def test_crash_during_delivery_converges_too(
        self, make_sink: Callable[..., ElevoSink], drop: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        publish(make_sink(), person("1"))
        crashing = make_sink()
        crashing.begin()
        crashing.create("2", person("2"))
        with monkeypatch.context() as patch:
            patch.setattr(DirectoryDelivery, "deliver", crash)
            patch.setattr(_state.StateStore, "discard_pending", lambda self: None)  # died
            with pytest.raises(Crash):
                crashing.commit()
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1"]
        restarted = make_sink()
        restarted.begin()
        restarted.commit()
        assert [r["uniq_identifier"] for r in rows(drop)] == ["1", "2"]

    def test_stale_temporary_files_are_cleaned(self, sink: ElevoSink, drop: Path) -> None:
        (drop / ".users.csv.0123456789ab.lucca-sync-tmp").write_text("half a fi")
        (drop / "other.csv").write_text("not ours")
        publish(sink, person("1"))
        assert sorted(p.name for p in drop.iterdir()) == ["other.csv", "users.csv"]

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"{not json", "not valid JSON"),
            (b'{"format": "lucca_sync.elevo.state", "version": 99, "users": []}', "version 99"),
            (b'{"format": "lucca_sync.elevo.state", "version": 1, "users": [{}]}', "malformed"),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 1, "users": [{"key": "1", '
                b'"fields": {}, "suspended": "false", "managed": true, "excluded": false}]}',
                "malformed",
            ),
            (b"[]", "not an Elevo state file"),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 3, "columns": [["email"]], '
                b'"users": [["1", "", 1, "a@x.fr"]]}',
                "malformed",
            ),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 3, "columns": [["email"]], '
                b'"users": [["1", "", 0, "a@x.fr", "extra"]]}',
                "malformed",
            ),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 3, "columns": [["email"]], '
                b'"users": [["1", "active", 0, "a@x.fr"]]}',
                "malformed",
            ),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 3, "columns": [["email"]], '
                b'"users": [["1", "", 0, "a@x.fr"], ["1", "", 0, "b@x.fr"]]}',
                "user 1 appears twice",
            ),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 3, "columns": [["email"]], '
                b'"users": [[null, "", 0, "a@x.fr"]]}',
                "key is not a non-empty text",
            ),
            (
                b'{"format": "lucca_sync.elevo.state", "version": 3, "columns": [["email"]], '
                b'"users": [["1", "", 0, ["a@x.fr"]]]}',
                "neither text, a number",
            ),
        ],
    )
    def test_bad_state_file_is_reported(
        self, sink: ElevoSink, content: bytes, message: str
    ) -> None:
        sink.state_path.parent.mkdir(parents=True)
        sink.state_path.write_bytes(content)
        with pytest.raises(SinkError, match=message):
            sink.users()


class TestConfiguration:
    """Bad sink options fail when the sink is built."""

    @pytest.mark.parametrize("inside", [".", "state", "a/b"])
    def test_state_folder_cannot_be_in_the_drop_folder(self, drop: Path, inside: str) -> None:
        with pytest.raises(ConfigurationError, match="state_dir"):
            ElevoSink.to_directory(drop, state_dir=drop / inside)

    @pytest.mark.parametrize("name", ["", "sub/users.csv", ".users.csv", ".."])
    def test_file_name_must_be_plain(self, drop: Path, name: str) -> None:
        with pytest.raises(ConfigurationError, match="filename"):
            ElevoSink.to_directory(drop, filename=name)

    def test_default_state_folder_sits_next_to_the_drop_folder(self, drop: Path) -> None:
        sink = ElevoSink.to_directory(drop)
        assert sink.state_path == drop.with_name("drop.lucca-sync-state") / "elevo-state.json"

    def test_accepts_only_users_file_columns(self, sink: ElevoSink) -> None:
        assert sink.accepts_field("custom_site")
        assert not sink.accepts_field("manager_email")


EXPORT = (
    "uniq_identifier,email,registration_number,first_name,last_name\n"
    ",ada@acme.example,0001,Ada,Lovelace\n"
    ",hand.made@acme.example,,Hand,Made\n"
    "legacy-7,grace@acme.example,0007,Grace,Hopper\n"
)


class TestAdoption:
    """An Elevo export seeds unmanaged users: adopted by match, otherwise protected."""

    @pytest.fixture
    def export(self, tmp_path: Path) -> Path:
        path = tmp_path / "elevo-export.csv"
        path.write_text(EXPORT, encoding="utf-8")
        return path

    def test_export_users_are_unmanaged(
        self, make_sink: Callable[..., ElevoSink], export: Path
    ) -> None:
        sink = make_sink(adopt_from=export)
        users = {u.key: u for u in sink.users()}
        assert len(users) == 3
        assert not any(u.managed for u in users.values())
        assert users["legacy-7"].fields["registration_number"] == "0007"

    def test_unadopted_user_without_identifier_stops_the_publication(
        self, make_sink: Callable[..., ElevoSink], export: Path, drop: Path
    ) -> None:
        """hand.made cannot be named in the file: publishing would let Elevo suspend them."""
        sink = make_sink(adopt_from=export)
        lucca = [make_lucca_user(id=10, mail="ADA@acme.example", employeeNumber="0001")]
        with FakeLucca(users=lucca) as fake:
            directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
            with pytest.raises(SinkError, match="1 user\\(s\\) of the Elevo export"):
                first_sync(directory, sink, match_by=("email", "registration_number"))
        assert not (drop / "users.csv").exists()
        assert all(not user.managed for user in make_sink(adopt_from=export).users())

    def test_sync_adopts_by_email_and_protects_the_rest(
        self, make_sink: Callable[..., ElevoSink], export: Path, drop: Path
    ) -> None:
        sink = make_sink(adopt_from=export, omit_unidentified=True)
        lucca = [
            make_lucca_user(id=10, mail="ADA@acme.example", employeeNumber="0001"),
            make_lucca_user(id=11, mail="new@acme.example", employeeNumber="0011"),
        ]
        with FakeLucca(users=lucca) as fake:
            directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
            report = first_sync(directory, sink, match_by=("email", "registration_number"))
        assert report.counts["create"] == 1
        assert report.counts["update"] == 1
        by_key = {r["uniq_identifier"]: r for r in rows(drop)}
        assert sorted(by_key) == ["10", "11", "legacy-7"]
        assert by_key["10"]["email"] == "ADA@acme.example"
        assert by_key["legacy-7"]["skip"] == "true"  # hand-made user known by key: left alone
        assert "hand.made" not in (drop / "users.csv").read_text(encoding="utf-8")
        users = {u.key: u for u in make_sink().users()}  # persisted with the snapshot
        assert users["10"].managed
        assert not users["legacy-7"].managed
        assert sum(not u.managed for u in users.values()) == 2

    def test_export_is_ignored_once_a_state_exists(
        self, make_sink: Callable[..., ElevoSink], export: Path
    ) -> None:
        publish(make_sink(), person("1"))
        assert set(keys(make_sink(adopt_from=export))) == {"1"}
        with pytest.raises(SinkError, match="state"):
            make_sink().seed_from_export(export)

    def test_newcomer_with_an_unmanaged_users_email_is_refused(
        self, make_sink: Callable[..., ElevoSink], export: Path
    ) -> None:
        sink = make_sink(adopt_from=export, omit_unidentified=True)
        sink.begin()
        sink.create("12", person("12", email="Grace@acme.example"))
        refusals = sink.commit()
        assert "Elevo user legacy-7" in refusals["12"]


class TestEndToEnd:
    """A sync from an independent Lucca stub produces the file Elevo expects."""

    def test_company_sync_produces_a_valid_snapshot(
        self, make_sink: Callable[..., ElevoSink], drop: Path
    ) -> None:
        company = generate_company(40, seed=3)
        with FakeLucca(users=company) as fake:
            directory = lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))
            sink = make_sink()
            first = lucca_sync.plan(directory, sink, safety=lucca_sync.Safety.review_only())
            lucca_sync.apply(first, sink, expected_digest=first.digest)
            data = (drop / "users.csv").read_bytes()
            table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            header, body = table[0], table[1:]
            required = {
                "uniq_identifier",
                "first_name",
                "last_name",
                "email",
                "registration_number",
                "job_title",
                "department",
                "work_start_date",
                "manager_uniq_identifier",
            }
            assert required <= set(header)
            records = [dict(zip(header, line, strict=True)) for line in body]
            ids = {r["uniq_identifier"] for r in records}
            assert len(ids) == len(records)
            assert all(r["manager_uniq_identifier"] in ids | {""} for r in records)
            excluded = {exclusion.employee_id for exclusion in first.exclusions}
            assert excluded
            for user in fake.users:
                if user["id"] in excluded:
                    assert str(user["id"]) not in ids
                    assert str(user["mail"]) not in data.decode("utf-8")
            # Tick the skip flag of a synced employee: a skip row, without their data.
            chosen = next(r for r in records if r["manager_uniq_identifier"] == "")
            leaf = next(
                r
                for r in records
                if r["uniq_identifier"] not in {x["manager_uniq_identifier"] for x in records}
            )
            fake.update_user(
                int(leaf["uniq_identifier"]),
                extendedData={"e_skip_elevo_sync": {"id": 1, "value": True}},
            )
            lucca_sync.sync(directory, sink)
            after = {r["uniq_identifier"]: r for r in rows(drop)}
            assert after[leaf["uniq_identifier"]]["skip"] == "true"
            assert leaf["email"] not in (drop / "users.csv").read_text(encoding="utf-8")
            assert after[chosen["uniq_identifier"]]["skip"] == ""


class TestConformance:
    """ElevoSink passes the library's sink conformance suite."""

    def test_check_sink(self, tmp_path: Path) -> None:
        numbers = itertools.count()

        def factory() -> ElevoSink:
            folder = tmp_path / f"drop{next(numbers)}"
            folder.mkdir()
            return ElevoSink.to_directory(folder)

        def seed(sink: lucca_sync.Sink, user: TargetUser) -> None:
            export = tmp_path / f"export{next(numbers)}.csv"
            with export.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(sorted(user.fields))
                writer.writerow([user.fields[name] or "" for name in sorted(user.fields)])
            assert isinstance(sink, ElevoSink)
            sink.seed_from_export(export)

        result = check_sink(factory, seed=seed, transactional=True)
        assert not result.skipped
        assert "plan, apply, re-plan is empty" in result.passed


class TestProbe:
    """probe() proves the state folder and the drop folder with a test file, changing nothing."""

    def test_working_folders_have_no_problem_and_stay_empty(self, tmp_path: Path) -> None:
        (tmp_path / "drop").mkdir()
        (tmp_path / "state").mkdir()
        sink = ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")
        assert sink.probe() == ()
        assert list((tmp_path / "drop").iterdir()) == list((tmp_path / "state").iterdir()) == []

    def test_missing_drop_folder_and_unreadable_state_are_both_reported(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "state").mkdir()
        (tmp_path / "state" / "elevo-state.json").write_text("{not json", encoding="utf-8")
        sink = ElevoSink.to_directory(tmp_path / "drop", state_dir=tmp_path / "state")
        problems = sink.probe()
        assert len(problems) == 2
        assert "is not valid JSON" in problems[0]
        assert problems[1].startswith(f"the Elevo drop folder {tmp_path / 'drop'} does not exist")
