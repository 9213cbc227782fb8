"""FakeLucca's fault injection, rate limit, request log, hooks, error reporting and mutators."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError

from fake_clock import FakeClock
from lucca_sync.testing import FakeLucca, RecordedRequest, make_lucca_user

USERS_PATH = "/api/v3/users"


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False, timeout=5.0) as pool:
        yield pool


@pytest.fixture
def fake() -> Iterator[FakeLucca]:
    users = [make_lucca_user(id=i, firstName="Zoé", lastName=f"Nº{i}") for i in range(1, 6)]
    with FakeLucca(users, api_key="s3cr3t-key-value") as server:
        yield server


def get(
    http: urllib3.PoolManager, fake: FakeLucca, path: str = USERS_PATH, query: str = ""
) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": f"lucca application={fake.api_key}"}
    return http.request("GET", fake.url + path + query, headers=headers)


def body(response: urllib3.BaseHTTPResponse) -> Any:
    return json.loads(response.data)


class TestFailNext:
    """`fail_next` answers the next requests with a status, then service resumes."""

    def test_status_then_normal_service(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.fail_next(503)
        first, second = get(http, fake), get(http, fake)
        assert first.status == 503
        assert body(first) == {"Message": "Service Unavailable"}
        assert second.status == 200

    def test_times(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.fail_next(500, times=2)
        statuses = [get(http, fake).status for _ in range(3)]
        assert statuses == [500, 500, 200]

    def test_retry_after_in_seconds_and_as_date(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        fake.fail_next(429, retry_after=1.2)
        fake.fail_next(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
        assert get(http, fake).headers["Retry-After"] == "2"
        assert get(http, fake).headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"

    def test_no_retry_after_unless_asked(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.fail_next(408)
        assert "Retry-After" not in get(http, fake).headers

    def test_custom_bodies(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.fail_next(400, body={"Message": "Unknown field 'x'"})
        fake.fail_next(502, body="<html>Bad gateway</html>")
        fake.fail_next(500, body=b"\x00\x01")
        json_answer, text_answer, raw_answer = (get(http, fake) for _ in range(3))
        assert body(json_answer) == {"Message": "Unknown field 'x'"}
        assert text_answer.headers["Content-Type"].startswith("text/plain")
        assert text_answer.data == b"<html>Bad gateway</html>"
        assert raw_answer.data == b"\x00\x01"

    def test_fault_happens_even_with_a_wrong_key(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        fake.fail_next(503)
        response = http.request("GET", fake.url + USERS_PATH)
        assert response.status == 503

    def test_path_filter_leaves_other_paths_alone(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        fake.fail_next(500, path="/api/v3/users/3")
        assert get(http, fake).status == 200
        assert get(http, fake, "/api/v3/users/2").status == 200
        assert get(http, fake, "/api/v3/users/3").status == 500
        assert get(http, fake, "/api/v3/users/3").status == 200

    def test_clear_faults(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.fail_next(500, times=5)
        fake.delay_next(5.0)
        fake.clear_faults()
        assert get(http, fake).status == 200

    def test_times_must_be_positive(self, fake: FakeLucca) -> None:
        with pytest.raises(ValueError, match="times"):
            fake.fail_next(500, times=0)


class TestBrokenResponses:
    """Truncated bodies, invalid JSON, connection resets and delays reach the client."""

    def test_truncated_body_is_an_incomplete_read(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        fake.truncate_next()
        with pytest.raises(ProtocolError):
            get(http, fake, query="?fields=id,name,firstName,lastName,mail")
        assert get(http, fake).status == 200

    def test_invalid_json_is_a_200_that_does_not_parse(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        fake.invalid_json_next()
        response = get(http, fake)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.data)

    def test_reset_closes_without_answer(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.reset_next()
        with pytest.raises(ProtocolError):
            get(http, fake)
        assert get(http, fake).status == 200
        assert [r.status for r in fake.requests] == [None, 200]

    def test_delay(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.delay_next(0.15)
        started = time.monotonic()
        slow = get(http, fake)
        elapsed = time.monotonic() - started
        assert slow.status == 200
        assert elapsed >= 0.15

    def test_delay_longer_than_the_client_timeout_is_a_timeout(self, fake: FakeLucca) -> None:
        fake.delay_next(0.5)
        with (
            urllib3.PoolManager(retries=False, timeout=0.1) as impatient,
            pytest.raises(urllib3.exceptions.ReadTimeoutError),
        ):
            get(impatient, fake)


class TestRateLimit:
    """Over `rate_limit=(n, window)`, requests get 429 with a Retry-After; measured on a clock."""

    def test_budget_then_429_then_budget_again(self, http: urllib3.PoolManager) -> None:
        clock = FakeClock()
        with FakeLucca(rate_limit=(3, 60.0), clock=clock) as server:
            statuses = [get(http, server).status for _ in range(3)]
            clock.now += 20
            limited = get(http, server)
            clock.now += 40.5  # the first three requests leave the window
            again = get(http, server)
        assert statuses == [200, 200, 200]
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "40"
        assert body(limited)["Message"]
        assert again.status == 200

    def test_sliding_window(self, http: urllib3.PoolManager) -> None:
        clock = FakeClock()
        with FakeLucca(rate_limit=(2, 10.0), clock=clock) as server:
            first = get(http, server).status
            clock.now += 6
            second = get(http, server).status
            clock.now += 5  # the first left the window, the second is still in it
            third = get(http, server).status
            fourth = get(http, server)
        assert (first, second, third, fourth.status) == (200, 200, 200, 429)
        assert fourth.headers["Retry-After"] == "5"  # the second leaves at +16 s

    def test_invalid_budget_is_refused(self) -> None:
        with pytest.raises(ValueError, match="rate_limit"):
            FakeLucca(rate_limit=(0, 60.0))


class TestRequestLog:
    """`requests` logs what clients sent, with the secret redacted."""

    def test_method_path_query_status(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        get(http, fake, query="?fields=id&paging=0,2&id=1&id=2")
        get(http, fake, "/api/v3/users/77")
        listed, single = fake.requests
        assert listed == RecordedRequest(
            method="GET",
            path=USERS_PATH,
            query={"fields": ("id",), "paging": ("0,2",), "id": ("1", "2")},
            headers=listed.headers,
            status=200,
        )
        assert listed.param("PAGING") == "0,2"
        assert (single.path, single.status, dict(single.query)) == ("/api/v3/users/77", 404, {})

    def test_authorization_is_redacted_everywhere(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        get(http, fake)
        http.request("GET", fake.url + USERS_PATH, headers={"Authorization": "Bearer tok-999"})
        first, second = fake.requests
        assert first.headers["Authorization"] == "lucca application=***"
        assert second.headers["Authorization"] == "Bearer ***"
        assert "s3cr3t" not in repr(fake.requests)
        assert "s3cr3t" not in json.dumps([dict(r.headers) for r in fake.requests])
        assert "tok-999" not in json.dumps([dict(r.headers) for r in fake.requests])

    def test_other_headers_are_kept(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        headers = {
            "Authorization": f"lucca application={fake.api_key}",
            "Accept": "application/json",
        }
        http.request("GET", fake.url + USERS_PATH, headers=headers)
        assert fake.requests[0].headers["Accept"] == "application/json"

    def test_recorded_requests_are_frozen(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        get(http, fake, query="?id=1")
        request = fake.requests[0]
        with pytest.raises(AttributeError):
            request.status = 500  # type: ignore[misc]
        with pytest.raises(TypeError):
            request.query["id"] = ("2",)  # type: ignore[index]

    def test_clear_requests(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        get(http, fake)
        fake.clear_requests()
        assert fake.requests == []


class TestBeforeResponseHook:
    """The hook sees each request before its answer is computed."""

    def test_directory_changes_between_pages(self, http: urllib3.PoolManager) -> None:
        users = [make_lucca_user(id=i) for i in range(1, 7)]

        def remove_between_pages(request: RecordedRequest) -> None:
            if request.param("paging") == "3,3":
                server.remove_user(1)

        with FakeLucca(users, before_response=remove_between_pages) as server:
            page1 = body(get(http, server, query="?paging=0,3"))["data"]["items"]
            page2 = body(get(http, server, query="?paging=3,3"))["data"]["items"]
        assert [u["id"] for u in page1] == [1, 2, 3]
        assert [u["id"] for u in page2] == [5, 6]  # user 4 shifted onto page 1: missed

    def test_hook_sees_the_request_without_a_status(self, http: urllib3.PoolManager) -> None:
        seen: list[RecordedRequest] = []
        with FakeLucca(before_response=seen.append) as server:
            get(http, server, query="?fields=id")
        assert [(r.path, r.status, r.param("fields")) for r in seen] == [(USERS_PATH, None, "id")]


class TestServerErrors:
    """Errors inside the server answer 500, are kept in `errors`, and fail the test on close."""

    def test_hook_error_is_500_and_reraised_on_close(self, http: urllib3.PoolManager) -> None:
        def broken(_request: RecordedRequest) -> None:
            raise LookupError("hook bug")

        server = FakeLucca(before_response=broken).start()
        response = get(http, server)
        assert response.status == 500
        assert "LookupError: hook bug" in body(response)["Message"]
        assert [type(e) for e in server.errors] == [LookupError]
        with pytest.raises(LookupError, match="hook bug"):
            server.close()

    def test_with_block_reraises_on_exit(self, http: urllib3.PoolManager) -> None:
        def broken(_request: RecordedRequest) -> None:
            raise LookupError("hook bug")

        with pytest.raises(LookupError), FakeLucca(before_response=broken) as server:
            assert get(http, server).status == 500

    def test_failing_test_body_keeps_its_own_error_with_a_note(
        self, http: urllib3.PoolManager
    ) -> None:
        def broken(_request: RecordedRequest) -> None:
            raise LookupError("hook bug")

        def failing_test() -> None:
            with FakeLucca(before_response=broken) as server:
                get(http, server)
                raise AssertionError("the test's own failure")

        with pytest.raises(AssertionError, match="own failure") as caught:
            failing_test()
        assert any("LookupError: hook bug" in note for note in caught.value.__notes__)


class TestMutators:
    """add/remove/update users while serving; `users` returns copies."""

    def test_add_user_assigns_the_next_id(self, fake: FakeLucca) -> None:
        user = make_lucca_user()
        del user["id"]
        assert fake.add_user(user) == 6
        assert fake.users[-1]["id"] == 6

    def test_add_user_refuses_a_non_integer_id(self, fake: FakeLucca) -> None:
        with pytest.raises(ValueError, match="integer"):
            fake.add_user({"id": "416"})

    def test_remove_user(self, http: urllib3.PoolManager, fake: FakeLucca) -> None:
        fake.remove_user(2)
        assert get(http, fake, "/api/v3/users/2").status == 404
        with pytest.raises(KeyError):
            fake.remove_user(2)

    def test_update_user_bumps_modified_at_and_names(
        self, http: urllib3.PoolManager, fake: FakeLucca
    ) -> None:
        before = fake.users[2]["modifiedAt"]
        updated = fake.update_user(3, lastName="Lefèvre")
        served = body(get(http, fake, "/api/v3/users/3", "?fields=name,displayName,modifiedAt"))
        assert served["data"] == {
            "name": "Zoé Lefèvre",
            "displayName": "Lefèvre Zoé",
            "modifiedAt": updated["modifiedAt"],
        }
        assert isinstance(before, str)
        assert str(updated["modifiedAt"]) > before

    def test_update_user_keeps_modified_on_quirk(self) -> None:
        server = FakeLucca([make_lucca_user(id=1, modified_key="modifiedOn")])
        updated = server.update_user(1, jobTitle="CTO")
        assert "modifiedAt" not in updated
        assert updated["modifiedOn"] != "2024-11-05T14:31:07.412"

    def test_update_unknown_user(self, fake: FakeLucca) -> None:
        with pytest.raises(KeyError):
            fake.update_user(99, jobTitle="x")

    def test_users_are_copies(self, fake: FakeLucca) -> None:
        fake.users[0]["firstName"] = "Changed"
        given = make_lucca_user(id=50)
        fake.add_user(given)
        given["firstName"] = "Changed too"
        assert fake.users[0]["firstName"] == "Zoé"
        assert fake.users[-1]["firstName"] != "Changed too"


class TestConcurrency:
    """Several clients at once get consistent answers."""

    def test_parallel_clients(self, fake: FakeLucca) -> None:
        results: list[int] = []
        lock = threading.Lock()

        def client() -> None:
            with urllib3.PoolManager(retries=False, timeout=5.0) as pool:
                for _ in range(5):
                    count = len(body(get(pool, fake))["data"]["items"])
                    with lock:
                        results.append(count)

        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [5] * 30
        assert len(fake.requests) == 30
