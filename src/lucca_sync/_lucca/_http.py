"""HTTP to Lucca: URL safety, headers, pacing, retries, and the status -> exception mapping.

Everything that touches the network for the reader goes through :class:`LuccaHttp`. Retries
use urllib3's own :class:`~urllib3.util.Retry` as the policy object (counts, back-off, jitter,
``Retry-After`` parsing) but the waiting happens here, through an injectable ``sleep``, so that
the pacing window and the retry waits share one clock and tests never really sleep.

One module on purpose: every request, retry, wait and error mapping must go through the same
object, so that no path can skip the budget or leak a secret.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Final, Protocol, cast, runtime_checkable
from urllib.parse import unquote, urlencode, urlsplit

import attrs
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InvalidHeader,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Retry, Timeout

from lucca_sync._lucca._credentials import ApiKey
from lucca_sync._lucca._pacing import Pacer
from lucca_sync._lucca._redact import redact
from lucca_sync.exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "BearerCredential",
    "LuccaHttp",
    "Reply",
    "check_base_url",
    "connection_failure",
    "default_retry",
    "error_for_status",
    "is_int",
    "is_loopback",
]

logger = logging.getLogger("lucca_sync.http")

#: Statuses Lucca documents as worth retrying (408 "too slow", 429 "over budget", 5xx).
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
#: Longest single wait honoured from a ``Retry-After`` header (default policy).
MAX_RETRY_AFTER: Final = 120
#: Longest back-off between two attempts (default policy).
MAX_BACKOFF: Final = 30.0
#: Retries of one request stop once this much time went by since its first attempt.
RETRY_BUDGET_SECONDS: Final = 300.0
#: Characters of a non-JSON error body kept as Lucca's message.
_MESSAGE_LIMIT: Final = 200
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost."})


def is_int(value: object) -> bool:
    """``True`` for an ``int`` that is not a ``bool`` (JSON and option values alike)."""
    return isinstance(value, int) and not isinstance(value, bool)


#: What can put a lone surrogate in decoded JSON: a ``\uD800``-``\uDFFF`` escape, or (since
#: ``json.loads`` decodes bytes with ``surrogatepass``) a surrogate encoded as UTF-8 bytes.
#: Two patterns, each with a literal prefix: four times faster than one with an alternation.
_SURROGATES: Final = (re.compile(rb"\\u[dD][89a-fA-F]"), re.compile(rb"\xed[\xa0-\xbf]"))


def surrogate_free(data: bytes) -> bool:
    """Whether ``json.loads(data)`` surely holds no lone surrogate (false positives only).

    One scan of the body replaces a walk over every decoded string (a quarter of ``plan()``'s
    CPU time before, see docs/performance.md).
    """
    escaped, encoded = _SURROGATES
    # Looking for one byte is 30 times faster than the pattern: skip the pattern when its
    # first byte is absent (0xED starts only Hangul syllables and surrogates).
    return (
        json.detect_encoding(data) == "utf-8"
        and not escaped.search(data)
        and not (b"\xed" in data and encoded.search(data))
    )


def _user_agent() -> str:
    try:
        return f"lucca-sync/{version('lucca-sync')}"
    except PackageNotFoundError:  # pragma: no cover - source tree without install
        return "lucca-sync/0+unknown"


def default_retry(attempts: int) -> Retry:
    """The retry policy built from ``retries=<int>``.

    ``attempts`` retries at most, for connection problems and the statuses of
    :data:`RETRYABLE_STATUSES`; exponential back-off (factor 1 s, capped at 30 s) with up to 1 s
    of jitter; ``Retry-After`` honoured up to 120 s; TLS and other errors are not retried.
    """
    return Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRYABLE_STATUSES,
        backoff_factor=1.0,
        backoff_max=MAX_BACKOFF,
        backoff_jitter=1.0,
        respect_retry_after_header=True,
        retry_after_max=MAX_RETRY_AFTER,
        raise_on_status=False,
    )


def check_base_url(base_url: object) -> str:
    """Validate a tenant base URL and return it without a trailing slash.

    ``https`` is required, except for loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``)
    where plain ``http`` is allowed for tests and local stubs.

    Raises:
        ConfigurationError: Not a string, not an absolute http(s) URL, credentials, a query or
            a fragment in the URL, or ``http`` to a host that is not loopback.
    """
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a str, not {type(base_url).__name__}")
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    problems: list[str] = []
    if parts.scheme not in {"https", "http"} or not host:
        problems.append(
            "base_url: expected an absolute URL such as https://acme.ilucca.net, "
            f"got scheme {parts.scheme!r} and host {host!r}"
        )
    elif parts.scheme == "http" and not is_loopback(host):
        problems.append(
            f"base_url: plain http is only allowed to a loopback host, not {host!r}; "
            "use https:// (the API key would travel in clear text)"
        )
    if parts.username is not None or parts.password is not None:
        problems.append("base_url: must not contain credentials; pass the key as credential=")
    if parts.query or parts.fragment:
        problems.append("base_url: must not contain a query string or a fragment")
    if problems:
        raise ConfigurationError("; ".join(problems), tuple(problems))
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    """``True`` for ``localhost`` and loopback IP addresses (where plain http is allowed)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@runtime_checkable
class BearerCredential(Protocol):
    """A credential sent as ``Authorization: Bearer <token>`` (see ``ClientCredentials``)."""

    def bearer_token(self, pool: urllib3.PoolManager, timeout: Timeout) -> str:
        """A valid access token, fetched through ``pool`` when none is cached."""
        ...

    def token_rejected(self, token: str) -> None:
        """Forget ``token``: Lucca answered 401 with it."""
        ...

    def secret_values(self) -> tuple[str, ...]:
        """The values behind the credential that must never be shown (the client secret)."""
        ...


