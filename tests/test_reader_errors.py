"""Reader failures over real loopback HTTP: statuses, retries, pacing, and what is logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.utils import formatdate
from time import time

import pytest
from urllib3.util import Retry

from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory
from lucca_sync.exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from lucca_sync.testing import FakeLucca, RecordedRequest, make_lucca_user

USERS = "/api/v3/users"


def staff(count: int) -> list[dict[str, object]]:
    return [
        make_lucca_user(id=index, dtContractStart="2020-01-06T00:00:00")
        for index in range(1, count + 1)
    ]


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    with FakeLucca(staff(3)) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def reader(fake: FakeLucca, clock: FakeClock, **options: object) -> LuccaDirectory:
    settings: dict[str, object] = {"clock": clock, "sleep": clock.sleep, **options}
    return LuccaDirectory(fake.url, ApiKey(fake.api_key), **settings)  # type: ignore[arg-type]


def read_ids(directory: LuccaDirectory) -> list[int]:
    return [employee.id for employee in directory.list_employees()]


class TestFailFast:
    """400/401/403/404 are not retried and carry Lucca's message."""

    def test_wrong_key_is_an_authentication_error_without_the_key(
        self, fake: FakeLucca, clock: FakeClock
    ) -> None:
        wrong = "0f0f0f0f-wrong-key-0f0f0f0f0f0f"
        directory = LuccaDirectory(fake.url, ApiKey(wrong), clock=clock, sleep=clock.sleep)
        with pytest.raises(AuthenticationError) as caught:
            read_ids(directory)
        error = caught.value
        assert error.status == 401
        assert error.url == fake.url + USERS
        for text in (str(error), repr(error), str(error.lucca_message), str(error.args)):
            assert wrong not in text
            assert fake.api_key not in text
        assert len(fake.requests) == 1
        assert clock.sleeps == []

    @pytest.mark.parametrize(
        ("status", "cls"), [(400, BadRequestError), (403, PermissionDeniedError)]
    )
    def test_refusals(
        self, fake: FakeLucca, clock: FakeClock, status: int, cls: type[APIError]
    ) -> None:
        fake.fail_next(status, body={"Message": "Field foo does not exist"}, times=3)
        with pytest.raises(cls) as caught:
            read_ids(reader(fake, clock))
        assert getattr(caught.value, "lucca_message", None) == "Field foo does not exist"
        assert "Field foo does not exist" in str(caught.value)
        assert len(fake.requests) == 1

    def test_problem_json_detail(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(
            403,
            body={"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "no scope"},
        )
        with pytest.raises(PermissionDeniedError) as caught:
            read_ids(reader(fake, clock))
        assert caught.value.lucca_message == "no scope"


class TestRateLimit:
    """429 waits Retry-After (seconds or HTTP date, capped), then gives up typed."""

    def test_429_then_success(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(429, retry_after=7)
        directory = reader(fake, clock)
        assert read_ids(directory) == [1, 2, 3]
        assert clock.sleeps == [7]
        assert [request.status for request in fake.requests] == [429, 200]
        assert directory.requests_made == 2

    def test_retry_after_as_an_http_date(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(429, retry_after=formatdate(time() + 30, usegmt=True))
        assert read_ids(reader(fake, clock)) == [1, 2, 3]
        (wait,) = clock.sleeps
        assert 25 <= wait <= 30

    def test_a_huge_retry_after_is_capped(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(429, retry_after=86_400)
        assert read_ids(reader(fake, clock)) == [1, 2, 3]
        assert clock.sleeps == [120]

    def test_429_forever(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(429, retry_after=2, times=100)
        pager = reader(fake, clock, retries=3).list_employees()
        with pytest.raises(RateLimitError) as caught:
            list(pager)
        assert caught.value.status == 429
        assert len(fake.requests) == 4  # the first try and 3 retries
        assert clock.sleeps == [2, 2, 2]
        assert "4 attempts" in str(caught.value)

    def test_total_retry_time_is_bounded(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(429, retry_after=100, times=100)
        policy = Retry(total=50, status_forcelist=[429], retry_after_max=1000)
        with pytest.raises(RateLimitError):
            read_ids(reader(fake, clock, retries=policy))
        assert sum(clock.sleeps) <= 300
        assert len(fake.requests) == 4  # waits of 100 s fit three times in 300 s


class TestServerErrors:
    """408 and 5xx are retried with exponential back-off, then raise ServerError."""

    def test_a_burst_of_503_is_absorbed(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(503, times=3)
        assert read_ids(reader(fake, clock)) == [1, 2, 3]
        assert len(fake.requests) == 4
        # urllib3's back-off: none before the first retry, then 1 s * 2**(n-1) + up to 1 s jitter.
        second, third = clock.sleeps
        assert 2.0 <= second <= 3.0
        assert 4.0 <= third <= 5.0

    @pytest.mark.parametrize("status", [500, 502, 504, 408])
    def test_each_retryable_status_recovers(
        self, fake: FakeLucca, clock: FakeClock, status: int
    ) -> None:
        fake.fail_next(status)
        assert read_ids(reader(fake, clock)) == [1, 2, 3]
        assert [request.status for request in fake.requests] == [status, 200]

    def test_5xx_forever(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(500, times=100)
        with pytest.raises(ServerError) as caught:
            read_ids(reader(fake, clock, retries=2))
        assert caught.value.status == 500
        assert len(fake.requests) == 3
        assert all(wait <= 30 for wait in clock.sleeps)

    def test_no_retries_when_asked(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(503)
        with pytest.raises(ServerError):
            read_ids(reader(fake, clock, retries=0))
        assert len(fake.requests) == 1

    def test_a_user_retry_policy_is_followed(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(500)
        with pytest.raises(ServerError):  # this policy retries 503 only
            read_ids(reader(fake, clock, retries=Retry(total=3, status_forcelist=[503])))
        assert len(fake.requests) == 1

    def test_408_halves_the_next_pages(self, clock: FakeClock) -> None:
        with FakeLucca(staff(2500)) as fake:
            fake.fail_next(408)
            ids = read_ids(reader(fake, clock))
            pagings = [request.param("paging") for request in fake.requests]
        assert ids == list(range(1, 2501))
        assert pagings == ["0,1000", "0,1000", "999,500", "1498,500", "1997,500", "2496,500"]


class TestConnectionProblems:
    """Resets, truncated bodies, timeouts and bad JSON."""

    def test_reset_is_retried(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.reset_next()
        assert read_ids(reader(fake, clock)) == [1, 2, 3]
        assert len(fake.requests) == 2

    def test_resets_forever(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.reset_next(times=100)
        with pytest.raises(APIConnectionError) as caught:
            read_ids(reader(fake, clock, retries=2))
        assert caught.value.url == fake.url + USERS
        assert len(fake.requests) == 3

    def test_truncated_body_is_retried(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.truncate_next()
        assert read_ids(reader(fake, clock)) == [1, 2, 3]
        assert len(fake.requests) == 2

    def test_truncated_forever_is_never_a_short_list(
        self, fake: FakeLucca, clock: FakeClock
    ) -> None:
        fake.truncate_next(times=100)
        with pytest.raises(APIConnectionError):
            read_ids(reader(fake, clock, retries=1))

    def test_read_timeout_is_retried(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.delay_next(0.5)
        directory = reader(fake, clock, timeout=0.1)
        assert read_ids(directory) == [1, 2, 3]
        assert directory.requests_made == 2  # the server logs the slow one only when done

    def test_refused_connection_fails_at_once_in_plain_words(self, clock: FakeClock) -> None:
        with FakeLucca() as stopped:
            url = stopped.url
        directory = LuccaDirectory(url, ApiKey("k"), clock=clock, sleep=clock.sleep, retries=5)
        with pytest.raises(APIConnectionError) as caught:
            read_ids(directory)
        assert str(caught.value).startswith("cannot reach 127.0.0.1: connection refused; ")
        assert "Error" not in str(caught.value)
        assert directory.requests_made == 1
        assert clock.sleeps == []  # no back-off was waited

    def test_unknown_host_name_fails_at_once_in_plain_words(self, clock: FakeClock) -> None:
        # .invalid never resolves (RFC 6761): the resolver answers at once, offline too.
        directory = LuccaDirectory(
            "https://acme.invalid", ApiKey("k"), clock=clock, sleep=clock.sleep, retries=5
        )
        with pytest.raises(APIConnectionError) as caught:
            read_ids(directory)
        assert str(caught.value).startswith("cannot reach acme.invalid: name not resolved; ")
        assert directory.requests_made == 1

    def test_invalid_json(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.invalid_json_next()
        with pytest.raises(ResponseDecodeError, match="not JSON") as caught:
            read_ids(reader(fake, clock))
        assert caught.value.url == fake.url + USERS

    def test_failure_on_a_later_page_raises(self, clock: FakeClock) -> None:
        with FakeLucca(staff(1500)) as fake:

            def fail_second_page(request: RecordedRequest) -> None:
                if request.param("paging") == "999,1000":
                    fake.fail_next(503, times=100)

            fake.before_response = fail_second_page
            pager = reader(fake, clock, retries=1).list_employees()
            seen: list[int] = []
            with pytest.raises(ServerError):
                seen.extend(employee.id for employee in pager)
        assert len(seen) == 1000  # what was yielded is known to be partial: the read raised


class TestPacing:
    """One reader never exceeds requests_per_minute in any 60-second window."""

    def test_sliding_window_over_http(self, clock: FakeClock) -> None:
        with FakeLucca(staff(12)) as fake:
            sent_at: list[float] = []
            fake.before_response = lambda request: sent_at.append(clock.now)
            directory = reader(fake, clock, page_size=2, requests_per_minute=3)
            assert [employee.id for employee in directory.list_employees()] == list(range(1, 13))
        assert len(sent_at) == 12  # limit 2, step 1: offsets 0..11
        for index, start in enumerate(sent_at):
            assert len([t for t in sent_at[index:] if t < start + 60]) <= 3
        assert sum(clock.sleeps) >= 60 * 3  # 12 requests at 3 per minute span 3 minutes

    def test_default_budget_sends_fifty_a_minute(self, clock: FakeClock) -> None:
        with FakeLucca(staff(1)) as fake:
            directory = reader(fake, clock)
            for _ in range(51):
                directory.get_employee(1)
        assert clock.sleeps == [60.0]
        assert directory.requests_made == 51

    def test_retries_count_against_the_budget(self, fake: FakeLucca, clock: FakeClock) -> None:
        fake.fail_next(503, times=2)
        directory = reader(fake, clock, requests_per_minute=2)
        read_ids(directory)
        assert len(fake.requests) == 3
        assert clock.now - 1000.0 >= 60  # the third request waited for the window


class TestLogging:
    """One INFO line per request; never the key, never HR data above DEBUG."""

    def test_info_lines_and_no_secrets(
        self, caplog: pytest.LogCaptureFixture, clock: FakeClock
    ) -> None:
        user = make_lucca_user(id=7, firstName="Zoé", lastName="Marchetti", mail="zoe@acme.example")
        with FakeLucca([user]) as fake:
            caplog.set_level(logging.DEBUG, logger="lucca_sync")
            fake.fail_next(429, retry_after=1)
            directory = reader(fake, clock)
            read_ids(directory)
            directory.get_employee(7)
            with pytest.raises(AuthenticationError):
                read_ids(
                    LuccaDirectory(fake.url, ApiKey("bad-key-123"), clock=clock, sleep=clock.sleep)
                )
            key = fake.api_key
        texts = [record.getMessage() for record in caplog.records]
        assert texts, "nothing was logged"
        for text in texts:
            assert key not in text
            assert "bad-key-123" not in text
        request_lines = [
            record.getMessage()
            for record in caplog.records
            if record.levelno == logging.INFO and record.getMessage().startswith("GET ")
        ]
        assert len(request_lines) == 4  # 429, 200, the single user, the 401
        assert request_lines[0].startswith("GET /api/v3/users")
        assert "-> 429 in" in request_lines[0]
        assert "-> 401 in" in request_lines[3]
        above_debug = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
        for text in above_debug:
            for personal in ("Zoé", "Marchetti", "zoe@acme.example"):
                assert personal not in text
