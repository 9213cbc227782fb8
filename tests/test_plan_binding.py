"""A reviewed plan is bound to the target generation, the sync state and the day it was made."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import pytest

import lucca_sync
from lucca_sync import Plan, Safety, TargetUser
from lucca_sync.elevo import ElevoSink
from lucca_sync.exceptions import ConfigurationError, PlanMismatchError, StalePlanError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

TODAY = date(2025, 3, 10)
LEAVER = 5


def company() -> list[dict[str, object]]:
    """Ten people: a CEO (1) and nine reports."""
    return [
        make_lucca_user(
            id=n, firstName=f"Prénom{n}", lastName="Durand", manager=None if n == 1 else 1
        )
        for n in range(1, 11)
    ]


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(company(), today=TODAY) as server:
        yield server


@pytest.fixture
def directory(fake: FakeLucca) -> lucca_sync.LuccaDirectory:
    return lucca_sync.LuccaDirectory(fake.url, lucca_sync.ApiKey(fake.api_key))


def wire_day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def elevo(tmp_path: Path) -> ElevoSink:
    """A new sink object on the same folders each time: a new process, in effect."""
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    return ElevoSink.to_directory(drop, state_dir=tmp_path / "state")


def published_keys(tmp_path: Path) -> set[str]:
    text = (tmp_path / "drop" / "users.csv").read_text(encoding="utf-8")
    return {row["uniq_identifier"] for row in csv.DictReader(io.StringIO(text, newline=""))}


class Unversioned(MemorySink):
    """A sink that keeps no generation (the Sink default)."""

    def generation(self) -> None:  # type: ignore[override]
        return None


def publish_first(directory: lucca_sync.LuccaDirectory, tmp_path: Path) -> None:
    """The first file to the account: reviewed, then applied by its digest."""
    sink = elevo(tmp_path)
    first = lucca_sync.plan(directory, sink, today=TODAY, safety=Safety.review_only())
    assert [violation.limit for violation in first.violations] == ["first_publication"]
    lucca_sync.apply(first, sink, expected_digest=first.digest)


class TestReplayedPlan:
    """A plan applies once, to the generation of the target it was made against."""

    def test_a_replayed_plan_does_not_suspend_a_reactivated_user_again(
        self, tmp_path: Path, fake: FakeLucca, directory: lucca_sync.LuccaDirectory
    ) -> None:
        publish_first(directory, tmp_path)
        # The leaver's suspension is reviewed, saved and applied by its digest.
        fake.update_user(LEAVER, dtContractEnd=wire_day(TODAY - timedelta(days=2)))
        reviewed = lucca_sync.plan(directory, elevo(tmp_path), today=TODAY)
        assert [s.key for s in reviewed.suspensions] == [str(LEAVER)]
        plan_file = tmp_path / "plan.json"
        plan_file.write_text(reviewed.to_json(), encoding="utf-8")
        digest = reviewed.digest
        loaded = Plan.from_json(plan_file.read_text(encoding="utf-8"))
        lucca_sync.apply(loaded, elevo(tmp_path), expected_digest=digest)
        assert str(LEAVER) not in published_keys(tmp_path)
        # The departure was a mistake: Lucca is corrected, the next run reactivates them.
        fake.update_user(LEAVER, dtContractEnd=None)
        back = lucca_sync.sync(directory, elevo(tmp_path), today=TODAY)
        assert back.counts["reactivate"] == 1
        # Replaying the approved file days later must not suspend them again.
        replayed = Plan.from_json(plan_file.read_text(encoding="utf-8"))
        with pytest.raises(
            StalePlanError, match=r"planned against generation 1, target is now at 3"
        ):
            lucca_sync.apply(replayed, elevo(tmp_path), expected_digest=digest)
        assert str(LEAVER) in published_keys(tmp_path)

    def test_the_message_says_to_plan_again_and_nothing_was_written(self) -> None:
        sink = MemorySink()
        made = lucca_sync.plan(
            [lucca_sync.Employee(id=1, first_name="A", last_name="B", email="a@x.example")],
            sink,
            rules=(),
            today=TODAY,
        )
        sink.users_by_key["9"] = TargetUser(key="9", fields={"uniq_identifier": "9"})
        with pytest.raises(StalePlanError) as raised:
            lucca_sync.apply(made, sink)
        assert "plan again" in str(raised.value)
        assert "nothing was written" in str(raised.value)
        assert not sink.log

    def test_an_edited_generation_breaks_the_digest(self, tmp_path: Path) -> None:
        sink = elevo(tmp_path)
        made = lucca_sync.plan([], sink, rules=(), today=TODAY, safety=Safety.review_only())
        data = json.loads(made.to_json())
        data["target_generation"] = 7
        with pytest.raises(PlanMismatchError, match="edited"):
            Plan.from_json(json.dumps(data))

    def test_a_plan_of_a_sink_without_generation_is_not_bound(self) -> None:
        sink = Unversioned()
        made = lucca_sync.plan([], sink, rules=(), today=TODAY)
        assert made.target_generation is None
        assert lucca_sync.apply(made, sink).ok

    def test_a_bound_plan_is_refused_by_a_sink_that_reports_no_generation(self) -> None:
        made = lucca_sync.plan([], MemorySink(), rules=(), today=TODAY)
        with pytest.raises(StalePlanError, match="reports no generation"):
            lucca_sync.apply(made, Unversioned())


class TestSyncStateUnderApproval:
    """The sync state a plan saves is covered by its digest: it cannot be edited under approval."""

    def test_a_sync_state_edited_in_the_file_is_refused_when_read(
        self, tmp_path: Path, directory: lucca_sync.LuccaDirectory
    ) -> None:
        made = lucca_sync.plan(directory, elevo(tmp_path), today=TODAY, safety=Safety.review_only())
        assert made.sync_state is not None
        data = json.loads(made.to_json())
        data["sync_state"]["runs_since_full"] = 0
        data["sync_state"]["watermark"] = "2999-01-01T00:00:00"
        with pytest.raises(PlanMismatchError, match="edited after it was written"):
            Plan.from_json(json.dumps(data))

    def test_a_sync_state_edited_with_a_recomputed_digest_is_not_the_reviewed_plan(
        self, tmp_path: Path, directory: lucca_sync.LuccaDirectory
    ) -> None:
        sink = elevo(tmp_path)
        reviewed = lucca_sync.plan(directory, sink, today=TODAY, safety=Safety.review_only())
        assert reviewed.sync_state is not None
        forged_state = attrs.evolve(reviewed.sync_state, population={})
        forged = Plan.from_json(attrs.evolve(reviewed, sync_state=forged_state).to_json())
        with pytest.raises(PlanMismatchError, match="not the reviewed plan"):
            lucca_sync.apply(forged, sink, expected_digest=reviewed.digest)
        assert not (tmp_path / "drop" / "users.csv").exists()


class TestDayOfTheRun:
    """The day a plan is for dates its run in the history: it cannot be edited under approval."""

    def test_a_plan_file_moved_to_another_day_is_refused_when_read(
        self, tmp_path: Path, fake: FakeLucca, directory: lucca_sync.LuccaDirectory
    ) -> None:
        publish_first(directory, tmp_path)
        fake.remove_user(LEAVER)
        reviewed = lucca_sync.plan(directory, elevo(tmp_path), today=TODAY)
        assert reviewed.suspensions
        data = json.loads(reviewed.to_json())
        data["today"] = "2000-01-01"  # out of every rolling window
        with pytest.raises(PlanMismatchError, match="edited after it was written"):
            Plan.from_json(json.dumps(data))

    @pytest.mark.parametrize("shift", [timedelta(days=-400), timedelta(days=1)])
    def test_any_other_day_changes_the_digest(self, shift: timedelta) -> None:
        made = lucca_sync.plan([], MemorySink(), rules=(), today=TODAY)
        for made_for in (TODAY, made.created_at.astimezone(UTC).date()):
            planned = attrs.evolve(made, today=made_for)
            assert attrs.evolve(planned, today=made_for + shift).digest != planned.digest


class TestExpiry:
    """A plan older than max_age (a day by default) is refused; so is one from the future."""

    def aged(self, age: timedelta) -> tuple[Plan, MemorySink]:
        sink = MemorySink()
        made = lucca_sync.plan(
            [lucca_sync.Employee(id=1, first_name="A", last_name="B", email="a@x.example")],
            sink,
            rules=(),
            today=TODAY,
        )
        return attrs.evolve(made, created_at=datetime.now(UTC) - age), sink

    def test_a_plan_older_than_a_day_is_refused(self) -> None:
        old, sink = self.aged(timedelta(hours=25))
        with pytest.raises(StalePlanError, match=r"made 25 h ago.*more than the 24 h"):
            lucca_sync.apply(old, sink, expected_digest=old.digest)
        assert not sink.log

    def test_a_plan_of_a_few_hours_applies(self) -> None:
        recent, sink = self.aged(timedelta(hours=3))
        assert lucca_sync.apply(recent, sink).counts["create"] == 1

    def test_max_age_sets_the_limit(self) -> None:
        old, sink = self.aged(timedelta(hours=25))
        assert lucca_sync.apply(old, sink, max_age=timedelta(days=2)).counts["create"] == 1
        old, sink = self.aged(timedelta(minutes=30))
        with pytest.raises(StalePlanError, match="30 min ago"):
            lucca_sync.apply(old, sink, max_age=timedelta(minutes=10))

    def test_no_limit_with_none(self) -> None:
        old, sink = self.aged(timedelta(days=30))
        assert lucca_sync.apply(old, sink, max_age=None).counts["create"] == 1

    def test_a_plan_from_the_future_is_refused(self) -> None:
        future, sink = self.aged(-timedelta(hours=2))
        with pytest.raises(StalePlanError, match="in the future"):
            lucca_sync.apply(future, sink)

    def test_a_plan_moved_to_another_day_changes_its_digest(self) -> None:
        made, _ = self.aged(timedelta(0))
        assert attrs.evolve(made, created_at=made.created_at - timedelta(days=1)).digest != (
            made.digest
        )

    @pytest.mark.parametrize("bad", [timedelta(0), timedelta(hours=-1), 24])
    def test_max_age_must_be_a_positive_duration(self, bad: object) -> None:
        made, sink = self.aged(timedelta(0))
        with pytest.raises(ConfigurationError, match="max_age"):
            lucca_sync.apply(made, sink, max_age=bad)  # type: ignore[arg-type]


class TestSameDigestWhenPlannedAgain:
    """Planning twice the same day against the same states gives the same digest."""

    def test_a_reviewed_plan_made_again_is_approved_by_its_digest(
        self, tmp_path: Path, fake: FakeLucca, directory: lucca_sync.LuccaDirectory
    ) -> None:
        publish_first(directory, tmp_path)
        for user_id in (3, 4):
            fake.update_user(user_id, dtContractEnd=wire_day(TODAY - timedelta(days=1)))
        reviewed = lucca_sync.plan(
            directory,
            elevo(tmp_path),
            today=TODAY,
            mode="auto",
            safety=Safety(max_suspensions=1, enforce=False),
        )
        assert reviewed.sync_state is not None
        assert reviewed.violations
        report = lucca_sync.sync(
            directory,
            elevo(tmp_path),
            today=TODAY,
            mode="auto",
            safety=Safety(max_suspensions=1, approved_digest=reviewed.digest),
        )
        assert report.counts["suspend"] == 2


class TestGenerations:
    """Sinks count the changes of their users."""

    def test_elevo_counts_publications_and_remembers_them(self, tmp_path: Path) -> None:
        sink = elevo(tmp_path)
        assert sink.generation() == 0
        sink.create("1", {"uniq_identifier": "1", "email": "a@x.example"})
        sink.commit()
        assert sink.generation() == 1
        sink.begin()
        sink.commit()  # nothing changed: nothing delivered
        assert sink.generation() == 1
        sink.close()  # reading the state takes its lock; another sink waits for it
        assert elevo(tmp_path).generation() == 1

    def test_a_state_written_before_generations_counts_as_one_publication(
        self, tmp_path: Path
    ) -> None:
        sink = elevo(tmp_path)
        sink.create("1", {"uniq_identifier": "1", "email": "a@x.example"})
        sink.commit()
        document = json.loads(sink.state_path.read_text(encoding="utf-8"))
        del document["generation"]
        sink.state_path.write_text(json.dumps(document), encoding="utf-8")
        assert elevo(tmp_path).generation() == 1

    def test_memory_sink_sees_edits_made_behind_its_back(self) -> None:
        sink = MemorySink()
        assert sink.generation() == sink.generation() == 0
        sink.users_by_key["1"] = TargetUser(key="1")
        assert sink.generation() == 1
        sink.suspend("1")
        assert sink.generation() == 2
