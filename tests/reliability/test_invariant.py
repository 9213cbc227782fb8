"""The invariant of issue #17, as a state machine: no identifier leaves Elevo's file uncounted.

Hypothesis drives a FakeLucca (hires, leavers, people who vanish, skip flags, new titles), an
Elevo account that already holds users (an adoption export, some with identifiers of their
own), and what goes wrong around an unattended sync: the state folder lost, the process killed
between the delivery and the state's record, a second run starting while one holds the state.
Every run is a new ``ElevoSink`` on the same folders (a new process each night), planned for
review and approved by digest. After every publication, each ``uniq_identifier`` of the
previous file must be in the new one, or suspended by the plan that published it.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fake_clock import FakeClock
from lucca_sync import Plan, Safety, TargetUser, apply, plan
from lucca_sync.elevo import ElevoSink, StateLockedError, StateRecoveryError, _state
from lucca_sync.testing import FakeLucca

from ._support import TODAY, Crash, directory, employee_id
from ._support import person as support_person

FLAG = "e_skip_elevo_sync"


def person(index: int) -> dict[str, object]:
    """Everyone reports to the first employee."""
    return support_person(index, manager=None if index == 0 else employee_id(0))


def published(drop: Path) -> set[str]:
    """The identifiers the users file at ``drop`` names (rows and skip rows)."""
    path = drop / "users.csv"
    if not path.exists():
        return set()
    text = path.read_bytes().decode("utf-8")
    return {row["uniq_identifier"] for row in csv.DictReader(io.StringIO(text))}


def counted(made: Plan, target: dict[str, TargetUser]) -> set[str]:
    """The identifiers a plan suspends (an adopted user's own identifier, else its key)."""
    identifiers = set()
    for suspension in made.suspensions:
        user = target.get(suspension.key)
        kept = None if user is None else user.fields.get("uniq_identifier")
        identifiers.add(kept or suspension.key)
    return identifiers


class ElevoNights(RuleBasedStateMachine):
    """Nightly runs into one Elevo account, with everything that goes wrong around them."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="lucca-sync-invariant-"))
        self.drop = self.folder / "drop"
        self.drop.mkdir()
        self.fake = FakeLucca([person(index) for index in range(6)], today=TODAY).start()
        self.clock = FakeClock()
        self.next_index = 6
        self.export: Path | None = None
        # What Elevo holds before the first file: the identified users of the export.
        self.holds: set[str] = set()
        self.state_lost = False

    def teardown(self) -> None:
        self.fake.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @initialize(
        adopted=st.lists(st.integers(min_value=0, max_value=5), unique=True, max_size=3),
        strangers=st.integers(min_value=0, max_value=2),
    )
    def elevo_already_holds(self, adopted: list[int], strangers: int) -> None:
        """Elevo holds some employees under identifiers of its own, and people Lucca lacks."""
        lines = ["uniq_identifier,email,first_name"]
        lines += [f"legacy-{index},P{index}@acme.example,Old{index}" for index in adopted]
        lines += [f"ext-{number},ext{number}@partner.example,Ext" for number in range(strangers)]
        self.holds = {line.split(",")[0] for line in lines[1:]}
        if len(lines) > 1:
            self.export = self.folder / "elevo-export.csv"
            self.export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def sink(self) -> ElevoSink:
        return ElevoSink.to_directory(
            self.drop, state_dir=self.folder / "state", adopt_from=self.export
        )

    def _current(self) -> list[int]:
        return [int(str(user["id"])) for user in self.fake.users if not user.get("dtContractEnd")]

    # -- Lucca changes --------------------------------------------------------------------------

    @rule()
    def hire(self) -> None:
        self.fake.add_user(person(self.next_index))
        self.next_index += 1

    @precondition(lambda self: len(self._current()) > 2)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        user_id = data.draw(st.sampled_from(self._current()[1:]))
        self.fake.update_user(user_id, dtContractEnd="2025-01-10T00:00:00")

    @precondition(lambda self: len(self._current()) > 2)
    @rule(data=st.data())
    def vanish(self, data: st.DataObject) -> None:
        """Gone from Lucca without a contract end (what lost API-key rights look like)."""
        self.fake.remove_user(data.draw(st.sampled_from(self._current()[1:])))

    @precondition(lambda self: self._current())
    @rule(data=st.data(), ticked=st.booleans())
    def tick_skip_flag(self, data: st.DataObject, ticked: bool) -> None:
        user_id = data.draw(st.sampled_from(self._current()))
        self.fake.update_user(user_id, extendedData={FLAG: {"id": 1, "value": ticked}})

    @precondition(lambda self: self._current())
    @rule(data=st.data(), title=st.sampled_from(["Lead", "Head of Sales"]))
    def retitle(self, data: st.DataObject, title: str) -> None:
        self.fake.update_user(data.draw(st.sampled_from(self._current())), jobTitle=title)

    # -- what goes wrong around the sync -------------------------------------------------------

    @rule()
    def lose_state(self) -> None:
        shutil.rmtree(self.folder / "state", ignore_errors=True)
        self.state_lost = (self.drop / "users.csv").exists()

    @precondition(lambda self: self.state_lost)
    @rule()
    def rebuild_from_the_published_file(self) -> None:
        with self.sink() as sink:
            sink.rebuild_state()
        self.state_lost = False

    @rule()
    def second_run_while_one_holds_the_state(self) -> None:
        before = (self.drop / "users.csv").read_bytes() if published(self.drop) else None
        with self.sink() as holder:
            try:
                holder.first_publication()  # takes the lock, as planning does
            except StateRecoveryError:
                return
            with pytest.raises(StateLockedError):
                self._run()
        after = (self.drop / "users.csv").read_bytes() if published(self.drop) else None
        assert after == before

    @rule(crash=st.booleans())
    def nightly_run(self, crash: bool) -> None:
        with pytest.MonkeyPatch.context() as patch:
            if crash:
                # The process dies after the delivery, before the state records it.
                patch.setattr(_state.StateStore, "confirm", _die)
            try:
                self._run()
            except Crash:
                assert crash

    def _run(self) -> None:
        # The baseline: the last file published, or before the first one what Elevo holds.
        before = published(self.drop) or self.holds
        with self.sink() as sink:
            try:
                target = {user.key: user for user in sink.users()}
            except StateRecoveryError:
                assert self.state_lost  # a lost state with a published file stops the run
                return
            assert not self.state_lost
            made = plan(
                directory(self.fake, self.clock),
                sink,
                today=TODAY,
                match_by=("email",),
                safety=Safety.review_only(),
            )
            if any(v.limit == "first_publication" for v in made.violations):
                # Never a "first" publication over an earlier file.
                assert not (self.drop / "users.csv").exists()
            try:
                # The reviewer approves every plan: its suspensions are counted, and that
                # is all the invariant asks.
                apply(made, sink, expected_digest=made.digest)
            finally:
                after = published(self.drop) or before
                assert before - after <= counted(made, target), (before - after, made)

    @invariant()
    def every_identifier_is_unique_in_the_file(self) -> None:
        path = self.drop / "users.csv"
        if path.exists():
            text = path.read_bytes().decode("utf-8")
            keys = [row["uniq_identifier"] for row in csv.DictReader(io.StringIO(text))]
            assert len(keys) == len(set(keys))


def _die(self: object) -> None:
    raise Crash


ElevoNights.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)

#: No run, however it ends, publishes a file that drops an identifier its plan did not count.
TestElevoNights = ElevoNights.TestCase
