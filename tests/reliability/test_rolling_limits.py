"""A month of nightly runs with random departures: the rolling limit is never exceeded.

Hypothesis removes employees from Lucca's answer (lost rights), ends contracts and hires,
night after night, over real HTTP into a MemorySink. Refused nights are sometimes approved by
their digest, as an operator would after review. Whatever happens, the suspensions of the
unreviewed runs of any seven consecutive days never exceed the rolling limit computed for the
night that made them.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fake_clock import FakeClock
from lucca_sync import LuccaDirectory, Safety, apply, plan, sync
from lucca_sync.exceptions import SafetyError
from lucca_sync.testing import FakeLucca, MemorySink, make_lucca_user

from ._support import directory

START = date(2025, 2, 3)
SIZE = 120
SAFETY = Safety()


def person(user_id: int) -> dict[str, object]:
    return make_lucca_user(
        id=user_id,
        firstName=f"Zoé{user_id}",
        lastName="Martin",
        mail=f"p{user_id}@acme.example",
        jobTitle="Analyst",
        dtContractStart="2020-01-06T00:00:00",
        dtContractEnd=None,
        manager=None,
    )


@attrs.frozen
class Night:
    day: date
    suspended: int
    approved: bool
    managed_active: int


class Month(RuleBasedStateMachine):
    """Nightly runs for a month; departures come a few at a time, or in bursts."""

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeLucca([person(i) for i in range(1, SIZE + 1)], today=START).start()
        self.sink = MemorySink()
        self.clock = FakeClock()
        self.day = START
        self.next_id = SIZE + 1
        self.nights: list[Night] = []
        #: The employees still under contract and visible, kept here rather than read back.
        self.active = list(range(1, SIZE + 1))
        sync(self._directory(), self.sink, today=self.day)
        self.day += timedelta(days=1)

    def teardown(self) -> None:
        self.fake.close()

    def _directory(self) -> LuccaDirectory:
        return directory(self.fake, self.clock, page_size=1000)

    def _managed_active(self) -> int:
        return sum(1 for user in self.sink.users() if user.managed and not user.suspended)

    @rule(
        # Positions into this machine's own list of employees, not employees drawn from the
        # fake server's state: the same draws replay the same way, so a failure shrinks.
        vanish=st.lists(st.integers(min_value=0, max_value=SIZE), max_size=6),
        leave=st.lists(st.integers(min_value=0, max_value=SIZE), max_size=4),
        hires=st.integers(min_value=0, max_value=3),
        approve=st.booleans(),
    )
    def night(self, vanish: list[int], leave: list[int], hires: int, approve: bool) -> None:
        # Each position picks one of those still here; a month of departures can empty the
        # company, and nobody is left to pick then.
        gone = [
            self.active.pop(position % len(self.active))
            for position in [*vanish, *leave]
            if self.active
        ]
        for user_id in gone[: len(vanish)]:
            self.fake.remove_user(user_id)
        for user_id in gone[len(vanish) :]:
            ended = (self.day - timedelta(days=1)).isoformat()
            self.fake.update_user(user_id, dtContractEnd=f"{ended}T00:00:00")
        for _ in range(hires):
            self.fake.add_user(person(self.next_id))
            self.active.append(self.next_id)
            self.next_id += 1
        self.fake.today = self.day
        managed = self._managed_active()
        logged = len(self.sink.log)
        try:
            report = sync(self._directory(), self.sink, today=self.day, safety=SAFETY)
        except SafetyError:
            assert self.sink.log[logged:] == []  # a refused night writes nothing
            if approve:
                reviewed = plan(
                    self._directory(),
                    self.sink,
                    today=self.day,
                    safety=attrs.evolve(SAFETY, enforce=False),
                )
                done = apply(reviewed, self.sink, expected_digest=reviewed.digest)
                self.nights.append(Night(self.day, done.counts["suspend"], True, managed))
        else:
            self.nights.append(Night(self.day, report.counts["suspend"], False, managed))
        self.day += timedelta(days=1)

    @invariant()
    def unreviewed_suspensions_stay_within_the_rolling_limit(self) -> None:
        for index, night in enumerate(self.nights):
            if night.approved or not night.suspended:
                continue
            since = night.day - timedelta(days=SAFETY.window_days - 1)
            total = sum(
                earlier.suspended
                for earlier in self.nights[: index + 1]
                if earlier.day >= since and not earlier.approved
            )
            assert total <= SAFETY.window_suspension_limit(night.managed_active)


# A month is 30 nights: the smallest run is long by design. Each night is a few HTTP round
# trips, so a failure must be reported within the test timeout: no explain phase (it traces
# every line of every night again, for minutes), and on CI no shrinking either — the example
# found is reported as it is.
Month.TestCase.settings = settings(
    max_examples=6,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.large_base_example],
    phases=[
        phase
        for phase in Phase
        if phase is not Phase.explain and not (phase is Phase.shrink and os.environ.get("CI"))
    ],
)


#: Over a month of random nights, the rolling window holds without an approved digest.
TestMonth = Month.TestCase