@attrs.frozen
class Reply:
    """A successful (2xx) answer, decoded from JSON.

    Attributes:
        body: The JSON document.
        url: The request URL without its query string (safe for messages).
        attempts: HTTP requests sent to obtain it (1 + retries).
        timed_out: Lucca answered 408 to at least one attempt (the request was too heavy).
        surrogate_free: The body provably holds no lone UTF-16 surrogate (UTF-8 without a
            ``\\uD800``-``\\uDFFF`` escape), so its strings need no check one by one.
    """

    body: object
    url: str
    attempts: int
    timed_out: bool
    surrogate_free: bool = False


class LuccaHttp:
    """GET JSON from one Lucca tenant, with pacing, retries and typed errors.

    Args:
        base_url: Tenant URL; see :func:`check_base_url`.
        credential: The API key, or a :class:`BearerCredential` (OAuth2 client credentials:
            its token is renewed once, and the request retried once, when Lucca answers 401).
        timeout: Seconds for connecting and for reading, or a urllib3 ``Timeout``.
        retries: Retries per request, or a urllib3 ``Retry`` used as the policy.
        requests_per_minute: Pacing budget (see :class:`~lucca_sync._lucca._pacing.Pacer`).
        pool_manager: The urllib3 pool to send through (a new ``PoolManager`` if ``None``).
        clock: Monotonic seconds; ``time.monotonic`` if ``None``.
        sleep: Waits; ``time.sleep`` if ``None``.
        headers: Extra headers sent with every request (``Api-Version`` for the Lucca API).

    Attributes:
        deprecations: ``Deprecation``/``Sunset`` notices seen in answers, once each (each is
            also logged as a WARNING on ``lucca_sync.http``).

    Raises:
        ConfigurationError: Any argument is invalid (all problems are listed).
    """

    def __init__(
        self,
        base_url: str,
        credential: ApiKey | BearerCredential,
        *,
        timeout: float | Timeout = 10.0,
        retries: int | Retry = 5,
        requests_per_minute: int = 50,
        pool_manager: urllib3.PoolManager | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        problems: list[str] = []
        try:
            self.base_url = check_base_url(base_url)
        except ConfigurationError as exc:
            problems.extend(exc.problems)
        if not isinstance(cast(object, credential), ApiKey | BearerCredential):
            problems.append(
                "credential: expected lucca_sync.ApiKey or lucca_sync.ClientCredentials, not "
                f"{type(credential).__name__}"
            )
        self._timeout = _check_timeout(timeout, problems)
        self._retry = _check_retries(retries, problems)
        if not is_int(requests_per_minute) or requests_per_minute < 1:
            problems.append(
                f"requests_per_minute: expected an int >= 1, got {requests_per_minute!r}"
            )
        if problems:
            raise ConfigurationError("; ".join(problems), tuple(problems))
        self._credential = credential
        self._pool = pool_manager if pool_manager is not None else urllib3.PoolManager()
        self._clock = clock if clock is not None else time.monotonic
        self._sleep = sleep if sleep is not None else time.sleep
        self._pacer = Pacer(requests_per_minute, clock=self._clock, sleep=self._sleep)
        self._headers = {
            "Accept": "application/json",
            "User-Agent": _user_agent(),
            **(headers or {}),
        }
        if isinstance(credential, ApiKey):
            self._headers["Authorization"] = credential.authorization_header()
        self.requests_made = 0
        self.retry_waited = 0.0
        self.deprecations: list[str] = []

    def __repr__(self) -> str:
        return f"LuccaHttp({self.base_url!r})"

    def get_json(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Reply:
        """GET ``path`` with ``query`` and return the decoded JSON of the 2xx answer.

        Retries what the policy allows (waiting ``Retry-After`` or the back-off), within
        :data:`RETRY_BUDGET_SECONDS`.

        Raises:
            AuthenticationError, PermissionDeniedError, NotFoundError, BadRequestError: 401,
                403, 404, 400 (never retried).
            RateLimitError, ServerError: 429, 5xx or 408 still returned after the retries.
            APIStatusError: Any other non-2xx status.
            APIConnectionError: No answer (refused, reset, timed out, truncated), after retries.
            ResponseDecodeError: A 2xx whose body is not JSON.
        """
        url = self.base_url + path
        full_url = f"{url}?{urlencode(query, safe=',')}" if query else url
        shown = _shown_path(path, query)
        retry = self._retry
        attempts = 0
        timed_out = False
        started = self._clock()
        refreshed = False
        while True:
            headers, secrets = self._authorized_headers()
            self._pacer.acquire()
            attempts += 1
            self.requests_made += 1
            sent = self._clock()
            try:
                response = self._pool.request(
                    "GET",
                    full_url,
                    headers=headers,
                    timeout=self._timeout,
                    retries=False,
                    redirect=False,
                )
            except HTTPError as exc:
                error = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
                failure, final = self._no_answer(error, url, shown, attempts, sent)
                if final:
                    # Asking again in a few seconds gets the same answer: fail now, plainly.
                    raise failure from exc
                try:
                    retry = retry.increment(method="GET", url=path, error=error)
                except (MaxRetryError, HTTPError):
                    raise failure from exc
                self._wait(retry.get_backoff_time(), started, failure, shown)
                continue
            status = response.status
            logger.info("GET %s -> %d in %d ms", shown, status, _ms(self._clock() - sent))
            self._note_deprecation(path, response.headers)
            if status == 401 and not refreshed and not isinstance(self._credential, ApiKey):
                # An access token can expire (or be revoked) before its announced end: renew
                # it once and send the request again, which no retry policy would do for 401.
                refreshed = True
                self._credential.token_rejected(secrets[0])
                logger.info("GET %s: access token refused, requesting a new one", shown)
                continue
            if 200 <= status < 300:
                return Reply(
                    body=self._decode(response.data, url),
                    url=url,
                    attempts=attempts,
                    timed_out=timed_out,
                    surrogate_free=surrogate_free(response.data),
                )
            timed_out = timed_out or status == 408
            status_error = error_for_status(
                status, url=url, path=path, body=response.data, attempts=attempts,
                secrets=secrets, oauth=not isinstance(self._credential, ApiKey),
            )  # fmt: skip
            has_retry_after = response.headers.get("Retry-After") is not None
            if not retry.is_retry("GET", status, has_retry_after):
                raise status_error
            if status == 429:
                self._pacer.slow_down()
            try:
                retry = retry.increment(method="GET", url=path, response=response)
            except (MaxRetryError, HTTPError):
                raise status_error from None
            self._wait(_retry_wait(retry, response), started, status_error, shown)

    def _no_answer(
        self, error: BaseException, url: str, shown: str, attempts: int, sent: float
    ) -> tuple[APIConnectionError, bool]:
        """The error for a request that got no HTTP answer, and whether it is final."""
        reason, final = connection_failure(error)
        logger.info("GET %s -> %s in %d ms", shown, reason, _ms(self._clock() - sent))
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        host = urlsplit(url).hostname or url
        advice = _CONNECTION_ADVICE[final]
        return APIConnectionError(f"cannot reach {host}: {reason}{tried}; {advice}", url=url), final

    def _authorized_headers(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """The headers of one attempt, and the secrets kept out of messages: the key, or the
        access token first and then the client secret."""
        credential = self._credential
        if isinstance(credential, ApiKey):
            return self._headers, (credential.value,)
        token = credential.bearer_token(self._pool, self._timeout)
        headers = {**self._headers, "Authorization": f"Bearer {token}"}
        return headers, (token, *credential.secret_values())

    def _note_deprecation(self, path: str, headers: Mapping[str, str]) -> None:
        deprecation, sunset = headers.get("Deprecation"), headers.get("Sunset")
        if not deprecation and not sunset:
            return
        # One notice per API (the header is about the Api-Version), not per resource.
        resource = "/lucca-api" if path.startswith("/lucca-api/") else "/".join(path.split("/")[:3])
        parts = [f"Deprecation: {deprecation}" if deprecation else "",
                 f"Sunset: {sunset}" if sunset else ""]  # fmt: skip
        notice = (
            f"Lucca announced that {resource} is deprecated ({'; '.join(p for p in parts if p)});"
            " plan the move to a newer API version before the sunset date"
        )
        if notice not in self.deprecations:
            self.deprecations.append(notice)
            logger.warning("%s", notice)

    def _wait(self, delay: float, started: float, failure: Exception, shown: str) -> None:
        if self._clock() - started + delay > RETRY_BUDGET_SECONDS:
            raise failure
        logger.warning("GET %s: retrying in %.1f s", shown, delay)
        if delay > 0:
            self._sleep(delay)
            self.retry_waited += delay

    @property
    def seconds_waited(self) -> float:
        """Seconds spent waiting so far: for the pacing window, and before retries."""
        return self._pacer.waited + self.retry_waited

    @property
    def requests_per_minute(self) -> int:
        """The current pacing budget: lowered (halved) after each 429 from Lucca."""
        return self._pacer.limit

    @staticmethod
    def _decode(data: bytes, url: str) -> object:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ResponseDecodeError(
                f"Lucca answered {url} with a body that is not JSON ({exc.__class__.__name__}"
                f" at byte {getattr(exc, 'pos', '?')} of {len(data)}); a proxy or an outage page "
                "may be in the way",
                url=url,
                path="",
            ) from None


_CONNECTION_ADVICE: Final = {
    True: "check the tenant URL and this machine's network (DNS, firewall, proxy)",
    False: "check the network and Lucca's status page, then run again",
}


def connection_failure(error: BaseException) -> tuple[str, bool]:
    """Plain words for a request that got no HTTP answer, and whether retrying is pointless.

    A name that does not resolve and a refused connection are answers from the network, not
    accidents: retrying them for half a minute only delays the same failure. Time-outs and
    dropped connections may be passing, so they are retried.

    Args:
        error: The urllib3 error (or its ``reason``).

    Returns:
        ``(reason, final)``: e.g. ``("name not resolved", True)``.
    """
    cause = error.__cause__ or error.__context__
    if isinstance(error, NameResolutionError) or isinstance(cause, socket.gaierror):
        return "name not resolved", True
    # NewConnectionError derives from ConnectTimeoutError (urllib3 keeps it for old code).
    if isinstance(error, NewConnectionError):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", True
        reason = getattr(cause, "strerror", None)
        return (f"cannot connect ({reason.lower()})" if reason else "cannot connect"), False
    if isinstance(error, ConnectTimeoutError):
        return "no answer to the connection (timed out)", False
    if isinstance(error, ReadTimeoutError):
        return "no answer in time (read timed out)", False
    if isinstance(error, SSLError):
        return "the TLS handshake failed (certificate or proxy)", True
    if isinstance(error, ProtocolError):
        return "the connection was dropped", False
    return "no answer", False


def _retry_wait(retry: Retry, response: urllib3.BaseHTTPResponse) -> float:
    if retry.respect_retry_after_header:
        try:
            after = retry.get_retry_after(response)
        except InvalidHeader:
            after = None
        if after is not None:
            return after
    return retry.get_backoff_time()


def _check_timeout(timeout: object, problems: list[str]) -> Timeout:
    if isinstance(timeout, Timeout):
        return timeout
    if (isinstance(timeout, float) or is_int(timeout)) and cast(float, timeout) > 0:
        seconds = float(cast(float, timeout))
        return Timeout(connect=seconds, read=seconds)
    problems.append(f"timeout: expected seconds > 0 or a urllib3.Timeout, got {timeout!r}")
    return Timeout()


def _check_retries(retries: object, problems: list[str]) -> Retry:
    if isinstance(retries, Retry):
        return retries
    if is_int(retries) and cast(int, retries) >= 0:
        return default_retry(cast(int, retries))
    problems.append(f"retries: expected an int >= 0 or a urllib3.Retry, got {retries!r}")
    return default_retry(0)


def _shown_path(path: str, query: Sequence[tuple[str, str]]) -> str:
    # The query carries no secret (the key travels in a header) but can be long: the INFO line
    # keeps the paging only; DEBUG logs the whole query.
    if logger.isEnabledFor(logging.DEBUG):
        return f"{path}?{unquote(urlencode(query, safe=','))}" if query else path
    paging = [value for name, value in query if name == "paging"]
    return f"{path} [paging={paging[0]}]" if paging else path


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


_STATUS_ERRORS: Final[dict[int, tuple[type[APIStatusError], str]]] = {
    400: (BadRequestError, "Lucca refused the query; check the fields and filters sent"),
    401: (
        AuthenticationError,
        "Lucca refused the API key; check that it is the right one for this tenant and that "
        "it has not been revoked",
    ),
    403: (
        PermissionDeniedError,
        "the API key is valid but its role does not allow this read; check the rights "
        "granted to the key's role in Lucca",
    ),
    404: (NotFoundError, "no such resource (or the API key cannot see it)"),
    429: (
        RateLimitError,
        "Lucca's request budget for the tenant (50 per minute, shared by every integration) "
        "is exhausted; retry later or lower requests_per_minute",
    ),
}


_OAUTH_ADVICE: Final = {
    401: "Lucca refused the access token; check the OAuth client (it may have been revoked)",
    403: (
        "the OAuth client lacks the scope (or the business-establishment access) this read "
        "needs; grant it at https://<tenant>/identity/admin/integration-keys"
    ),
}


def error_for_status(
    status: int,
    *,
    url: str,
    path: str,
    body: bytes,
    attempts: int = 1,
    secrets: Iterable[str] = (),
    oauth: bool = False,
) -> APIStatusError:
    """Build the exception for a non-2xx answer: the one place mapping statuses to errors.

    Args:
        status: The HTTP status.
        url: The request URL without its query string.
        path: The path, for the message.
        body: The error body; Lucca's own message is extracted from it when there is one.
        attempts: Requests sent so far for this call (mentioned when retries happened).
        secrets: Values that must never appear in the message (the API key, the access
            token, the client secret), in any spelling (see :func:`redact`).
        oauth: The request carried an OAuth access token (the advice for 401 and 403 differs).
    """
    lucca_message = _lucca_message(body, tuple(secrets))
    if status in _STATUS_ERRORS:
        cls, advice = _STATUS_ERRORS[status]
        advice = _OAUTH_ADVICE.get(status, advice) if oauth else advice
    elif status >= 500 or status == 408:
        cls, advice = ServerError, "Lucca failed to answer; check Lucca's status page and retry"
    else:
        cls, advice = APIStatusError, "unexpected answer from Lucca"
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    said = f" Lucca said: {lucca_message}" if lucca_message else ""
    message = f"GET {path} answered {status}{tried}: {advice}.{said}"
    return cls(message, status=status, url=url, lucca_message=lucca_message)


def _with_problem_errors(message: str | None, errors: object) -> str | None:
    """A problem+json message followed by its ``errors`` (``{name: [messages]}``)."""
    if not isinstance(errors, dict) or not errors:
        return message
    details = "; ".join(
        f"{name}: {' '.join(str(m) for m in (found if isinstance(found, list) else [found]))}"
        for name, found in errors.items()
    )
    return f"{message} ({details})" if message else details


def _lucca_message(body: bytes, secrets: tuple[str, ...]) -> str | None:
    """Lucca's explanation: problem+json ``detail``/``title`` (with its ``errors``), then
    ``Message``, then text."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    message: str | None = None
    try:
        document = json.loads(text)
    except ValueError:
        message = text
    else:
        if isinstance(document, dict):
            for key in ("detail", "title", "Message", "message"):
                value = document.get(key)
                if isinstance(value, str) and value.strip():
                    message = value.strip()
                    break
            message = _with_problem_errors(message, document.get("errors"))
        elif isinstance(document, str):
            message = document
    if message is None:
        return None
    # Redacted before it is shortened: a secret cut in half would no longer be recognised.
    message = redact(" ".join(message.split()), secrets)
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return message
