"""A read is compared with Lucca's own count; short, repeated or runaway paging is refused.

Scenarios 2 (a 200 page missing its last rows) and 3 (a server that ignores the paging
offset) of issue 18, over real HTTP against FakeLucca's fault injection, for the legacy API.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lucca_sync
from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory
from lucca_sync._lucca._completeness import pages_for
from lucca_sync.exceptions import IncompleteReadError, ResponseDecodeError
from lucca_sync.testing import FakeLucca, MemorySink, RecordedRequest, make_lucca_user

TODAY = date(2025, 1, 15)
#: 250 employees, 100 per page: pages at offsets 0, 99 and 198 (they overlap by one row).
SIZE, PAGE = 250, 100
#: Requests after which a runaway read is stopped by the test itself (old code looped forever).
RUNAWAY = 25


def company(size: int = SIZE) -> list[dict[str, object]]:
    return [
        make_lucca_user(id=1000 + index, dtContractStart="2020-01-06T00:00:00", dtContractEnd=None)
        for index in range(size)
    ]


def reader(fake: FakeLucca, **options: object) -> LuccaDirectory:
    clock = FakeClock()
    settings: dict[str, object] = {
        "page_size": PAGE,
        "clock": clock,
        "sleep": clock.sleep,
        **options,
    }
    return LuccaDirectory(fake.url, ApiKey(fake.api_key), **settings)  # type: ignore[arg-type]


def offsets(fake: FakeLucca) -> list[int]:
    return [
        int(str(request.param("paging")).split(",")[0])
        for request in fake.requests
        if request.path == "/api/v3/users"
    ]


def ids(directory: LuccaDirectory) -> list[int]:
    return [employee.id for employee in directory.list_employees(today=TODAY)]


class OnOffset:
    """A ``before_response`` hook that runs ``inject`` on each request for page ``offset``,
    and stops a runaway read after :data:`RUNAWAY` requests by clearing every fault."""

    def __init__(self, fake: FakeLucca, offset: int, inject: object) -> None:
        self.fake, self.offset, self.inject = fake, offset, inject
        self.requests = 0

    def __call__(self, request: RecordedRequest) -> None:
        self.requests += 1
        if self.requests >= RUNAWAY:
            self.fake.clear_faults()
            return
        paging = request.param("paging")
        if paging is not None and int(paging.split(",")[0]) == self.offset:
            self.inject(self.fake)  # type: ignore[operator]


class TestLuccasCount:
    """The first page asks Lucca's count of the list; the read must hold that many rows."""

    def test_the_count_is_asked_on_the_first_page_only(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            assert ids(reader(fake)) == [1000 + index for index in range(SIZE)]
            fields = [request.param("fields") or "" for request in fake.requests]
        assert [field.endswith(",collection.count") for field in fields] == [True, False, False]

    def test_a_page_missing_its_last_rows_once_is_read_again(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            lost: list[int] = []

            def lose_rows(f: FakeLucca) -> None:
                if not lost:
                    lost.append(5)
                    f.short_page_next(5)

            fake.before_response = OnOffset(fake, 99, lose_rows)
            pager = reader(fake).list_employees(today=TODAY)
            found = [employee.id for employee in pager]
            # Page 2 ended the pass early (95 < 100 rows): 194 rows for a count of 250, so
            # the read started again and the second pass was whole.
            assert offsets(fake) == [0, 99, 0, 99, 198]
        assert found == [1000 + index for index in range(SIZE)]
        assert pager.restarts == 1

    def test_the_last_page_missing_rows_every_time_is_refused(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.before_response = OnOffset(fake, 198, lambda f: f.short_page_next(1))
            with pytest.raises(IncompleteReadError) as raised:
                ids(reader(fake))
            assert offsets(fake) == [0, 99, 198] * 3  # two re-reads, then it gives up
        error = raised.value
        assert (error.expected, error.received, error.restarts) == (SIZE, SIZE - 1, 2)
        assert "Lucca counted 250 users" in str(error)
        assert "only 249" in str(error)

    def test_a_short_read_is_never_published(self) -> None:
        sink = MemorySink()
        with FakeLucca(company(), today=TODAY) as fake:
            assert lucca_sync.sync(reader(fake), sink, today=TODAY).ok
            before = dict(sink.users_by_key)
            fake.before_response = OnOffset(fake, 198, lambda f: f.short_page_next(3))
            with pytest.raises(IncompleteReadError):
                lucca_sync.sync(reader(fake), sink, today=TODAY)
        assert sink.users_by_key == before
        assert all(not user.suspended for user in sink.users_by_key.values())

    def test_a_count_too_high_every_time_is_refused(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.miscount_next(7, times=10)
            with pytest.raises(IncompleteReadError) as raised:
                ids(reader(fake))
        assert (raised.value.expected, raised.value.received) == (SIZE + 7, SIZE)

    def test_a_count_off_once_is_read_again(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.miscount_next(7)
            pager = reader(fake).list_employees(today=TODAY)
            assert len(list(pager)) == SIZE
        assert pager.restarts == 1

    def test_pages_past_a_count_too_low_are_refused(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.miscount_next(-200, times=10)  # Lucca says 50: one page, plus one of slack
            with pytest.raises(IncompleteReadError) as raised:
                ids(reader(fake))
            assert offsets(fake) == [0, 99] * 3
        assert "went on past that" in str(raised.value)

    def test_a_server_without_a_count_is_read_by_its_overlaps(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level("INFO", logger="lucca_sync.http")
        with FakeLucca(company(), today=TODAY, report_count=False) as fake:
            assert ids(reader(fake)) == [1000 + index for index in range(SIZE)]
            assert offsets(fake) == [0, 99, 198]
        assert "sent no collection.count" in caplog.text

    def test_hires_during_the_read_are_accepted(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:

            def hire(f: FakeLucca) -> None:
                f.before_response = None
                f.add_user(make_lucca_user(id=5000, dtContractStart="2020-01-06T00:00:00"))

            fake.before_response = OnOffset(fake, 99, hire)
            found = ids(reader(fake))
        assert len(found) == SIZE + 1  # one more row than counted: not a short read
        assert found[-1] == 5000


class TestPagingIgnored:
    """A server that answers page 1 whatever the offset stops the read at once."""

    @pytest.mark.parametrize("report_count", [True, False], ids=["count", "no-count"])
    def test_a_repeated_page_is_refused_after_two_requests(self, report_count: bool) -> None:
        with FakeLucca(company(), today=TODAY, report_count=report_count) as fake:
            fake.ignore_paging_next(times=1000)  # every answer is page 1
            fake.before_response = OnOffset(fake, -1, lambda f: None)  # stops a runaway read
            with pytest.raises(ResponseDecodeError) as raised:
                ids(reader(fake))
            assert offsets(fake) == [0, 99]
        assert "ignores the paging offset" in str(raised.value)

    def test_a_plan_stops_and_publishes_nothing(self) -> None:
        sink = MemorySink()
        with FakeLucca(company(), today=TODAY) as fake:
            fake.before_response = OnOffset(fake, 99, lambda f: f.ignore_paging_next())
            directory = reader(fake)
            with pytest.raises(ResponseDecodeError):
                lucca_sync.sync(directory, sink, today=TODAY)
            assert directory.requests_made == 2
        assert sink.users_by_key == {}

    def test_a_page_that_brings_nothing_new_is_read_again(self) -> None:
        # 100 rows with lower ids added and one of page 1 removed push page 1's last row to
        # the end of page 2: a full page with nothing after the overlap row shows no
        # progress (an offset ignored would do the same), so the pass restarts.
        with FakeLucca(company(), today=TODAY) as fake:

            def shift(request: RecordedRequest) -> None:
                if request.param("paging") == "99,100":
                    fake.before_response = None
                    fake.remove_user(1000)
                    for user_id in range(1, 101):
                        fake.add_user(make_lucca_user(id=user_id, dtContractEnd=None))

            fake.before_response = shift
            pager = reader(fake).list_employees(today=TODAY)
            assert len(list(pager)) == SIZE + 100  # 1000 was read before it was removed
            assert offsets(fake) == [0, 99, 0, 99, 198, 297]
        assert pager.restarts == 1


def api_reader(fake: FakeLucca) -> LuccaDirectory:
    clock = FakeClock()
    credential = lucca_sync.ClientCredentials(
        fake.client_id, fake.client_secret, token_url=fake.token_url, clock=clock
    )
    return LuccaDirectory(fake.url, credential, clock=clock, sleep=clock.sleep)


def employee_requests(fake: FakeLucca) -> list[RecordedRequest]:
    return [request for request in fake.requests if request.path == "/lucca-api/employees"]


EMPLOYEES = "/lucca-api/employees"


class TestLuccaApiTotalCount:
    """The Lucca API's collections are compared with their ``totalCount``, asked at no cost."""

    def test_the_first_page_asks_the_total_count(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            assert ids(api_reader(fake)) == [1000 + index for index in range(SIZE)]
            first = employee_requests(fake)[0]
        assert "totalCount" in str(first.param("include")).split(",")
        assert len(employee_requests(fake)) == 3  # 100 per page: no request for the count

    def test_a_page_missing_its_last_rows_is_refused(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.short_page_next(3, path=EMPLOYEES)
            with pytest.raises(IncompleteReadError) as raised:
                ids(api_reader(fake))
            recount = employee_requests(fake)[-1]
        assert (raised.value.expected, raised.value.received) == (SIZE, SIZE - 3)
        assert (recount.param("limit"), recount.param("include")) == ("0", "totalCount")
        assert "only 247" in str(raised.value)

    def test_a_count_that_shrank_during_the_read_is_accepted(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.miscount_next(2, path=EMPLOYEES)  # as if two people left meanwhile
            assert len(ids(api_reader(fake))) == SIZE
            assert len(employee_requests(fake)) == 4  # the count asked again, once

    def test_pages_past_a_count_too_low_are_refused(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.miscount_next(-200, times=10, path=EMPLOYEES)
            with pytest.raises(IncompleteReadError) as raised:
                ids(api_reader(fake))
            assert len(employee_requests(fake)) == 2  # 50 counted: one page, plus one of slack
        assert "went on past the 50 items" in str(raised.value)

    def test_a_server_without_a_total_count_is_read(self) -> None:
        with FakeLucca(company(), today=TODAY, report_count=False) as fake:
            assert len(ids(api_reader(fake))) == SIZE

    def test_an_ignored_cursor_stops_the_read(self) -> None:
        with FakeLucca(company(), today=TODAY) as fake:
            fake.ignore_paging_next(times=1000, path=EMPLOYEES)
            fake.before_response = OnOffset(fake, -1, lambda f: None)  # stops a runaway read
            with pytest.raises(ResponseDecodeError) as raised:
                ids(api_reader(fake))
            assert len(employee_requests(fake)) == 2
        assert "same next page link twice" in str(raised.value)


class TestAnyPagingFault:
    """Whatever the paging faults, a read is whole or raises, within the count's requests."""

    @settings(max_examples=40, deadline=None)
    @given(
        size=st.integers(min_value=0, max_value=40),
        page_size=st.integers(min_value=2, max_value=12),
        faults=st.lists(
            st.tuples(
                st.sampled_from(["short", "miscount", "ignore"]),
                st.integers(min_value=-15, max_value=15),
                st.integers(min_value=1, max_value=4),
            ),
            max_size=3,
        ),
    )
    def test_whole_or_refused_within_the_bound(
        self, size: int, page_size: int, faults: list[tuple[str, int, int]]
    ) -> None:
        with FakeLucca(company(size), today=TODAY) as fake:
            for kind, amount, times in faults:
                if kind == "short":
                    fake.short_page_next(max(abs(amount), 1), times=times)
                elif kind == "miscount":
                    fake.miscount_next(amount, times=times)
                else:
                    fake.ignore_paging_next(times=times)
            fake.before_response = OnOffset(fake, -1, lambda f: None)  # stops a runaway read
            directory = reader(fake, page_size=page_size)
            try:
                found = ids(directory)
            except (IncompleteReadError, ResponseDecodeError):
                pass
            else:
                assert found == [1000 + index for index in range(size)]
            counted = size + max([amount for kind, amount, _ in faults if kind == "miscount"] + [0])
            # Three passes at most, each within the count's pages plus one of slack.
            assert directory.requests_made <= 3 * pages_for(counted + 1 + page_size, page_size)
