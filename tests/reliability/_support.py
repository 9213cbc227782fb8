"""Shared scaffolding of the reliability suite: the company, the clock, the fault hook, the oracle.

The oracle (:func:`expected_state`) is written from the product rules, not from the engine: an
employee whose contract has not ended is an active user with their Lucca job title; one whose
contract ended, or who is no longer listed, is suspended if the target held them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path

import attrs

from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory, Safety, Sink, SyncReport, apply, plan, sync
from lucca_sync.elevo import ElevoSink
from lucca_sync.testing import FakeLucca, RecordedRequest, make_lucca_user

TODAY = date(2025, 1, 15)
COMPANY_SIZE = 250
PAGE_SIZE = 100
#: Offsets of the pages of a 250-employee read with page_size=100 (pages overlap by one row).
PAGE_OFFSETS = (0, 99, 198)
FIRST_ID = 1000


class Crash(BaseException):
    """The process dies here (not an Exception: nothing in the library may swallow it)."""


def employee_id(index: int) -> int:
    """Ids leave gaps (1000, 1002, …) so that a hire can be slotted in between."""
    return FIRST_ID + 2 * index


def person(index: int, *, manager: int | None = None) -> dict[str, object]:
    """An active employee of the fixed company shape, ``index`` their place in it."""
    return make_lucca_user(
        id=employee_id(index),
        firstName=f"Zoé{index}",
        lastName="Martin",
        mail=f"p{index}@acme.example",
        jobTitle="Analyst",
        dtContractStart="2020-01-06T00:00:00",
        dtContractEnd=None,
        manager=manager,
    )


def company(size: int = COMPANY_SIZE) -> list[dict[str, object]]:
    """``size`` active employees with unique e-mails; the first ten manage the others."""
    users = []
    for index in range(size):
        manager = None if index == 0 else employee_id((index - 1) % 10 if index > 10 else 0)
        users.append(
            make_lucca_user(
                id=employee_id(index),
                firstName=f"Zoé{index}",
                lastName=f"L'Hôte-{index}",
                mail=f"user{index}@acme.example",
                login=f"user{index}",
                employeeNumber=f"E{index:04d}",
                jobTitle=f"Role {index % 7}",
                dtContractStart=date(2020, 1, 6),
                dtContractEnd=None,
                manager=manager,
            )
        )
    return users


def directory(fake: FakeLucca, clock: FakeClock, **options: object) -> LuccaDirectory:
    """A reader of ``fake`` that never really sleeps (pacing and retries use ``clock``)."""
    settings: dict[str, object] = {
        "page_size": PAGE_SIZE,
        "timeout": 5.0,
        "clock": clock,
        "sleep": clock.sleep,
        **options,
    }
    return LuccaDirectory(fake.url, ApiKey(fake.api_key), **settings)  # type: ignore[arg-type]


def run_sync(fake: FakeLucca, sink: Sink, clock: FakeClock, **options: object) -> SyncReport:
    """One nightly run: read ``fake``, plan against ``sink`` for :data:`TODAY`, apply.

    The first run to a new Elevo account is reviewed: its plan is approved by digest.
    """
    if sink.first_publication() is None:
        return sync(directory(fake, clock, **options), sink, today=TODAY)
    made = plan(directory(fake, clock, **options), sink, today=TODAY, safety=Safety.review_only())
    assert [violation.limit for violation in made.violations] == ["first_publication"]
    return apply(made, sink, expected_digest=made.digest)


def paging_offset(request: RecordedRequest) -> int | None:
    """The offset of a list request, ``None`` for other requests."""
    paging = request.param("paging")
    if request.path.rstrip("/") != "/api/v3/users" or paging is None:
        return None
    return int(paging.split(",")[0])


@attrs.define
class OnPage:
    """A ``before_response`` hook running ``inject`` when page ``offset`` is first requested.

    Faults queued by ``inject`` apply to that very request (FakeLucca takes faults after the
    hook). With ``every=True`` it runs on each request for the page (retries and re-reads).
    """

    fake: FakeLucca
    inject: Callable[[FakeLucca], None]
    offset: int = PAGE_OFFSETS[1]
    every: bool = False
    fired: int = 0
    seen: int = 0

    def __call__(self, request: RecordedRequest) -> None:
        if paging_offset(request) != self.offset:
            return
        self.seen += 1
        if self.fired and not self.every:
            return
        self.fired += 1
        self.inject(self.fake)

    def requests_for_page(self) -> int:
        """How many requests asked for the page (retries included), answered or not yet."""
        return self.seen


# -- the oracle and views of a target ---------------------------------------------------------

#: key -> (active, job title). Suspended users keep their last title.
State = dict[str, tuple[bool, str | None]]


def ended(user: Mapping[str, object]) -> bool:
    end = user.get("dtContractEnd")
    return isinstance(end, str) and date.fromisoformat(end[:10]) < TODAY


def expected_state(lucca: Iterable[Mapping[str, object]], before: State) -> State:
    """What the target must hold after a complete run from ``before`` against ``lucca``."""
    listed = {str(user["id"]): user for user in lucca}
    after: State = {}
    for key, user in listed.items():
        title = user.get("jobTitle")
        assert title is None or isinstance(title, str)
        if not ended(user):
            after[key] = (True, title)
        elif key in before:
            after[key] = (False, before[key][1])  # suspended as it was
    for key, (_, title) in before.items():
        if key not in listed:
            after[key] = (False, title)  # gone from Lucca: suspended
    return after


def state_of(sink: Sink) -> State:
    """What a target holds, as seen through the Sink interface."""
    return {user.key: (not user.suspended, user.fields.get("job_title")) for user in sink.users()}


def file_rows(path: Path) -> dict[str, dict[str, str]]:
    """The rows of an Elevo users file, by uniq_identifier."""
    text = path.read_bytes().decode("utf-8")
    return {row["uniq_identifier"]: row for row in csv.DictReader(io.StringIO(text))}


def file_state(path: Path) -> dict[str, str]:
    """key -> job title of the full rows of an Elevo users file (Elevo suspends absent users)."""
    return {
        key: row.get("job_title") or ""
        for key, row in file_rows(path).items()
        if not row.get("skip")
    }


def active_titles(state: State) -> dict[str, str]:
    """key -> job title of the active users of ``state``."""
    return {key: title or "" for key, (active, title) in state.items() if active}


def folder_listing(folder: Path) -> list[str]:
    """Every file name in ``folder`` (hidden temporaries included), sorted."""
    return sorted(path.name for path in folder.iterdir())


def elevo_sink(tmp_path: Path) -> ElevoSink:
    """A directory-delivered ElevoSink in ``tmp_path/drop`` with its state in ``tmp_path/state``."""
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    return ElevoSink.to_directory(drop, state_dir=tmp_path / "state")


def change_directory(fake: FakeLucca) -> None:
    """The day's changes in Lucca, spread over pages 2 and 3: titles, a leaver, a hire."""
    fake.update_user(employee_id(120), jobTitle="Head of Payroll")
    fake.update_user(employee_id(230), jobTitle="Staff Engineer")
    fake.update_user(employee_id(150), dtContractEnd=f"{TODAY - timedelta(days=3)}T00:00:00")
    fake.add_user(
        make_lucca_user(
            id=employee_id(COMPANY_SIZE + 10),
            firstName="Noé",
            lastName="Dupont",
            mail="noe.dupont@acme.example",
            login="ndupont",
            jobTitle="Intern",
            dtContractStart=date(2025, 1, 6),
            dtContractEnd=None,
            manager=employee_id(1),
        )
    )
