"""ClientCredentials: the client-credentials grant, the token cache, and secret hygiene."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from lucca_sync import ClientCredentials, LuccaDirectory
from lucca_sync.exceptions import (
    AuthenticationError,
    ConfigurationError,
    LuccaSyncError,
    PermissionDeniedError,
)
from lucca_sync.testing import FakeLucca, make_lucca_user

SECRET = "s3cr3t-Value-0f-the-client"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeLucca]:
    users = [make_lucca_user(id=1), make_lucca_user(id=2)]
    with FakeLucca(users, client_secret=SECRET, clock=clock, token_lifetime=1800) as server:
        yield server


def directory(fake: FakeLucca, clock: Clock, secret: str = SECRET) -> LuccaDirectory:
    credential = ClientCredentials(fake.client_id, secret, token_url=fake.token_url, clock=clock)
    return LuccaDirectory(fake.url, credential)


def token_requests(fake: FakeLucca) -> int:
    return sum(1 for r in fake.requests if r.path == "/connect/token")


class TestTokenCache:
    """One token serves every request until shortly before it expires."""

    def test_one_token_for_several_reads(self, fake: FakeLucca, clock: Clock) -> None:
        reader = directory(fake, clock)
        list(reader.list_employees())
        reader.get_employee(1)
        assert token_requests(fake) == 1

    def test_a_token_is_renewed_a_minute_before_it_expires(
        self, fake: FakeLucca, clock: Clock
    ) -> None:
        reader = directory(fake, clock)
        reader.get_employee(1)
        clock.now += 1800 - 61
        reader.get_employee(1)
        assert token_requests(fake) == 1
        clock.now += 2
        reader.get_employee(1)
        assert token_requests(fake) == 2

    def test_a_refused_token_is_renewed_once_and_the_request_retried(
        self, fake: FakeLucca, clock: Clock
    ) -> None:
        reader = directory(fake, clock)
        reader.get_employee(1)
        fake.lucca_api.expire_tokens()  # revoked server-side, still "valid" in the cache
        assert reader.get_employee(2).id == 2
        assert token_requests(fake) == 2
        statuses = [r.status for r in fake.requests if r.path == "/lucca-api/employees/2"]
        assert statuses == [401, 200]

    def test_a_second_401_is_an_authentication_error(self, fake: FakeLucca, clock: Clock) -> None:
        reader = directory(fake, clock)
        reader.get_employee(1)
        fake.fail_next(401, times=2, path="/lucca-api/employees")
        with pytest.raises(AuthenticationError, match="access token"):
            reader.get_employee(1)
        assert token_requests(fake) == 2

    def test_a_token_without_a_needed_scope_names_it(self, fake: FakeLucca, clock: Clock) -> None:
        credential = ClientCredentials(
            fake.client_id, SECRET, token_url=fake.token_url, scopes=("employees.readonly",)
        )
        reader = LuccaDirectory(fake.url, credential, custom_fields=())
        with pytest.raises(PermissionDeniedError, match=r"departments\.readonly"):
            list(reader.list_employees())
        token = next(r for r in fake.requests if r.path == "/connect/token")
        assert token.method == "POST"
        assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"


class TestTokenErrors:
    """Token endpoint refusals map onto the exception tree without leaking the secret."""

    def test_a_wrong_secret_is_an_authentication_error(self, fake: FakeLucca, clock: Clock) -> None:
        with pytest.raises(AuthenticationError, match="invalid_client") as caught:
            directory(fake, clock, secret="wrong-" + SECRET).get_employee(1)
        assert SECRET not in str(caught.value)

    def test_a_scope_not_granted_is_permission_denied(self, fake: FakeLucca, clock: Clock) -> None:
        fake.lucca_api.granted_scopes = frozenset({"employees.readonly"})
        with pytest.raises(PermissionDeniedError, match="integration-keys"):
            directory(fake, clock).get_employee(1)


class TestSecretHygiene:
    """The client secret and the tokens never show in reprs, errors or logs."""

    def test_repr_and_str_hide_the_secret(self) -> None:
        credential = ClientCredentials("client-1", SECRET)
        for text in (repr(credential), str(credential), repr(LuccaDirectory(
                "https://acme.ilucca.net", credential))):  # fmt: skip
            assert SECRET not in text
        assert "client-1" in repr(credential)

    def test_logs_at_debug_hold_neither_secret_nor_token(
        self, fake: FakeLucca, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        reader = directory(fake, clock)
        list(reader.list_employees())
        fake.lucca_api.expire_tokens()
        reader.get_employee(1)
        with pytest.raises(AuthenticationError):
            directory(fake, clock, secret="bad" + SECRET).get_employee(1)
        tokens = list(fake.lucca_api._tokens)
        assert caplog.records
        for record in caplog.records:
            message = record.getMessage()
            assert SECRET not in message
            assert all(token not in message for token in tokens)

    def test_configuration_errors_do_not_quote_the_secret(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            ClientCredentials("client", SECRET + "\n", token_url="http://lucca.example/token")
        assert SECRET not in str(caught.value)
        assert len(caught.value.problems) == 2  # whitespace, and http to a non-loopback host


class TestValidation:
    """Arguments are checked up front, every problem listed."""

    @pytest.mark.parametrize(
        "kwargs",
        [{"scopes": "employees.readonly"}, {"scopes": ()}, {"token_url": "ftp://x/token"},
         {"scopes": ("two words",)}],
    )  # fmt: skip
    def test_bad_options(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(ConfigurationError):
            ClientCredentials("client", "secret", **kwargs)  # type: ignore[arg-type]

    def test_defaults_are_lucca_s_endpoint_and_read_only_scopes(self) -> None:
        credential = ClientCredentials("client", "secret")
        assert credential.token_url == "https://accounts.world.luccasoftware.com/connect/token"
        assert credential.scopes
        assert all(scope.endswith(".readonly") for scope in credential.scopes)

    def test_errors_are_library_errors(self) -> None:
        with pytest.raises(LuccaSyncError):
            ClientCredentials("", "secret")
