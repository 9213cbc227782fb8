"""The HTTP side of the fakes: a threaded server on loopback, the request log entry
(`RecordedRequest`), responses, and a routing table entry. No Lucca behaviour lives here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Literal, Protocol
from urllib.parse import parse_qs, urlsplit

import attrs

__all__ = ["RecordedRequest", "Responder"]

_log = logging.getLogger("lucca_sync.testing")


def _frozen_query(value: Mapping[str, Sequence[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({key: tuple(values) for key, values in value.items()})


def _frozen_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen
class RecordedRequest:
    """One request FakeLucca received, as logged in :attr:`FakeLucca.requests`.

    Attributes:
        method: HTTP method, e.g. ``"GET"``.
        path: the URL path without the query, e.g. ``"/api/v3/users"``.
        query: decoded query parameters, each with all its values in order
            (``{"paging": ("0,1000",)}``); names as the client wrote them.
        headers: request headers as sent; an ``Authorization`` value is replaced by
            ``"lucca application=***"`` (or ``"<scheme> ***"`` for other schemes).
        status: the status answered; ``None`` while the request is being handled (as seen by
            ``before_response``) and for connections reset without an answer.
    """

    method: str
    path: str
    query: Mapping[str, tuple[str, ...]] = attrs.field(converter=_frozen_query)
    headers: Mapping[str, str] = attrs.field(converter=_frozen_headers, repr=False)
    status: int | None = None

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (matched case-insensitively), if any."""
        for key, values in self.query.items():
            if key.casefold() == name.casefold() and values:
                return values[0]
        return None


def _redact(name: str, value: str) -> str:
    if name.casefold() != "authorization":
        return value
    scheme = value.strip().split(" ", 1)[0]
    if scheme.casefold() == "lucca":
        return "lucca application=***"
    return f"{scheme} ***"


# --------------------------------------------------------------------------------------------
# Responses and faults
# --------------------------------------------------------------------------------------------


@attrs.frozen
class _Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    # "truncate": announce the full length, send half, close; "reset": no answer at all.
    mode: Literal["normal", "truncate", "reset"] = "normal"


def _json_response(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> _Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return _Response(status=status, body=body, headers=all_headers)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> _Response:
    # Legacy v3 error bodies: Lucca's UI and SDK read a "Message" member (reference §10).
    return _json_response(status, {"Message": message}, headers)


@attrs.frozen
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[RecordedRequest, re.Match[str]], _Response]
    description: str
    # Replaces the API-key check: gets the raw Authorization header and body; a response
    # returned answers the request instead of the handler (the Lucca API's own auth).
    guard: Callable[[RecordedRequest, str | None, bytes], _Response | None] | None = None


class Responder(Protocol):
    """What the HTTP layer needs from the fake it serves (a :class:`FakeLucca`)."""

    errors: list[BaseException]

    @property
    def _lock(self) -> AbstractContextManager[object]: ...

    def _respond(self, request: RecordedRequest, auth: str | None, body: bytes) -> _Response: ...

    def _record(self, request: RecordedRequest) -> None: ...


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _summary(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip().replace("\n", " | ")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block close()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (timeouts, tests of faults) is routine here; errors
        # of FakeLucca itself are caught in the handler and re-raised by close().
        _log.debug("FakeLucca: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Turns one HTTP exchange into a FakeLucca response. ``fake`` is bound per server."""

    fake: Responder
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 pools connections
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "FakeLucca"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("FakeLucca: " + format, *args)

    def _dispatch(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # never recorded: it may hold secrets
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={name: _redact(name, value) for name, value in self.headers.items()},
        )
        try:
            response = fake._respond(request, self.headers.get("Authorization"), body)
        except Exception as exc:
            with fake._lock:
                fake.errors.append(exc)
            _log.debug("FakeLucca handler error", exc_info=True)
            response = _error(500, f"FakeLucca internal error: {_summary(exc)}")
        fake._record(
            attrs.evolve(request, status=None if response.mode == "reset" else response.status)
        )
        if response.mode == "reset":
            self._reset()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if response.mode == "truncate":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_connection = True
            return
        self.end_headers()
        self.wfile.write(response.body)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST instead of a FIN.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
