"""FakeLucca: Lucca's legacy v3 directory API over real HTTP on the loopback interface.

A stdlib ``ThreadingHTTPServer`` (``_fake_http.py``) runs in a daemon thread. Requests go through
a small routing table (method, path pattern, handler), so other Lucca APIs can be added beside
``/api/v3`` (the Lucca API's routes are in ``_fake_lucca_api.py``).
Behaviour follows the project's Lucca reference (§4, §5, §12, §13); faults are injected per
request from queues, and every request is logged with its secret redacted.

This module is one class, `FakeLucca`, on purpose: its public methods (users, faults, the
request log) and the v3 routes share one lock and one store of users, and read as one API.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Literal, Self
from zoneinfo import ZoneInfo

import attrs

import lucca_sync.testing._fake_query as q
from lucca_sync.testing._fake_http import (
    RecordedRequest,
    _error,
    _Handler,
    _json_response,
    _reason,
    _Response,
    _Route,
    _Server,
    _summary,
)
from lucca_sync.testing._users import paris_today

__all__ = ["Envelope", "FakeLucca"]

_log = logging.getLogger("lucca_sync.testing")

Envelope = Literal["full", "data", "items"]

_RESERVED: Final = frozenset({"fields", "orderby", "paging", "formeremployees", "_"})
_AUTH = re.compile(r"^\s*lucca\s+application\s*=\s*(?P<key>\S+)\s*$", re.IGNORECASE)
_PARIS: Final = "Europe/Paris"


@attrs.define
class _Fault:
    kind: Literal[
        "status", "truncate", "invalid_json", "reset", "delay",
        "short_page", "miscount", "ignore_paging",
    ]  # fmt: skip
    times: int
    path: str | None
    status: int = 0
    rows: int = 0  # short_page: rows dropped; miscount: added to the count
    retry_after: str | None = None
    body: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    seconds: float = 0.0

    def applies_to(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


def _take(queue: deque[_Fault], path: str) -> _Fault | None:
    for fault in queue:
        if fault.applies_to(path):
            fault.times -= 1
            if fault.times <= 0:
                queue.remove(fault)
            return fault
    return None


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeLucca:
    """A fake Lucca tenant serving the legacy v3 users API on ``http://127.0.0.1:<port>``.

    Use it as a context manager (or call :meth:`start` and :meth:`close`). It answers
    ``GET /api/v3/users`` and ``GET /api/v3/users/{id}`` like Lucca: API-key authentication,
    ``fields`` projections, ``paging``, ``orderBy``, filters with operators and the ``null``
    idiom, former employees hidden unless ``formerEmployees=true``, and the
    ``{header, data}`` envelope.

    Errors raised while handling a request (a bug, or an exception from ``before_response``)
    are answered with 500 and a one-line summary, kept in :attr:`errors`, and the first one is
    re-raised by :meth:`close` — so they fail the test instead of vanishing. When the ``with``
    body is already failing, they are attached to that exception as a note instead.

    Args:
        users: initial users, as v3 wire dicts (see :func:`make_lucca_user`); each needs an
            integer ``id``.
        api_key: the key clients must send; a random token when ``None``.
        today: the date that classifies employees as former/upcoming; default: today in
            Europe/Paris at construction. Settable later through :attr:`today`.
        envelope: ``"full"`` = ``{header, data}`` (default), ``"data"`` = ``{data}`` only,
            ``"items"`` = bare ``{items}`` lists and bare user objects.
        principal: the ``header.principal`` value.
        see_future: ``False`` simulates a key without the "See future employees" right:
            upcoming hires are silently left out.
        see_former: ``False`` simulates a key without "See former employees": leavers are left
            out even with ``formerEmployees=true``.
        see_extended: ``False`` simulates a key without HR-folder rights: ``extendedData`` is
            always empty.
        hidden_extended_codes: custom-field codes silently left out of ``extendedData``.
        rate_limit: ``(max_requests, window_seconds)``: requests over the budget in any
            sliding window get 429 with ``Retry-After``.
        before_response: called with each request (``status=None``) before its response is
            computed — e.g. to change the directory between two pages.
        clock: monotonic clock in seconds for the rate limit and the Lucca API's token expiry
            (inject one to test without sleeping).
        client_id: the Lucca API's OAuth client id (``/lucca-api``, configured through
            ``fake.lucca_api``: scopes, embedding, deprecation headers, token expiry);
            random when ``None``. The same users are served through both APIs.
        client_secret: its secret; random when ``None``.
        token_lifetime: seconds an access token from :attr:`token_url` stays valid.
        report_count: ``False`` simulates a server that sends no count: ``collection.count``
            adds no ``data.count``, and the Lucca API's ``totalCount`` is ``null``.
    """

    def __init__(
        self,
        users: Iterable[Mapping[str, object]] = (),
        *,
        api_key: str | None = None,
        today: date | None = None,
        envelope: Envelope = "full",
        principal: str = "FakeLucca API key",
        see_future: bool = True,
        see_former: bool = True,
        see_extended: bool = True,
        hidden_extended_codes: Iterable[str] = (),
        rate_limit: tuple[int, float] | None = None,
        before_response: Callable[[RecordedRequest], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime: float = 1800.0,
        report_count: bool = True,
    ) -> None:
        if envelope not in {"full", "data", "items"}:
            raise ValueError(f"envelope must be 'full', 'data' or 'items', not {envelope!r}")
        if rate_limit is not None and (rate_limit[0] < 1 or rate_limit[1] <= 0):
            raise ValueError("rate_limit must be (max_requests >= 1, window_seconds > 0)")
        self.api_key: str = api_key if api_key is not None else secrets.token_hex(16)
        self.today: date = today if today is not None else paris_today()
        """The date that classifies employees as former or upcoming (settable)."""
        self.envelope: Envelope = envelope
        self.principal = principal
        self.see_future = see_future
        self.see_former = see_former
        self.see_extended = see_extended
        self.hidden_extended_codes: frozenset[str] = frozenset(
            code.casefold() for code in hidden_extended_codes
        )
        self.rate_limit = rate_limit
        self.report_count = report_count
        self.before_response = before_response
        self.errors: list[BaseException] = []
        """Errors raised while handling requests, in order (the first is re-raised by
        :meth:`close`)."""
        self._clock = clock
        self._lock = threading.RLock()
        self._users: dict[int, dict[str, object]] = {}
        # Contract (start, end) dates per user id, parsed once: classifying 100k users per
        # request must stay cheap.
        self._contracts: dict[int, tuple[date | None, date | None]] = {}
        # Bumped by every change of a user: the Lucca API routes rebuild their resources then.
        self._generation = 0
        self._requests: list[RecordedRequest] = []
        self._faults: deque[_Fault] = deque()
        self._delays: deque[_Fault] = deque()
        self._page_faults: deque[_Fault] = deque()
        self._admitted: deque[float] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._errors_raised = False
        self._closing = threading.Event()
        self._routes: list[_Route] = []
        self._add_route("GET", r"/api/v3/users", self._list_users, "GET /api/v3/users")
        self._add_route(
            "GET", r"/api/v3/users/(?P<id>-?\d+)", self._get_user, "GET /api/v3/users/{id}"
        )
        # Imported here: the Lucca API routes build on this module's responses and routes.
        from lucca_sync.testing._fake_lucca_api import LuccaApiRoutes

        self.lucca_api = LuccaApiRoutes(
            self, client_id=client_id, client_secret=client_secret, token_lifetime=token_lifetime
        )
        self.client_id: str = self.lucca_api.client_id
        self.client_secret: str = self.lucca_api.client_secret
        for user in users:
            self.add_user(user)

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "not started"
        return f"FakeLucca({state}, users={len(self._users)})"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (idempotent); returns ``self``."""
        with self._lock:
            if self._server is not None:
                return self
            handler = type("_BoundHandler", (_Handler,), {"fake": self})
            server = _Server(("127.0.0.1", 0), handler)
            self._closing.clear()
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeLucca:{server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, then re-raise the first error raised while handling a request.

        Raises:
            BaseException: the first handler error recorded in :attr:`errors`, if any.
        """
        self._stop()
        self._raise_errors()

    def _stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        self._closing.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _raise_errors(self) -> None:
        with self._lock:
            if not self.errors or self._errors_raised:
                return
            self._errors_raised = True
            first = self.errors[0]
        if len(self.errors) > 1:
            first.add_note(f"FakeLucca recorded {len(self.errors)} errors; see fake.errors")
        raise first

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        self._stop()
        for error in self.errors:
            exc.add_note(f"FakeLucca handler error: {_summary(error)}")

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash).

        Raises:
            RuntimeError: when the server is not started.
        """
        server = self._server
        if server is None:
            raise RuntimeError("FakeLucca is not started; use it in a with block or call start()")
        return f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def token_url(self) -> str:
        """The Lucca API's OAuth token endpoint on this fake (``{url}/connect/token``)."""
        return f"{self.url}/connect/token"

    # -- users -----------------------------------------------------------------------------

    @property
    def users(self) -> list[dict[str, Any]]:
        """Copies of the current users' wire dicts, in insertion order."""
        with self._lock:
            return [_copy(user) for user in self._users.values()]

    def add_user(self, user: Mapping[str, object]) -> int:
        """Add (or replace) a user; returns its id.

        A user without ``id`` gets the next free id.

        Raises:
            ValueError: ``id`` is not an integer.
        """
        record = _copy(dict(user))
        with self._lock:
            if "id" not in record:
                record = {"id": max(self._users, default=0) + 1, **record}
            user_id = record["id"]
            if not isinstance(user_id, int) or isinstance(user_id, bool):
                raise ValueError(f"a Lucca v3 user id is an integer, got {type(user_id).__name__}")
            self._users[user_id] = record
            self._contracts[user_id] = _contract(record)
            self._generation += 1
        return user_id

    def remove_user(self, user_id: int) -> None:
        """Remove a user (as if deleted in Lucca).

        Raises:
            KeyError: no such user.
        """
        with self._lock:
            del self._users[user_id]
            del self._contracts[user_id]
            self._generation += 1

    def update_user(self, user_id: int, **fields: object) -> dict[str, Any]:
        """Change wire fields of a user and bump its modification timestamp; returns a copy.

        The timestamp (``modifiedAt``, or ``modifiedOn`` when the user carries that key) is set
        to now in Europe/Paris unless given in ``fields``. Changing ``firstName``/``lastName``
        also updates ``name`` and ``displayName`` unless they are given.

        Raises:
            KeyError: no such user.
        """
        with self._lock:
            user = self._users[user_id]
            changes = _copy(fields)
            first = changes.get("firstName", user.get("firstName"))
            last = changes.get("lastName", user.get("lastName"))
            if {"firstName", "lastName"} & changes.keys():
                changes.setdefault("name", f"{first} {last}")
                changes.setdefault("displayName", f"{last} {first}")
            stamp_key = "modifiedOn" if "modifiedOn" in user else "modifiedAt"
            if not {"modifiedAt", "modifiedOn"} & changes.keys():
                changes[stamp_key] = _now_stamp()
            user.update(changes)
            self._contracts[user_id] = _contract(user)
            self._generation += 1
            updated: dict[str, object] = _copy(user)
            return updated

    # -- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received so far, oldest first (a copy of the log)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._requests.clear()

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
        body: str | bytes | Mapping[str, object] | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` instead of the real response.

        Args:
            status: the HTTP status to answer, e.g. 429, 500, 503.
            retry_after: ``Retry-After`` value: seconds (number) or an HTTP date (string).
            times: how many requests get this answer.
            body: the body: a mapping (sent as JSON), a string (text/plain) or bytes (JSON
                content type); default ``{"Message": <reason phrase>}``.
            path: only requests whose path starts with this prefix are affected.
        """
        content_type = "application/json; charset=utf-8"
        if body is None:
            payload = {"Message": _reason(status)}
            raw = json.dumps(payload).encode()
        elif isinstance(body, Mapping):
            raw = json.dumps(dict(body), ensure_ascii=False).encode("utf-8")
        elif isinstance(body, str):
            raw, content_type = body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            raw = body
        retry = str(math.ceil(retry_after)) if isinstance(retry_after, float | int) else retry_after
        self._queue(
            _Fault(
                "status",
                times,
                path,
                status=status,
                retry_after=retry,
                body=raw,
                content_type=content_type,
            )
        )

    def delay_next(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Wait ``seconds`` before answering each of the next ``times`` requests."""
        self._queue(_Fault("delay", times, path, seconds=seconds), delays=True)

    def truncate_next(self, *, times: int = 1, path: str | None = None) -> None:
        """Announce the full ``Content-Length`` but send only half the body, then close."""
        self._queue(_Fault("truncate", times, path))

    def invalid_json_next(self, *, times: int = 1, path: str | None = None) -> None:
        """Answer 200 with a JSON content type and a body that is not valid JSON."""
        self._queue(_Fault("invalid_json", times, path))

    def reset_next(self, *, times: int = 1, path: str | None = None) -> None:
        """Close the connection abruptly (TCP reset) without answering."""
        self._queue(_Fault("reset", times, path))

    def short_page_next(self, rows: int = 1, *, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` list pages (200) without their last ``rows`` items.

        The count and the next-page link stay those of the whole page, as when a proxy or a
        fault drops rows from an otherwise valid answer.
        """
        if rows < 1:
            raise ValueError("rows must be at least 1")
        self._queue(_Fault("short_page", times, path, rows=rows), pages=True)

    def miscount_next(self, delta: int, *, times: int = 1, path: str | None = None) -> None:
        """Add ``delta`` to the count (v3 ``data.count``, Lucca API ``totalCount``) of the next
        ``times`` list answers: a count that does not match the list (never below 0)."""
        self._queue(_Fault("miscount", times, path, rows=delta), pages=True)

    def ignore_paging_next(self, *, times: int = 1, path: str | None = None) -> None:
        """Answer the next ``times`` list requests with the first page, whatever their
        ``paging`` offset (v3) or ``page`` cursor (Lucca API) asks."""
        self._queue(_Fault("ignore_paging", times, path), pages=True)

    def clear_faults(self) -> None:
        """Drop every pending injected fault and delay."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._page_faults.clear()

    def _queue(self, fault: _Fault, *, delays: bool = False, pages: bool = False) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        queue = self._delays if delays else self._page_faults if pages else self._faults
        with self._lock:
            queue.append(fault)

    def _take_page_fault(self, path: str) -> tuple[str, int] | None:
        """The page fault for the list request at ``path``, if any: ``(kind, rows)``."""
        with self._lock:
            fault = _take(self._page_faults, path)
        return None if fault is None else (fault.kind, fault.rows)

    # -- request handling ----------------------------------------------------------------------

    def _add_route(
        self,
        method: str,
        pattern: str,
        handler: Callable[[RecordedRequest, re.Match[str]], _Response],
        description: str,
        guard: Callable[[RecordedRequest, str | None, bytes], _Response | None] | None = None,
    ) -> None:
        self._routes.append(
            _Route(method, re.compile(pattern + r"/?"), handler, description, guard)
        )

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _respond(
        self, request: RecordedRequest, authorization: str | None, body: bytes = b""
    ) -> _Response:
        if self.before_response is not None:
            self.before_response(request)
        limited = self._rate_limited()
        if limited is not None:
            return limited
        with self._lock:
            delay = _take(self._delays, request.path)
            fault = _take(self._faults, request.path)
        if delay is not None:
            self._closing.wait(delay.seconds)  # cut short when the fake closes
        if fault is not None and fault.kind == "status":
            headers = {"Content-Type": fault.content_type}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            return _Response(status=fault.status, body=fault.body or b"", headers=headers)
        if fault is not None and fault.kind == "reset":
            return _Response(status=0, mode="reset")
        response = self._route(request, authorization, body)
        if fault is not None and fault.kind == "truncate":
            return attrs.evolve(response, mode="truncate")
        if fault is not None and fault.kind == "invalid_json":
            body = b'{"header":{},"data":{"items":[{"id":1,"name":"Zo\xc3\xa9'
            return _Response(
                status=200, body=body, headers={"Content-Type": "application/json; charset=utf-8"}
            )
        return response

    def _rate_limited(self) -> _Response | None:
        if self.rate_limit is None:
            return None
        budget, window = self.rate_limit
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - window:
                self._admitted.popleft()
            if len(self._admitted) < budget:
                self._admitted.append(now)
                return None
            wait = max(1, math.ceil(self._admitted[0] + window - now))
        return _error(
            429,
            f"Too many requests: at most {budget} per {window:g} seconds",
            {"Retry-After": str(wait)},
        )

    def _route(
        self, request: RecordedRequest, authorization: str | None, body: bytes = b""
    ) -> _Response:
        path_matched = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if route.method == request.method:
                denied = route.guard(request, authorization, body) if route.guard else None
                if denied is not None:
                    return denied
                if route.guard is None and not self._authorized(authorization):
                    return _error(401, "Unauthorized: missing or invalid API key")
                try:
                    return route.handler(request, match)
                except q.QueryError as exc:
                    return _error(400, str(exc))
        if path_matched:
            return _error(405, f"Method {request.method} is not allowed on {request.path}")
        supported = ", ".join(route.description for route in self._routes)
        return _error(404, f"FakeLucca serves only: {supported}")

    def _authorized(self, authorization: str | None) -> bool:
        match = _AUTH.match(authorization or "")
        return match is not None and hmac.compare_digest(
            match["key"].encode("utf-8"), self.api_key.encode("utf-8")
        )

    # -- /api/v3/users -------------------------------------------------------------------------

    def _visible(self, user_id: int, *, former: bool) -> bool:
        start, end = self._contracts[user_id]
        if end is not None and end < self.today and not (former and self.see_former):
            return False
        return self.see_future or start is None or start <= self.today

    def _shown(self, user: Mapping[str, object]) -> Mapping[str, object]:
        """The user with extended data the key may not see removed."""
        extended = user.get("extendedData")
        if not isinstance(extended, dict) or (self.see_extended and not self.hidden_extended_codes):
            return user
        visible = (
            {
                code: value
                for code, value in extended.items()
                if code.casefold() not in self.hidden_extended_codes
            }
            if self.see_extended
            else {}
        )
        return {**user, "extendedData": visible}

    def _header(self) -> dict[str, object]:
        generated = datetime.now(ZoneInfo(_PARIS)).replace(tzinfo=None)
        return {
            "generated": generated.isoformat(timespec="milliseconds"),
            "principal": self.principal,
        }

    def _wrap(self, data: dict[str, object]) -> _Response:
        if self.envelope == "items":
            return _json_response(200, data)
        payload: dict[str, object] = {"data": data}
        if self.envelope == "full":
            payload = {"header": self._header(), **payload}
        return _json_response(200, payload)

    def _list_users(self, request: RecordedRequest, _match: re.Match[str]) -> _Response:
        fields = self._fields(request)
        offset, limit = q.parse_paging(request.param("paging"))
        kind, rows = self._take_page_fault(request.path) or ("", 0)
        if kind == "ignore_paging":
            offset = 0
        orders = q.parse_order(request.param("orderBy") or "id,asc")
        former_raw = request.param("formerEmployees")
        if former_raw is not None and former_raw.casefold() not in {"true", "false"}:
            raise q.QueryError("formerEmployees: expected true or false")
        filters: list[q.Filter] = []
        for name, values in request.query.items():
            if name.casefold() in _RESERVED:
                continue
            root = name.split(".", 1)[0].casefold()
            if not q.is_known(root) and not self._has_property(root):
                raise q.QueryError(f"filter {name}: unknown property of users")
            filters.extend(q.parse_filter(name, value) for value in values)
        # The documented way to list leavers is an explicit dtContractEnd filter (§4.5), so
        # such a filter replaces the default "hide former employees".
        former = (former_raw or "").casefold() == "true" or any(
            f.path == ("dtcontractend",) for f in filters
        )
        for order in orders:
            if not q.is_known(order.path[0]) and not self._has_property(order.path[0]):
                raise q.QueryError(f"orderBy: unknown property {'.'.join(order.path)!r}")
        data: dict[str, object] = {}
        with self._lock:  # one consistent view of the directory per request
            selected: list[Mapping[str, object]] = [
                user
                for user_id, user in self._users.items()
                if self._visible(user_id, former=former) and all(f.matches(user) for f in filters)
            ]
            q.sort_users(selected, orders)
            if not fields.count_only:
                page = selected[offset : offset + limit]
                if kind == "short_page":
                    page = page[: max(len(page) - rows, 0)]
                data["items"] = [q.project(self._shown(user), fields) for user in page]
        if fields.count and self.report_count:
            data["count"] = max(len(selected) + (rows if kind == "miscount" else 0), 0)
        return self._wrap(data)

    def _get_user(self, request: RecordedRequest, match: re.Match[str]) -> _Response:
        fields = self._fields(request)
        with self._lock:
            user = self._users.get(int(match["id"]))
            if user is None or not self._visible(int(match["id"]), former=True):
                return _error(404, f"User {match['id']} not found")
            projected = q.project(self._shown(user), attrs.evolve(fields, count=False))
        if self.envelope == "items":
            return _json_response(200, projected)
        return self._wrap(projected)

    def _fields(self, request: RecordedRequest) -> q.Fields:
        fields = q.parse_fields(request.param("fields"))
        for name in fields.tree:
            if not q.is_known(name) and not self._has_property(name):
                raise q.QueryError(f"fields: unknown property {name!r} of users")
        return fields

    def _has_property(self, folded: str) -> bool:
        with self._lock:
            return any(q.find_key(user, folded) is not None for user in self._users.values())


def _copy(value: Any) -> Any:
    """A deep copy of JSON-like data (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _contract(user: Mapping[str, object]) -> tuple[date | None, date | None]:
    return q.wire_date(user.get("dtContractStart")), q.wire_date(user.get("dtContractEnd"))


def _now_stamp() -> str:
    now = datetime.now(ZoneInfo(_PARIS)).replace(tzinfo=None)
    return now.isoformat(timespec="milliseconds")
