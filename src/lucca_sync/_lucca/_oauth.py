"""OAuth2 client credentials for the Lucca API (``/lucca-api``), with a cached access token.

The client secret is sent to the token endpoint only, in the form body of a
``grant_type=client_credentials`` request; it never appears in a repr, a message or a log line.
The access token it returns is cached until shortly before it expires, shared by every request
of the directory, and dropped when Lucca answers 401 (the transport then asks for a new one once
and retries the request once).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Final, cast
from urllib.parse import urlencode, urlsplit

import attrs
import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.util import Retry, Timeout

from lucca_sync._lucca._http import connection_failure, is_int, is_loopback
from lucca_sync._lucca._redact import redact
from lucca_sync.exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    PermissionDeniedError,
    ResponseDecodeError,
    ServerError,
)

__all__ = ["DEFAULT_SCOPES", "DEFAULT_TOKEN_URL", "ClientCredentials"]

logger = logging.getLogger("lucca_sync.http")

#: Lucca's token endpoint, one host for every tenant and region.
DEFAULT_TOKEN_URL: Final = "https://accounts.world.luccasoftware.com/connect/token"  # noqa: S105
#: The read scopes lucca_sync needs to build an :class:`~lucca_sync.Employee`.
DEFAULT_SCOPES: Final = (
    "employees.readonly",
    "employments.readonly",
    "job-positions.readonly",
    "departments.readonly",
    "business-establishments.readonly",
    "employee-extensions.readonly",
)
#: A token is renewed this long before Lucca says it expires (clock skew, slow requests).
REFRESH_MARGIN_SECONDS: Final = 60.0
#: Lifetime assumed when the token answer has no usable ``expires_in`` (Lucca: 30 minutes).
DEFAULT_LIFETIME_SECONDS: Final = 1800.0
_TOKEN_RETRY: Final = Retry(
    total=2,
    connect=2,
    read=2,
    status=2,
    other=0,
    redirect=0,
    allowed_methods=frozenset({"POST"}),
    status_forcelist=frozenset({429, 500, 502, 503, 504}),
    backoff_factor=0.5,
    raise_on_status=False,
)


def _text(name: str, value: object, problems: list[str]) -> str:
    # Never quote the value: a client secret pasted in the wrong place is still a secret.
    if not isinstance(value, str):
        problems.append(f"{name}: expected a str, not {type(value).__name__}")
        return ""
    if not value.strip():
        problems.append(f"{name}: is empty; copy it from Lucca's integration keys page")
    elif any(char.isspace() or not char.isprintable() for char in value):
        problems.append(
            f"{name}: contains whitespace or control characters; check for a stray newline "
            "or space around the copied value"
        )
    return value


def _scopes(value: object, problems: list[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        problems.append(
            "scopes: expected a sequence of scope names such as ('employees.readonly',), "
            f"got {type(value).__name__}"
        )
        return ()
    scopes = tuple(cast(Iterable[object], value))
    bad = [scope for scope in scopes if not isinstance(scope, str) or not scope.strip()
           or any(char.isspace() for char in scope)]  # fmt: skip
    if bad or not scopes:
        problems.append(f"scopes: expected non-empty scope names without spaces, got {scopes!r}")
    return cast(tuple[str, ...], scopes)


def _token_url(value: object, problems: list[str]) -> str:
    if not isinstance(value, str):
        problems.append(f"token_url: expected a str, not {type(value).__name__}")
        return ""
    parts = urlsplit(value.strip())
    host = parts.hostname or ""
    if parts.scheme not in {"https", "http"} or not host:
        problems.append(f"token_url: expected an absolute https URL, got scheme {parts.scheme!r}")
    elif parts.scheme == "http" and not is_loopback(host):
        problems.append(
            f"token_url: plain http is only allowed to a loopback host, not {host!r}; use "
            "https:// (the client secret would travel in clear text)"
        )
    if parts.username is not None or parts.password is not None or parts.fragment:
        problems.append("token_url: must not contain credentials or a fragment")
    return value.strip()


@attrs.frozen
class _Token:
    value: str
    expires_at: float


class ClientCredentials:
    """OAuth2 client credentials for the Lucca API (``/lucca-api``, ``Api-Version`` 2024-11-01).

    Pass it to :class:`~lucca_sync.LuccaDirectory` instead of an :class:`~lucca_sync.ApiKey`
    to read the new Lucca API. The customer creates the client application (and picks its
    scopes and business establishments) at ``https://{tenant}/identity/admin/integration-keys``.

    The access token is requested with the client-credentials grant, cached until
    60 seconds before it expires (``expires_in``, 30 minutes at Lucca), and renewed once when
    Lucca answers 401. ``repr()`` and ``str()`` show the client id only; the secret and the
    tokens never appear in messages or logs.

    Args:
        client_id: The client application's id.
        client_secret: Its secret.
        scopes: Scopes requested with the token; the default is what lucca_sync reads.
        token_url: The token endpoint; ``https`` is required except for loopback hosts.
        clock: Monotonic seconds deciding when the token expired (tests inject a fake).

    Raises:
        ConfigurationError: Any argument is invalid (all problems are listed).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        token_url: str = DEFAULT_TOKEN_URL,
        clock: Callable[[], float] | None = None,
    ) -> None:
        problems: list[str] = []
        self._client_id = _text("client_id", client_id, problems)
        self._secret = _text("client_secret", client_secret, problems)
        self._scopes = _scopes(scopes, problems)
        self._token_url = _token_url(token_url, problems)
        if problems:
            raise ConfigurationError("; ".join(problems), tuple(problems))
        self._clock = clock if clock is not None else time.monotonic
        self._lock = threading.Lock()
        self._token: _Token | None = None
        #: Tokens obtained from the token endpoint so far.
        self.tokens_issued = 0

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self._client_id!r}, client_secret=<redacted>)"

    __str__ = __repr__

    @property
    def client_id(self) -> str:
        """The client application's id (not a secret)."""
        return self._client_id

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes requested with each token."""
        return self._scopes

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return self._token_url

    def bearer_token(self, pool: urllib3.PoolManager, timeout: Timeout) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint.

        Args:
            pool: The urllib3 pool to send the token request through.
            timeout: Connect and read timeouts for it.

        Raises:
            AuthenticationError: The endpoint refused the client id or secret.
            PermissionDeniedError: It refused a requested scope.
            APIStatusError, APIConnectionError: Any other failure, after two retries.
            ResponseDecodeError: The answer carries no access token.
        """
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at:
                token = self._token = self._request(pool, timeout)
            return token.value

    def token_rejected(self, token: str) -> None:
        """Forget ``token`` (Lucca answered 401 with it) so the next call asks for a new one."""
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    def secret_values(self) -> tuple[str, ...]:
        """The client secret, for the transport to redact from messages (never shown)."""
        return (self._secret,)

    def _request(self, pool: urllib3.PoolManager, timeout: Timeout) -> _Token:
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._secret,
                "scope": " ".join(self._scopes),
            }
        )
        where = urlsplit(self._token_url)
        shown = f"{where.scheme}://{where.netloc}{where.path}"
        started = self._clock()
        try:
            response = pool.request(
                "POST",
                self._token_url,
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                timeout=timeout,
                retries=_TOKEN_RETRY,
                redirect=False,
            )
        except HTTPError as exc:
            error = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
            reason, _ = connection_failure(error)
            raise APIConnectionError(
                f"cannot reach the OAuth token endpoint {shown}: {reason}; check the network "
                "and token_url",
                url=shown,
            ) from None
        logger.info("POST %s -> %d (client %s)", shown, response.status, self._client_id)
        if response.status != 200:
            raise self._error(response.status, response.data, shown)
        document = _json(response.data)
        value = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise ResponseDecodeError(
                f"the OAuth token endpoint {shown} answered 200 without an access_token",
                url=shown,
                path="access_token",
            )
        lifetime = document.get("expires_in") if isinstance(document, dict) else None
        seconds = DEFAULT_LIFETIME_SECONDS
        if is_int(lifetime) and cast(int, lifetime) > 0:
            seconds = float(cast(int, lifetime))
        # Renew a margin before the end; very short lifetimes keep at least half of theirs.
        margin = min(REFRESH_MARGIN_SECONDS, seconds / 2)
        self.tokens_issued += 1
        return _Token(value=value, expires_at=started + seconds - margin)

    def _error(self, status: int, data: bytes, shown: str) -> APIStatusError:
        document = _json(data)
        code = description = None
        if isinstance(document, dict):
            code = _clean(document.get("error"), self._secret)
            description = _clean(document.get("error_description"), self._secret)
        said = "; ".join(part for part in (code, description) if part)
        lucca = f" The endpoint said: {said}." if said else ""
        head = f"POST {shown} answered {status}"
        if code == "invalid_scope":
            scopes = " ".join(self._scopes)
            return PermissionDeniedError(
                f"{head}: the client application {self._client_id!r} may not use the scopes "
                f"requested ({scopes}); grant them at https://<tenant>/identity/admin/"
                f"integration-keys.{lucca}",
                status=status, url=shown, lucca_message=said or None,
            )  # fmt: skip
        if status == 401 or code in {"invalid_client", "unauthorized_client"}:
            return AuthenticationError(
                f"{head}: the token endpoint refused the client id or secret of "
                f"{self._client_id!r}; check both, and that the client was not revoked.{lucca}",
                status=status, url=shown, lucca_message=said or None,
            )  # fmt: skip
        if status >= 500 or status == 429:
            return ServerError(
                f"{head} after retries: the token endpoint failed; retry later.{lucca}",
                status=status, url=shown, lucca_message=said or None,
            )  # fmt: skip
        cls = BadRequestError if status == 400 else APIStatusError
        return cls(
            f"{head}: the token request was refused; check token_url and the client.{lucca}",
            status=status, url=shown, lucca_message=said or None,
        )  # fmt: skip


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _clean(value: object, secret: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    # An endpoint may echo the request form-encoded: the secret in any spelling is removed.
    return redact(" ".join(value.split()), (secret,))[:200]
