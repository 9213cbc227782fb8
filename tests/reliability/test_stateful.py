"""A directory that changes between nightly runs, with faults in between: the target converges.

Hypothesis drives hires, leavers, title changes and skip-flag ticks in a FakeLucca, and runs
syncs through real HTTP (LuccaDirectory, 3 users per page) into a MemorySink, injecting a fault
on a random page of some runs. After every run the target must hold exactly what the model
says; a run that fails must have written nothing; no suspension may ever come from a fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fake_clock import FakeClock
from lucca_sync import sync
from lucca_sync.exceptions import LuccaSyncError
from lucca_sync.testing import FakeLucca, MemorySink, RecordedRequest

from ._support import (
    TODAY,
    State,
    directory,
    ended,
    paging_offset,
    person,
    state_of,
)

FLAG = "e_skip_elevo_sync"
RECOVERABLE = ("429x2", "reset", "503x2", "truncated")
UNRECOVERABLE = ("503-forever", "401", "invalid-json")


def flagged(user: Mapping[str, object]) -> bool:
    extended = user.get("extendedData")
    entry = extended.get(FLAG) if isinstance(extended, dict) else None
    return isinstance(entry, dict) and entry.get("value") is True


def model(lucca: list[dict[str, object]], before: State) -> State:
    """The target after a complete run from ``before``, from the product rules."""
    listed = {str(user["id"]): user for user in lucca}
    after: State = {}
    for key, user in listed.items():
        title = user.get("jobTitle")
        assert isinstance(title, str)
        if ended(user):
            if key in before:
                after[key] = (False, before[key][1])  # a leaver: suspended as they were
        elif flagged(user):
            if key in before:
                after[key] = before[key]  # excluded: left as it is in the target
        else:
            after[key] = (True, title)
    return after


def inject(fake: FakeLucca, fault: str) -> None:
    actions: dict[str, Callable[[], None]] = {
        "429x2": lambda: fake.fail_next(429, times=2),
        "reset": fake.reset_next,
        "503x2": lambda: fake.fail_next(503, times=2),
        "truncated": fake.truncate_next,
        "503-forever": lambda: fake.fail_next(503, times=50),
        "401": lambda: fake.fail_next(401),
        "invalid-json": fake.invalid_json_next,
    }
    actions[fault]()


class NightlyRuns(RuleBasedStateMachine):
    """Nightly syncs of a changing directory, some of them hit by a fault."""

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeLucca([person(index) for index in range(7)], today=TODAY).start()
        self.sink = MemorySink()
        self.clock = FakeClock()
        self.next_index = 7
        self.fault: tuple[str, int] | None = None
        self.runs = 0

    def teardown(self) -> None:
        self.fake.close()

    def _current(self) -> list[int]:
        return sorted(int(str(user["id"])) for user in self.fake.users if not ended(user))

    @rule()
    def hire(self) -> None:
        self.fake.add_user(person(self.next_index))
        self.next_index += 1

    @precondition(lambda self: len(self._current()) > 3)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        user_id = data.draw(st.sampled_from(self._current()))
        self.fake.update_user(user_id, dtContractEnd="2025-01-10T00:00:00")

    @rule(data=st.data(), title=st.sampled_from(["Analyst", "Lead", "Head of Sales", "=1+1"]))
    def retitle(self, data: st.DataObject, title: str) -> None:
        self.fake.update_user(data.draw(st.sampled_from(self._current())), jobTitle=title)

    @rule(data=st.data(), ticked=st.booleans())
    def tick_skip_flag(self, data: st.DataObject, ticked: bool) -> None:
        user_id = data.draw(st.sampled_from(self._current()))
        self.fake.update_user(user_id, extendedData={FLAG: {"id": 1, "value": ticked}})

    @rule(
        fault=st.sampled_from(RECOVERABLE + UNRECOVERABLE),
        page=st.integers(min_value=0, max_value=2),
    )
    def arm_fault(self, fault: str, page: int) -> None:
        self.fault = (fault, page)

    @rule()
    def nightly_run(self) -> None:
        before = state_of(self.sink)
        logged = len(self.sink.log)
        lucca = self.fake.users
        fired: list[str] = []
        if self.fault is not None:
            fault, page = self.fault
            requests: list[int] = []

            def hook(request: RecordedRequest) -> None:
                if paging_offset(request) is None:
                    return
                requests.append(1)
                if len(requests) == page + 1:
                    fired.append(fault)
                    inject(self.fake, fault)

            self.fake.before_response = hook
        try:
            sync(directory(self.fake, self.clock, page_size=3, retries=2), self.sink, today=TODAY)
        except LuccaSyncError:
            assert fired
            assert fired[0] in UNRECOVERABLE
            assert state_of(self.sink) == before  # nothing written
            assert self.sink.log[logged:] == []
        else:
            assert not fired or fired[0] in RECOVERABLE
            assert state_of(self.sink) == model(lucca, before)
            # Every suspension is a real departure, never a fault's doing.
            gone = {str(user["id"]) for user in lucca if ended(user)}
            suspended = {op.key for op in self.sink.log[logged:] if op.name == "suspend"}
            assert suspended <= gone
        finally:
            self.fake.before_response = None
            self.fake.clear_faults()
            self.fault = None
            self.runs += 1

    @invariant()
    def never_more_users_than_lucca_knows(self) -> None:
        known = {str(user["id"]) for user in self.fake.users}
        assert set(state_of(self.sink)) <= known


NightlyRuns.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None)


#: Target state converges to the model; faults never cause suspensions.
TestNightlyRuns = NightlyRuns.TestCase
