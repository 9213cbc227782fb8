"""Reader set-up without a server: credentials, URL safety, options, pacing, status mapping."""

from __future__ import annotations

import pickle

import pytest

import lucca_sync
from fake_clock import FakeClock
from lucca_sync import ApiKey, LuccaDirectory
from lucca_sync._lucca._http import error_for_status
from lucca_sync._lucca._pacing import Pacer
from lucca_sync.exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

KEY = "8a1f4b3c-0d2e-4f5a-9b6c-7d8e9f0a1b2c"


class TestApiKey:
    """The key is a value that never shows itself."""

    def test_repr_and_str_hide_the_key(self) -> None:
        key = ApiKey(KEY)
        assert KEY not in repr(key)
        assert KEY not in str(key)
        assert KEY not in f"{key!r} {key}"
        assert repr(key) == "ApiKey(<redacted>)"

    def test_value_and_header(self) -> None:
        key = ApiKey(KEY)
        assert key.value == KEY
        assert key.authorization_header() == f"lucca application={KEY}"

    def test_frozen_and_comparable(self) -> None:
        key = ApiKey(KEY)
        assert key == ApiKey(KEY)
        with pytest.raises(AttributeError):
            key.value = "other"  # type: ignore[misc]

    def test_containers_of_keys_do_not_show_them(self) -> None:
        assert KEY not in repr({"key": ApiKey(KEY)})
        assert KEY not in repr(LuccaDirectory("https://acme.ilucca.net", ApiKey(KEY)))

    @pytest.mark.parametrize("bad", ["", "   ", f"{KEY}\n", f"{KEY} x", 1234])
    def test_invalid_keys_are_refused_without_quoting_them(self, bad: object) -> None:
        with pytest.raises(ConfigurationError) as caught:
            ApiKey(bad)  # type: ignore[arg-type]
        if isinstance(bad, str) and bad.strip():
            assert KEY not in str(caught.value)

    def test_pickled_key_round_trips(self) -> None:
        assert pickle.loads(pickle.dumps(ApiKey(KEY))) == ApiKey(KEY)  # noqa: S301


class TestBaseUrl:
    """https is required except for loopback hosts."""

    @pytest.mark.parametrize(
        "url",
        [
            "https://acme.ilucca.net",
            "https://acme.ilucca.net/",
            "https://acme-sbx.sandbox.eu1.luccasoftware.com",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://localhost:1234",
            "http://[::1]:5000",
        ],
    )
    def test_accepted(self, url: str) -> None:
        directory = LuccaDirectory(url, ApiKey(KEY))
        assert directory.base_url == url.rstrip("/")

    @pytest.mark.parametrize(
        "url",
        [
            "http://acme.ilucca.net",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "http://128.0.0.1",
            "ftp://acme.ilucca.net",
            "acme.ilucca.net",
            "https://user:pass@acme.ilucca.net",
            "https://acme.ilucca.net/?x=1",
        ],
    )
    def test_refused(self, url: str) -> None:
        with pytest.raises(ConfigurationError, match="base_url"):
            LuccaDirectory(url, ApiKey(KEY))

    def test_http_refusal_says_why(self) -> None:
        with pytest.raises(ConfigurationError, match="https"):
            LuccaDirectory("http://acme.ilucca.net", ApiKey(KEY))


