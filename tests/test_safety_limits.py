"""Limits that see across nightly runs and every kind of mass change (issue #18).

Each scenario runs several nights against a FakeLucca over loopback HTTP, the date moving one
day per night and the reader's clock a FakeClock (retries and pacing never really sleep).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fake_clock import FakeClock
from lucca_sync import (
    ApiKey,
    FieldMapping,
    LuccaDirectory,
    Plan,
    Safety,
    SafetyViolation,
    SyncReport,
    apply,
    plan,
    sync,
)
from lucca_sync._engine._plan_model import CONVERTER
from lucca_sync.cli._config import Config
from lucca_sync.cli._config_load import config_from_dict
from lucca_sync.exceptions import ConfigurationError, SafetyError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

FIRST_NIGHT = date(2025, 3, 3)
FLAG = "e_skip_elevo_sync"


def person(index: int, **fields: Any) -> dict[str, object]:
    fields.setdefault("jobTitle", "Analyst")
    return make_lucca_user(
        id=index,
        firstName=f"Zoé{index}",
        lastName="Martin",
        mail=f"p{index}@acme.example",
        dtContractStart="2020-01-06T00:00:00",
        dtContractEnd=None,
        manager=None,
        **fields,
    )


class Nights:
    """A FakeLucca, a sink, and a date that moves on by one day per run."""

    def __init__(self, fake: FakeLucca, sink: MemorySink | None = None) -> None:
        self.fake = fake
        self.sink = sink or MemorySink()
        self.clock = FakeClock()
        self.day = FIRST_NIGHT

    def directory(self) -> LuccaDirectory:
        return LuccaDirectory(
            self.fake.url,
            ApiKey(self.fake.api_key),
            page_size=100,
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    def plan(self, **options: object) -> Plan:
        self.fake.today = self.day
        return plan(self.directory(), self.sink, today=self.day, **options)  # type: ignore[arg-type]

    def run(self, **options: object) -> SyncReport:
        """One nightly sync; the date moves on whatever happens."""
        self.fake.today = self.day
        try:
            return sync(self.directory(), self.sink, today=self.day, **options)  # type: ignore[arg-type]
        finally:
            self.day += timedelta(days=1)

    def suspended(self) -> set[str]:
        return {user.key for user in self.sink.users() if user.suspended}


def company(size: int, **fields: Any) -> list[dict[str, object]]:
    return [person(index, **fields) for index in range(1, size + 1)]


@pytest.fixture
def nights() -> Iterator[Nights]:
    with FakeLucca(company(250), today=FIRST_NIGHT) as fake:
        runs = Nights(fake)
        runs.run()
        yield runs


class TestSalami:
    """Scenario 1: a few people vanish each night; the rolling window adds them up."""

    def test_five_removed_each_night_stop_well_before_ten_percent(self, nights: Nights) -> None:
        stopped: SafetyError | None = None
        gone = iter(range(1, 251))
        for _ in range(10):
            for _ in range(5):
                nights.fake.remove_user(next(gone))
            try:
                nights.run()
            except SafetyError as error:
                stopped = error
                break
        assert stopped is not None, "ten nights of 5 suspensions went through"
        assert stopped.limit == "window_suspensions"
        assert len(nights.suspended()) <= 12  # under 5 % of 250, and nothing of the refused run
        assert "last 7 day(s)" in str(stopped)

    def test_the_window_slides(self, nights: Nights) -> None:
        for first in (1, 6):
            for index in range(first, first + 5):
                nights.fake.remove_user(index)
            nights.run()
        for _ in range(6):
            nights.run()  # a quiet week: the first two nights leave the window
        for index in range(11, 16):
            nights.fake.remove_user(index)
        nights.run()
        assert len(nights.suspended()) == 15

    def test_a_refused_night_is_approved_by_its_digest_and_then_not_counted(
        self, nights: Nights
    ) -> None:
        for index in range(1, 11):
            nights.fake.remove_user(index)
            if index % 5 == 0:
                nights.run()
        for index in range(11, 16):
            nights.fake.remove_user(index)
        with pytest.raises(SafetyError) as caught:
            nights.plan()
        reviewed = nights.plan(safety=Safety.review_only())
        assert caught.value.digest == reviewed.digest
        apply(reviewed, nights.sink, expected_digest=reviewed.digest)
        assert len(nights.suspended()) == 15
        assert nights.sink.history[-1]["approved"] == ["window_suspensions"]
        nights.day += timedelta(days=1)
        nights.fake.remove_user(16)
        nights.fake.remove_user(17)
        nights.run()  # 10 unreviewed + 2: the approved five are not counted again
        assert len(nights.suspended()) == 17

    def test_a_sink_without_history_is_judged_by_the_run_alone(self) -> None:
        class Forgetful(MemorySink):
            def load_history(self) -> None:
                return None

        with FakeLucca(company(250), today=FIRST_NIGHT) as fake:
            runs = Nights(fake, Forgetful())
            runs.run()
            for index in range(1, 16):
                fake.remove_user(index)
                if index % 5 == 0:
                    runs.run()
        assert len(runs.suspended()) == 15


class TestMassReactivation:
    """Scenario 4: a vanished check box or vanished end dates bring many people back."""

    def test_a_skip_flag_vanishing_does_not_reactivate_the_suspended(self) -> None:
        ticked = {"extendedData": {FLAG: {"id": 1, "value": True}}}
        unticked = {"extendedData": {FLAG: {"id": 1, "value": False}}}
        users = [person(index, **(ticked if index <= 8 else unticked)) for index in range(1, 41)]
        with FakeLucca(users, today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.sink = MemorySink()
            for user in users:  # everyone synced first, then the flagged ones suspended
                fake.update_user(int(str(user["id"])), **unticked)
            runs.run(on_excluded="suspend")
            for index in range(1, 9):
                fake.update_user(index, **ticked)
            runs.run(on_excluded="suspend")
            assert len(runs.suspended()) == 8
            for index in range(1, 41):  # the key loses sight of the HR-folder section
                fake.update_user(index, extendedData={})
            with pytest.raises(SafetyError) as caught:
                runs.run(on_excluded="suspend")
        assert caught.value.limit == "hidden_skip_flag"
        assert "reactivated" in caught.value.violations[0].message
        assert len(runs.suspended()) == 8

    def test_a_leaver_back_is_no_hidden_flag_return_when_the_history_says_why(self) -> None:
        """A tenant without the check box: the history tells a rehire from an excluded return."""
        with FakeLucca(company(40), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run(on_excluded="suspend")
            fake.update_user(7, dtContractEnd="2025-03-01T00:00:00")
            runs.run(on_excluded="suspend")
            fake.update_user(7, dtContractEnd=None)
            report = runs.run(on_excluded="suspend")
        assert [r.key for r in report.plan.reactivations] == ["7"]
        assert any("appears on no employee" in w for w in report.plan.warnings)

    def test_contract_end_dates_vanishing_do_not_reactivate_every_leaver(self) -> None:
        with FakeLucca(company(60), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run()
            for index in range(1, 16):
                fake.update_user(index, dtContractEnd="2025-03-01T00:00:00")
            runs.run(safety=Safety(max_suspensions=20, max_window_suspensions=20))
            assert len(runs.suspended()) == 15
            for index in range(1, 16):  # the key loses sight of contract data
                fake.update_user(index, dtContractEnd=None)
            with pytest.raises(SafetyError) as caught:
                runs.run()
        assert (caught.value.limit, caught.value.observed, caught.value.allowed) == (
            "max_reactivations",
            15,
            10,
        )
        assert len(runs.suspended()) == 15

    def test_a_few_reactivations_each_night_add_up(self) -> None:
        with FakeLucca(company(100), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run()
            for index in range(1, 31):
                fake.update_user(index, dtContractEnd="2025-03-01T00:00:00")
            runs.run(safety=Safety(max_suspensions=30, max_window_suspensions=30))
            for _ in range(7):
                runs.run()  # a quiet week
            stopped: SafetyError | None = None
            for first in range(1, 31, 5):
                for index in range(first, first + 5):
                    fake.update_user(index, dtContractEnd=None)
                try:
                    runs.run()
                except SafetyError as error:
                    stopped = error
                    break
        assert stopped is not None
        assert stopped.limit == "window_reactivations"
        assert len(runs.suspended()) == 30 - 10


class TestMassUpdates:
    """Scenario 5: a field changed or cleared for many users, a mapping source that is empty."""

    def shirts(self, size: int) -> list[dict[str, object]]:
        return [
            person(index, extendedData={"e_tshirt_size": {"id": 7, "value": "M"}})
            for index in range(1, size + 1)
        ]

    def test_a_typo_in_a_mapping_source_is_refused_naming_the_field(self) -> None:
        right = FieldMapping.elevo_default().with_field(
            "custom_tshirt", "extendedData.e_tshirt_size"
        )
        typo = FieldMapping.elevo_default().with_field(
            "custom_tshirt", "extendedData.e_tshirt_sise"
        )
        with FakeLucca(self.shirts(12), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run(mapping=right)
            with pytest.raises(SafetyError) as caught:
                runs.run(mapping=typo)
        violation = caught.value.violations[0]
        assert (violation.limit, violation.field, violation.observed) == (
            "empty_field_source",
            "custom_tshirt",
            12,
        )
        assert "extendedData.e_tshirt_sise" in violation.message
        assert {user.fields["custom_tshirt"] for user in runs.sink.users()} == {"M"}

    def test_a_typo_on_the_first_run_is_reported_as_a_warning(self) -> None:
        typo = FieldMapping.elevo_default().with_field(
            "custom_tshirt", "extendedData.e_tshirt_sise"
        )
        with FakeLucca(self.shirts(3), today=FIRST_NIGHT) as fake:
            made = Nights(fake).plan(mapping=typo)
        assert any(
            "custom_tshirt" in warning and "e_tshirt_sise" in warning for warning in made.warnings
        )

    def test_one_field_changed_for_most_users_is_refused(self) -> None:
        with FakeLucca(company(100), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run()
            for index in range(1, 31):
                fake.update_user(index, jobTitle="Consultant")
            with pytest.raises(SafetyError) as caught:
                runs.run()
        assert (caught.value.limit, caught.value.violations[0].field) == (
            "max_field_changes",
            "job_title",
        )
        assert (caught.value.observed, caught.value.allowed) == (30, 25)

    def test_a_plan_with_a_field_violation_keeps_its_digest_through_json(self) -> None:
        with FakeLucca(company(100), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run()
            for index in range(1, 31):
                fake.update_user(index, jobTitle="Consultant")
            reviewed = runs.plan(safety=Safety(enforce=False))
        again = Plan.from_json(reviewed.to_json())
        assert again.violations[0].field == "job_title"
        assert again.digest == reviewed.digest

    def test_a_violation_without_a_field_is_written_as_before(self) -> None:
        violation = SafetyViolation(limit="max_suspensions", observed=11, allowed=10, message="m")
        assert "field" not in CONVERTER.unstructure(violation)

    def test_filling_empty_values_is_not_a_mass_change(self) -> None:
        with FakeLucca(company(100, jobTitle=None), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run()
            for index in range(1, 101):
                fake.update_user(index, jobTitle="Consultant")
            report = runs.run()
        assert report.counts["update"] == 100


class TestIncrementalReconciles:
    """Scenario 6: incremental runs read everyone at least every few runs or days."""

    def test_a_check_box_ticked_without_a_modification_date_is_seen_within_a_week(self) -> None:
        with FakeLucca(company(30), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            runs.run(mode="incremental")
            stamp = next(u["modifiedAt"] for u in fake.users if u["id"] == 5)
            # Lucca does not stamp HR-folder check boxes as a modification of the user.
            fake.update_user(5, extendedData={FLAG: {"id": 1, "value": True}}, modifiedAt=stamp)
            seen_on = None
            for _ in range(7):
                day = runs.day
                report = runs.run(mode="incremental", full_every=100)
                if report.plan.excludes:
                    seen_on = day
                    break
        assert seen_on == FIRST_NIGHT + timedelta(days=7)
        assert report.plan.stats.mode == "full"
        assert "at least every 7 days" in report.plan.stats.mode_reason

    def test_incremental_mode_also_reads_everyone_every_full_every_runs(self) -> None:
        with FakeLucca(company(30), today=FIRST_NIGHT) as fake:
            runs = Nights(fake)
            modes = []
            for _ in range(5):
                report = runs.run(mode="incremental", full_every=3)
                modes.append(report.plan.stats.mode)
        assert modes == ["full", "incremental", "incremental", "full", "incremental"]


class TestConfiguration:
    """Every limit is set in Safety(...) and in the [safety] table; [sync] full_every_days."""

    BASE: ClassVar[dict[str, Any]] = {
        "lucca": {"url": "https://acme.ilucca.net"},
        "sink": {"type": "directory", "path": "drop", "state_dir": "state"},
    }

    def load(self, **sections: Any) -> Config:
        return config_from_dict({**self.BASE, **sections}, path=Path("/etc/lucca-sync.toml"))

    def test_the_safety_table_sets_every_new_limit(self) -> None:
        limits: dict[str, Any] = {
            "max_reactivations": 3,
            "max_reactivation_ratio": 0.01,
            "max_excludes": 4,
            "max_exclude_ratio": 0,
            "max_field_changes": 50,
            "max_field_change_ratio": 0.5,
            "window_days": 14,
            "max_window_suspensions": 30,
            "max_window_suspension_ratio": 0.02,
            "max_window_reactivations": 5,
            "max_window_reactivation_ratio": 0.02,
            "max_not_visible": 2,
        }
        assert self.load(safety=limits).safety == Safety(**limits)

    def test_a_bad_limit_is_named_by_its_key_in_the_file(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            self.load(safety={"window_days": -1, "max_window_suspension_ratio": 3})
        assert any(problem.startswith("safety.window_days") for problem in caught.value.problems)

    def test_full_every_days_is_a_plan_option(self) -> None:
        options = self.load(sync={"mode": "incremental", "full_every_days": 3}).plan_options()
        assert options["full_every_days"] == 3
        with pytest.raises(ConfigurationError, match=r"sync\.full_every_days"):
            self.load(sync={"full_every_days": 0})
