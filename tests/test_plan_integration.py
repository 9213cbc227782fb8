"""The engine from outside: FakeLucca over HTTP, LuccaDirectory, plan/apply to a MemorySink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

import lucca_sync
from lucca_sync import Employee, Plan
from lucca_sync.exceptions import APIError, SafetyError
from lucca_sync.testing import FakeLucca, MemorySink, generate_company

TODAY = date(2025, 3, 10)


def directory(fake: FakeLucca, page_size: int = 1000) -> lucca_sync.LuccaDirectory:
    return lucca_sync.LuccaDirectory(
        fake.url,
        lucca_sync.ApiKey(fake.api_key),
        page_size=page_size,
        retries=1,
        requests_per_minute=100_000,
        sleep=lambda _: None,
    )


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(generate_company(40, seed=3, today=TODAY), today=TODAY) as server:
        yield server


def plan(fake: FakeLucca, sink: MemorySink, **options: object) -> Plan:
    return lucca_sync.plan(directory(fake), sink, today=TODAY, **options)  # type: ignore[arg-type]


def active_ids(fake: FakeLucca) -> list[int]:
    """Ids of current employees without the skip flag, from the wire data."""
    kept = []
    for user in fake.users:
        end = user.get("dtContractEnd")
        if isinstance(end, str) and date.fromisoformat(end[:10]) < TODAY:
            continue
        extended = user.get("extendedData")
        flag = extended.get("e_skip_elevo_sync") if isinstance(extended, dict) else None
        value = flag.get("value") if isinstance(flag, dict) else flag
        if value in (True, "true", "True", 1, "1", "yes", "oui"):
            continue
        kept.append(int(user["id"]))
    return sorted(kept)


class TestLifecycleOverHttp:
    """Done-when scenarios of the sync engine."""

    def test_first_plan_creates_every_kept_employee_then_a_second_is_empty(
        self, fake: FakeLucca
    ) -> None:
        sink = MemorySink()
        first = plan(fake, sink)
        assert sorted(c.employee_id for c in first.creates) == active_ids(fake)
        assert first.exclusions  # the generated company ticks a few skip flags
        report = lucca_sync.apply(first, sink)
        assert report.ok, report.summary()
        assert report.requests_made is not None
        assert report.requests_made >= 1
        assert plan(fake, sink).is_empty

    def test_a_leaver_is_suspended_then_reactivated_when_back(self, fake: FakeLucca) -> None:
        sink = MemorySink()
        lucca_sync.apply(plan(fake, sink), sink)
        managers = {u.get("managerId") for u in fake.users}
        leaver = [i for i in active_ids(fake) if i not in managers][2]
        fake.update_user(leaver, dtContractEnd="2025-03-01T00:00:00")
        gone = plan(fake, sink)
        assert [(s.employee_id, s.reason) for s in gone.suspensions] == [
            (leaver, "contract ended on 2025-03-01")
        ]
        assert gone.counts["suspensions"] == 1
        assert not gone.updates
        assert not gone.creates
        lucca_sync.apply(gone, sink)
        fake.update_user(leaver, dtContractEnd=None)
        back = plan(fake, sink)
        assert [r.employee_id for r in back.reactivations] == [leaver]
        assert not back.suspensions
        assert not back.creates

    def test_a_changed_job_title_is_one_update_with_that_field(self, fake: FakeLucca) -> None:
        sink = MemorySink()
        lucca_sync.apply(plan(fake, sink), sink)
        someone = active_ids(fake)[3]
        fake.update_user(someone, jobTitle="Cheffe de projet")
        result = plan(fake, sink)
        assert [(u.employee_id, [c.field for c in u.changes]) for u in result.updates] == [
            (someone, ["job_title"])
        ]
        assert result.updates[0].changes[0].after == "Cheffe de projet"

    def test_the_json_round_trip_keeps_the_digest(self, fake: FakeLucca) -> None:
        made = plan(fake, MemorySink())
        assert Plan.from_json(made.to_json()).digest == made.digest

    def test_removing_60_percent_raises_and_the_sink_is_unchanged(self, fake: FakeLucca) -> None:
        sink = MemorySink()
        lucca_sync.apply(plan(fake, sink), sink)
        before = dict(sink.users_by_key)
        sink.log.clear()
        ids = [int(u["id"]) for u in fake.users]
        for user_id in ids[: len(ids) * 6 // 10]:
            fake.remove_user(user_id)
        with pytest.raises(SafetyError):
            lucca_sync.sync(directory(fake), sink, today=TODAY)
        assert sink.users_by_key == before
        assert not sink.operations

    def test_lucca_failing_after_page_one_raises_and_nobody_is_suspended(
        self, fake: FakeLucca
    ) -> None:
        sink = MemorySink()
        lucca_sync.apply(plan(fake, sink), sink)
        sink.log.clear()
        client = directory(fake, page_size=10)

        class FailsAfterFirstPage:
            def list_employees(
                self, *, include_former: bool = False, strict: bool = True
            ) -> Iterator[Employee]:
                pager = client.list_employees(include_former=include_former, strict=strict)
                for number, page in enumerate(pager.by_page()):
                    yield from page
                    if number == 0:
                        fake.fail_next(503, times=1000)

        with pytest.raises(APIError):
            lucca_sync.sync(FailsAfterFirstPage(), sink, today=TODAY)
        assert not any(user.suspended for user in sink.users())
        assert not sink.log