class TestFromSubdomain:
    """from_subdomain builds the documented tenant URLs and validates each part."""

    @pytest.mark.parametrize(
        ("kwargs", "url"),
        [
            ({}, "https://acme.ilucca.net"),
            ({"environment": "ilucca-test"}, "https://acme.ilucca-test.net"),
            ({"environment": "ilucca-demo", "region": "ch"}, "https://acme.ilucca-demo.ch"),
            ({"region": "ch"}, "https://acme.ilucca.ch"),
        ],
    )
    def test_urls(self, kwargs: dict[str, str], url: str) -> None:
        directory = LuccaDirectory.from_subdomain("acme", ApiKey(KEY), **kwargs)
        assert directory.base_url == url

    def test_options_are_passed_on(self) -> None:
        with pytest.raises(ConfigurationError, match="page_size"):
            LuccaDirectory.from_subdomain("acme", ApiKey(KEY), page_size=0)

    @pytest.mark.parametrize(
        "subdomain",
        ["", "acme.ilucca.net", "https://acme", "-acme", "acme-", "ac me", "a" * 64, "acmé"],
    )
    def test_bad_subdomains(self, subdomain: str) -> None:
        with pytest.raises(ConfigurationError, match="subdomain"):
            LuccaDirectory.from_subdomain(subdomain, ApiKey(KEY))

    def test_every_problem_is_listed(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            LuccaDirectory.from_subdomain("a.b", ApiKey(KEY), environment="prod", region="fr")
        problems = caught.value.problems
        assert [problem.split(":")[0] for problem in problems] == [
            "subdomain",
            "environment",
            "region",
        ]


class TestOptions:
    """Options are validated up front, all problems at once."""

    @pytest.mark.parametrize("page_size", [0, 1001, -5, 10.0, True])
    def test_page_size_out_of_range(self, page_size: object) -> None:
        with pytest.raises(ConfigurationError, match="page_size"):
            LuccaDirectory("https://acme.ilucca.net", ApiKey(KEY), page_size=page_size)  # type: ignore[arg-type]

    def test_all_problems_are_reported_together(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            LuccaDirectory(
                "http://acme.ilucca.net",
                "raw-key",  # type: ignore[arg-type]
                timeout=-1,
                retries=-2,
                page_size=5000,
                requests_per_minute=0,
                time_zone="Mars/Olympus",
            )
        fields = {problem.split(":")[0] for problem in caught.value.problems}
        assert fields == {
            "base_url",
            "credential",
            "timeout",
            "retries",
            "page_size",
            "requests_per_minute",
            "time_zone",
        }
        assert "raw-key" not in str(caught.value)

    def test_configuration_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="page_size"):
            LuccaDirectory("https://acme.ilucca.net", ApiKey(KEY), page_size=0)

    def test_list_employees_checks_its_arguments(self) -> None:
        directory = LuccaDirectory("https://acme.ilucca.net", ApiKey(KEY))
        with pytest.raises(ConfigurationError, match="modified_since"):
            directory.list_employees(modified_since="2024-01-01")  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", [0, -1, "416", True])
    def test_get_employee_checks_the_id(self, bad: object) -> None:
        directory = LuccaDirectory("https://acme.ilucca.net", ApiKey(KEY))
        with pytest.raises(ConfigurationError, match="employee_id"):
            directory.get_employee(bad)  # type: ignore[arg-type]

    def test_listing_is_lazy(self) -> None:
        # Nothing listens on this port: building the pager must not send anything.
        directory = LuccaDirectory("http://127.0.0.1:9", ApiKey(KEY))
        pager = directory.list_employees()
        assert pager.requests_made == 0
        assert directory.requests_made == 0

    def test_public_names(self) -> None:
        assert lucca_sync.LuccaDirectory is LuccaDirectory
        assert lucca_sync.ApiKey is ApiKey
        assert "EmployeePager" in lucca_sync.__all__


class TestPacer:
    """Never more than the budget in any sliding 60-second window."""

    def test_first_requests_do_not_wait(self) -> None:
        clock = FakeClock()
        pacer = Pacer(3, clock=clock, sleep=clock.sleep)
        assert [pacer.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
        assert clock.sleeps == []

    def test_the_request_over_budget_waits_for_the_window(self) -> None:
        clock = FakeClock()
        pacer = Pacer(3, clock=clock, sleep=clock.sleep)
        for _ in range(3):
            pacer.acquire()
            clock.now += 10
        pacer.acquire()
        assert clock.sleeps == [30.0]  # the first went at t, now is t+30: 30 s until t+60

    def test_any_sixty_second_window_holds_at_most_the_budget(self) -> None:
        clock = FakeClock()
        pacer = Pacer(50, clock=clock, sleep=clock.sleep)
        times = []
        for step in range(400):
            pacer.acquire()
            times.append(clock.now)
            clock.now += (step % 7) * 0.3  # bursts and pauses
        for index, start in enumerate(times):
            in_window = [t for t in times[index:] if t < start + 60]
            assert len(in_window) <= 50

    def test_idle_time_refills_the_budget(self) -> None:
        clock = FakeClock()
        pacer = Pacer(2, clock=clock, sleep=clock.sleep)
        pacer.acquire()
        pacer.acquire()
        clock.now += 61
        assert pacer.acquire() == 0.0


class TestStatusMapping:
    """One function maps statuses to exceptions, with Lucca's message when there is one."""

    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, BadRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, NotFoundError),
            (429, RateLimitError),
            (408, ServerError),
            (500, ServerError),
            (503, ServerError),
            (418, APIStatusError),
        ],
    )
    def test_classes(self, status: int, cls: type[APIStatusError]) -> None:
        error = error_for_status(
            status, url="https://x/api/v3/users", path="/api/v3/users", body=b""
        )
        assert type(error) is cls
        assert error.status == status
        assert error.url == "https://x/api/v3/users"
        assert str(status) in str(error)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                b'{"type":"x","title":"Bad","detail":"limit must be <= 1000"}',
                "limit must be <= 1000",
            ),
            (b'{"title":"Forbidden scope"}', "Forbidden scope"),
            (b'{"Status":400,"Message":"Unknown field foo"}', "Unknown field foo"),
            (b'{"message":"lower case"}', "lower case"),
            (b"Plain text error", "Plain text error"),
            (b"", None),
            (b"[1,2]", None),
        ],
    )
    def test_lucca_message(self, body: bytes, message: str | None) -> None:
        error = error_for_status(400, url="u", path="/p", body=body)
        assert error.lucca_message == message
        if message:
            assert message in str(error)

    def test_long_text_is_truncated(self) -> None:
        error = error_for_status(500, url="u", path="/p", body=b"<html>" + b"x" * 5000)
        assert error.lucca_message is not None
        assert len(error.lucca_message) <= 200

    def test_the_key_is_redacted_from_an_echoing_server(self) -> None:
        body = f'{{"Message":"invalid key lucca application={KEY}"}}'.encode()
        error = error_for_status(401, url="u", path="/p", body=body, secrets=[KEY])
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert error.lucca_message is not None
        assert KEY not in error.lucca_message
