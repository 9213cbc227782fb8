"""The Lucca API (``/lucca-api``, ``Api-Version: 2024-11-01``) on :class:`FakeLucca`.

Resources are derived, at each request, from the fake's v3 user dicts, so one company (for
instance from :func:`~lucca_sync.testing.generate_company`) is served through both APIs:

* employee ``{uid}`` (string ids), status from the contract dates and ``fake.today``;
* its employment ``{uid}1`` (contract dates; none when the user has no ``dtContractStart``);
* its job position ``{uid}2`` (job title, manager, department, establishment = v3
  ``legalEntity``; none when the user has no department or establishment);
* departments and business establishments from the users' references;
* employee-extensions from ``extendedData`` (unwrapped; one resource per value of a list).

OAuth2: ``POST /connect/token`` (client-credentials grant, form body) issues Bearer tokens that
expire after ``token_lifetime`` seconds of the fake's clock. Every ``/lucca-api`` request needs
a valid token (401 otherwise), an ``Api-Version`` of ``2024-11-01`` or later (400), and the
resource's ``.readonly`` scope among the token's (403). Collections page with opaque keyset
cursors (``limit`` 0..100, default 25, else 400) and honour ``include=links,embedded,totalCount``.
Errors are ``application/problem+json``.

One module on purpose: one API version of the fake, its OAuth server and its resources.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import itertools
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import Final, Protocol
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from lucca_sync._lucca._v3 import unwrap
from lucca_sync.testing._fake_http import RecordedRequest, _json_response, _Response

__all__ = ["LuccaApiRoutes"]

API_VERSION: Final = "2024-11-01"
MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 25
_INCLUDES: Final = frozenset({"embedded", "links", "totalCount"})
_PAGING: Final = frozenset({"page", "limit", "include", "sort"})
_BEARER = re.compile(r"^\s*Bearer\s+(?P<token>\S+)\s*$", re.IGNORECASE)
_PARIS: Final = ZoneInfo("Europe/Paris")
_CREATED: Final = "2019-01-02T08:00:00.000Z"
Resource = dict[str, object]


class _ProblemError(Exception):
    def __init__(
        self, status: int, title: str, detail: str, errors: Mapping[str, list[str]] | None = None
    ) -> None:
        self.status, self.title, self.detail, self.errors = status, title, detail, errors
        super().__init__(detail)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> _Response:
    """An RFC 7807 ``application/problem+json`` answer, as the Lucca API sends them."""
    payload: dict[str, object] = {
        "type": f"https://httpstatuses.io/{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        payload["errors"] = dict(errors)
    response = _json_response(status, payload, {"Api-Version": API_VERSION, **(headers or {})})
    return _Response(
        status=status,
        body=response.body,
        headers={**response.headers, "Content-Type": "application/problem+json; charset=utf-8"},
    )


def _cursor(last_id: str) -> str:
    return "!" + base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        if not cursor.startswith("!"):
            raise ValueError
        text = cursor[1:]
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _ProblemError(400, "Bad Request", "page: not a cursor of this collection",
                            {"page": ["invalid cursor"]}) from None  # fmt: skip


def _order(resource_id: str) -> tuple[int, int, str]:
    return (0, int(resource_id), "") if resource_id.isdigit() else (1, 0, resource_id)


def _list(request: RecordedRequest, name: str) -> list[str] | None:
    values = request.query.get(name)
    if values is None:
        return None
    return [part for value in values for part in value.split(",") if part]


def _stamp(value: object) -> str | None:
    # v3 stamps are naive Paris times; the Lucca API writes UTC with a "Z".
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_PARIS)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _ref_id(value: object) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Tenant(Protocol):
    """What the Lucca API routes read from the :class:`FakeLucca` they extend: its users,
    contracts, clock, lock, visibility settings and routing table."""

    today: date
    see_extended: bool
    hidden_extended_codes: frozenset[str]
    _generation: int  # changes whenever a user is added, updated or removed
    report_count: bool
    _users: dict[int, dict[str, object]]
    _contracts: dict[int, tuple[date | None, date | None]]

    @property
    def url(self) -> str: ...

    @property
    def _lock(self) -> AbstractContextManager[object]: ...

    def _clock(self) -> float: ...

    def _take_page_fault(self, path: str) -> tuple[str, int] | None: ...

    def _add_route(
        self,
        method: str,
        pattern: str,
        handler: Callable[[RecordedRequest, re.Match[str]], _Response],
        description: str,
        guard: Callable[[RecordedRequest, str | None, bytes], _Response | None] | None = None,
    ) -> None: ...


class LuccaApiRoutes:
    """The Lucca API side of a :class:`FakeLucca` (``fake.lucca_api``).

    Attributes:
        client_id, client_secret: the OAuth client the token endpoint accepts.
        token_lifetime: seconds a token stays valid (``expires_in``).
        granted_scopes: scopes the client may obtain (``None``: any it asks for); asking for
            others is ``invalid_scope``; a token without a resource's scope gets 403.
        embed: ``False`` simulates a server that ignores ``include=embedded``.
        deprecation, sunset: values of the ``Deprecation``/``Sunset`` response headers
            (``None``: not sent).
    """

    def __init__(
        self,
        fake: Tenant,
        *,
        client_id: str | None,
        client_secret: str | None,
        token_lifetime: float,
    ) -> None:
        self._fake = fake
        self.client_id = client_id if client_id is not None else f"fake-{secrets.token_hex(4)}"
        self.client_secret = client_secret if client_secret is not None else secrets.token_hex(16)
        self.token_lifetime = token_lifetime
        self.granted_scopes: frozenset[str] | None = None
        self.embed = True
        self.deprecation: str | None = None
        self.sunset: str | None = None
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._built: tuple[object, ...] | None = None
        self._cache: dict[tuple[str, bool], _Collection] = {}
        fake._add_route("POST", r"/connect/token", self._token, "POST /connect/token", self._grant)
        for kind, builder in (
            ("employees", self._employees),
            ("employments", self._employments),
            ("job-positions", self._positions),
            ("departments", self._departments),
            ("business-establishments", self._establishments),
            ("employee-extensions", self._extensions),
        ):
            fake._add_route(
                "GET", f"/lucca-api/{kind}", self._collection_handler(kind, builder),
                f"GET /lucca-api/{kind}", self._guard,
            )  # fmt: skip
            fake._add_route(
                "GET", f"/lucca-api/{kind}/(?P<id>[^/]+)", self._single_handler(kind, builder),
                f"GET /lucca-api/{kind}/{{id}}", self._guard,
            )  # fmt: skip

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (as if they had expired or been revoked)."""
        with self._fake._lock:
            self._tokens.clear()

    # -- OAuth ---------------------------------------------------------------------------------

    def _grant(self, request: RecordedRequest, _auth: str | None, body: bytes) -> _Response:
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)

        def field(name: str) -> str:
            return form.get(name, [""])[0]

        def oauth_error(status: int, code: str, description: str) -> _Response:
            payload = {"error": code, "error_description": description}
            return _json_response(status, payload)

        if request.headers.get("Content-Type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"
        ):
            return oauth_error(400, "invalid_request", "expected a form-encoded body")
        if field("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "only client_credentials")
        if not (
            hmac.compare_digest(field("client_id").encode(), self.client_id.encode())
            and hmac.compare_digest(field("client_secret").encode(), self.client_secret.encode())
        ):
            return oauth_error(401, "invalid_client", "unknown client or wrong secret")
        scopes = frozenset(field("scope").split())
        if self.granted_scopes is not None and not scopes <= self.granted_scopes:
            return oauth_error(400, "invalid_scope", "scope not granted to this client")
        token = secrets.token_urlsafe(24)
        with self._fake._lock:
            self._tokens[token] = (self._fake._clock() + self.token_lifetime, scopes)
        lifetime = round(self.token_lifetime)
        return _json_response(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
             "scope": " ".join(sorted(scopes))},
        )  # fmt: skip

    def _token(self, _request: RecordedRequest, _match: re.Match[str]) -> _Response:
        raise AssertionError("the token endpoint answers from its guard")  # pragma: no cover

    def _guard(self, request: RecordedRequest, auth: str | None, _body: bytes) -> _Response | None:
        match = _BEARER.match(auth or "")
        with self._fake._lock:
            entry = self._tokens.get(match["token"]) if match else None
            now = self._fake._clock()
        if entry is None or entry[0] <= now:
            return problem(401, "Unauthorized", "missing, invalid or expired access token")
        version = request.headers.get("Api-Version")
        if version is None:
            return problem(400, "Bad Request", "the Api-Version header is required",
                           errors={"Api-Version": ["required"]})  # fmt: skip
        try:
            if date.fromisoformat(version) < date.fromisoformat(API_VERSION):
                raise ValueError
        except ValueError:
            expected = f"expected {API_VERSION} or later"
            return problem(400, "Bad Request", f"unsupported Api-Version {version!r}",
                           errors={"Api-Version": [expected]})  # fmt: skip
        scope = request.path.split("/")[2]
        if not {f"{scope}.readonly", f"{scope}.readwrite"} & entry[1]:
            return problem(403, "Forbidden", f"the access token lacks the scope {scope}.readonly")
        return None

    # -- handlers ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Api-Version": API_VERSION}
        if self.deprecation is not None:
            headers["Deprecation"] = self.deprecation
        if self.sunset is not None:
            headers["Sunset"] = self.sunset
        return headers

    def _collection_handler(
        self, kind: str, builder: Callable[[bool], Iterable[tuple[Resource, Resource]]]
    ) -> Callable[[RecordedRequest, re.Match[str]], _Response]:
        def handle(request: RecordedRequest, _match: re.Match[str]) -> _Response:
            try:
                return self._collection(request, kind, builder)
            except _ProblemError as exc:
                return problem(exc.status, exc.title, exc.detail, errors=exc.errors)

        return handle

    def _single_handler(
        self, kind: str, builder: Callable[[bool], Iterable[tuple[Resource, Resource]]]
    ) -> Callable[[RecordedRequest, re.Match[str]], _Response]:
        def handle(request: RecordedRequest, match: re.Match[str]) -> _Response:
            try:
                includes = self._includes(request)
            except _ProblemError as exc:
                return problem(exc.status, exc.title, exc.detail, errors=exc.errors)
            found = self._resources(kind, builder, "links" in includes).by_id.get(match["id"])
            if found is None:
                return problem(404, "Not Found", f"no {kind} {match['id']}")
            resource, embedded = found
            body = dict(resource)
            if "embedded" in includes:
                body["embedded"] = embedded if self.embed else None
            return _json_response(200, body, self._headers())

        return handle

    @staticmethod
    def _includes(request: RecordedRequest) -> set[str]:
        includes = set(_list(request, "include") or [])
        if not includes <= _INCLUDES:
            raise _ProblemError(400, "Bad Request", "include: unknown value",
                                {"include": ["embedded, links or totalCount"]})  # fmt: skip
        return includes

    def _collection(
        self,
        request: RecordedRequest,
        kind: str,
        builder: Callable[[bool], Iterable[tuple[Resource, Resource]]],
    ) -> _Response:
        includes = self._includes(request)
        raw_limit = request.param("limit")
        try:
            limit = DEFAULT_LIMIT if raw_limit is None else int(raw_limit)
            if not 0 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            raise _ProblemError(400, "Bad Request", "limit: expected an integer from 0 to 100",
                                {"limit": [f"between 0 and {MAX_LIMIT}"]}) from None  # fmt: skip
        sort = request.param("sort")
        if sort not in {None, "id"}:
            raise _ProblemError(400, "Bad Request", "sort: FakeLucca only sorts by id")
        filters = {
            name: set(_list(request, name) or []) for name in request.query if name not in _PAGING
        }
        known = _FILTERS[kind]
        unknown = sorted(set(filters) - known)
        if unknown:
            raise _ProblemError(400, "Bad Request", f"unknown query parameter {unknown[0]!r}",
                                {unknown[0]: ["unknown parameter"]})  # fmt: skip
        resources = self._resources(kind, builder, "links" in includes)
        fault, rows = self._fake._take_page_fault(request.path) or ("", 0)
        cursor = None if fault == "ignore_paging" else request.param("page")
        after = None if cursor is None else _order(_after(cursor))
        # One page costs what it scans from the cursor on (a 100k read stays linear); only a
        # totalCount looks at every resource, and is remembered until the data changes.
        ids = filters.pop("id", None)
        page, more = resources.page(ids, filters, after, limit)
        base = self._fake.url
        query = [(name, value) for name, values in request.query.items() for value in values]
        body: dict[str, object] = {
            "type": kind,
            "url": f"{base}{request.path}?{urlencode(query)}" if query else base + request.path,
            "items": [resource for resource, _embedded in page],
        }
        if fault == "short_page":  # the links below still follow the whole page
            body["items"] = [resource for resource, _embedded in page[: max(len(page) - rows, 0)]]
        if "totalCount" in includes:
            counted = max(resources.count(ids, filters) + (rows if fault == "miscount" else 0), 0)
            body["totalCount"] = counted if self._fake.report_count else None
        if "links" in includes:
            following = None
            if more and page:
                kept = [(n, v) for n, v in query if n != "page"]
                kept.append(("page", _cursor(str(page[-1][0]["id"]))))
                following = {"href": f"{base}{request.path}?{urlencode(kept)}"}
            body["links"] = {"prev": None, "next": following}
        if "embedded" in includes:
            merged: dict[str, dict[str, object]] = {}
            for _resource, embedded in page:
                for name, by_id in embedded.items():
                    if isinstance(by_id, dict):
                        merged.setdefault(name, {}).update(by_id)
            body["embedded"] = merged if self.embed else None
        return _json_response(200, body, self._headers())

    def _resources(
        self,
        kind: str,
        builder: Callable[[bool], Iterable[tuple[Resource, Resource]]],
        links: bool,
    ) -> _Collection:
        """The resources of ``kind`` in id order, built again only after the fake's data
        changed (a user added, updated or removed, ``today``, the visibility settings)."""
        fake = self._fake
        with fake._lock:
            key = (fake._generation, fake.today, fake.see_extended,
                   fake.hidden_extended_codes, fake.url)  # fmt: skip
            if key != self._built:
                self._built, self._cache = key, {}
            cached = self._cache.get((kind, links))
            if cached is None:
                cached = self._cache[(kind, links)] = _Collection(builder(links))
            return cached

    # -- resources derived from the v3 users ---------------------------------------------------

    def _url(self, kind: str, resource_id: str) -> str:
        return f"{self._fake.url}/lucca-api/{kind}/{resource_id}"

    def _ref(self, kind: str, type_name: str, resource_id: str) -> Resource:
        return {"id": resource_id, "type": type_name, "url": self._url(kind, resource_id)}

    def _status(self, user_id: int) -> str:
        start, end = self._fake._contracts[user_id]
        today = self._fake.today
        if end is not None and end < today:
            return "deactivated"
        return "upcoming" if start is not None and start > today else "active"

    def _users(self) -> list[tuple[int, dict[str, object], str]]:
        with self._fake._lock:
            return [
                (user_id, user, self._status(user_id))
                for user_id, user in self._fake._users.items()
            ]

    def _employment(self, user_id: int, user: Mapping[str, object], status: str) -> Resource | None:
        start, end = self._fake._contracts[user_id]
        if start is None:
            return None
        stamp = _stamp(user.get("modifiedAt", user.get("modifiedOn"))) or _CREATED
        resource_id = f"{user_id}1"
        return {
            "id": resource_id, "type": "employment", "url": self._url("employments", resource_id),
            "remoteId": None, "employee": self._ref("employees", "employee", str(user_id)),
            "legalEntity": self._ref("legal-entities", "legal-entity", "1"), "status": status,
            "start": {"date": start.isoformat()},
            "end": None if end is None else {"date": end.isoformat()},
            "document": None,
            "template": self._ref("employment-templates", "employment-template", "1"),
            "createdAt": _CREATED, "lastUpdatedAt": stamp,
        }  # fmt: skip

    def _position(self, user_id: int, user: Mapping[str, object], status: str) -> Resource | None:
        department, establishment = (
            _ref_id(user.get("department")),
            _ref_id(user.get("legalEntity")),
        )
        if department is None or establishment is None:
            return None
        start, end = self._fake._contracts[user_id]
        manager = _ref_id(user.get("manager"))
        if manager is None:
            flat = next((v for k, v in user.items() if k.lower() == "managerid"), None)
            manager = _ref_id(flat)
        title = user.get("jobTitle")
        stamp = _stamp(user.get("modifiedAt", user.get("modifiedOn"))) or _CREATED
        resource_id = f"{user_id}2"
        return {
            "id": resource_id, "type": "job-position",
            "url": self._url("job-positions", resource_id), "remoteId": None,
            "employee": self._ref("employees", "employee", str(user_id)),
            "status": status, "startsOn": (start or date(2000, 1, 1)).isoformat(),
            "endsOn": None if end is None else end.isoformat(),
            "businessEstablishment": self._ref(
                "business-establishments", "business-establishment", str(establishment)
            ),
            "jobTitle": title if isinstance(title, str) and title else None,
            "jobQualification": None,
            "manager": (
                None if manager is None else self._ref("employees", "employee", str(manager))
            ),
            "occupationCategory": None, "workingTimeArrangement": None,
            "department": self._ref("departments", "department", str(department)),
            "document": None, "notes": None, "createdAt": _CREATED, "lastUpdatedAt": stamp,
            "links": {},
        }  # fmt: skip

    def _employees(self, links: bool) -> Iterable[tuple[Resource, Resource]]:
        for user_id, user, status in self._users():
            employment = self._employment(user_id, user, status)
            position = self._position(user_id, user, status)
            mail, number = user.get("mail"), user.get("employeeNumber")
            resource: Resource = {
                "id": str(user_id), "type": "employee",
                "url": self._url("employees", str(user_id)), "remoteId": None, "portrait": None,
                "givenName": user.get("firstName"), "familyName": user.get("lastName"),
                "employeeNumber": number if isinstance(number, str) and number else None,
                "status": status, "email": mail if isinstance(mail, str) and mail else None,
                "birthDay": None, "phoneNumber": None,
                "createdAt": _CREATED,
                "lastUpdatedAt": _stamp(user.get("modifiedAt", user.get("modifiedOn")))
                or _CREATED,
            }  # fmt: skip
            embedded: Resource = {"employment": {}, "job-position": {}}
            if employment is not None:
                resource["applicableEmployment"] = self._ref(
                    "employments", "employment", str(employment["id"])
                )
                embedded["employment"] = {employment["id"]: employment}
            if position is not None:
                resource["applicableJobPosition"] = self._ref(
                    "job-positions", "job-position", str(position["id"])
                )
                embedded["job-position"] = {position["id"]: position}
            if links:
                base = f"{self._fake.url}/lucca-api"
                resource["links"] = {
                    "employments": {"href": f"{base}/employments?employee.id={user_id}"},
                    "jobPositions": {"href": f"{base}/job-positions?employee.id={user_id}"},
                    "personalRecord": None,
                    "portrait": None,
                }
            yield resource, embedded

    def _employments(self, links: bool) -> Iterable[tuple[Resource, Resource]]:
        for user_id, user, status in self._users():
            employment = self._employment(user_id, user, status)
            if employment is not None:
                if links:
                    employment["links"] = {"document": None, "jobPositions": None,
                                           "probationaryPeriods": None}  # fmt: skip
                yield employment, {}

    def _positions(self, _links: bool) -> Iterable[tuple[Resource, Resource]]:
        for user_id, user, status in self._users():
            position = self._position(user_id, user, status)
            if position is not None:
                yield position, {}

    def _named(self, key: str) -> dict[int, str]:
        names: dict[int, str] = {}
        for _user_id, user, _status in self._users():
            ref = user.get(key)
            ref_id = _ref_id(ref)
            if ref_id is not None and isinstance(ref, dict):
                names.setdefault(ref_id, str(ref.get("name") or f"{key} {ref_id}"))
        return names

    def _departments(self, links: bool) -> Iterable[tuple[Resource, Resource]]:
        for ref_id, name in self._named("department").items():
            resource: Resource = {
                **self._ref("departments", "department", str(ref_id)),
                "remoteId": None, "isArchived": False, "name": name, "description": None,
                "parent": None, "level": 1, "manager": None, "sortOrder": 0,
            }  # fmt: skip
            if links:
                query = urlencode({"applicableJobPosition.department.id": ref_id})
                href = f"{self._fake.url}/lucca-api/employees?{query}"
                resource["links"] = {"activeEmployees": {"href": href}}
            yield resource, {}

    def _establishments(self, _links: bool) -> Iterable[tuple[Resource, Resource]]:
        for ref_id, name in self._named("legalEntity").items():
            resource: Resource = {
                **self._ref("business-establishments", "business-establishment", str(ref_id)),
                "name": name, "remoteId": None, "isArchived": False,
                "legalEntity": self._ref("legal-entities", "legal-entity", "1"),
                "isHeadquarters": ref_id == 1, "createdAt": _CREATED, "lastUpdatedAt": _CREATED,
                "links": {},
            }  # fmt: skip
            yield resource, {}

    def _extensions(self, _links: bool) -> Iterable[tuple[Resource, Resource]]:
        fake = self._fake
        for user_id, user, _status in self._users():
            extended = user.get("extendedData")
            if not isinstance(extended, dict) or not fake.see_extended:
                continue
            for code, entry in extended.items():
                if code.casefold() in fake.hidden_extended_codes:
                    continue
                value = unwrap(entry)
                values = value if isinstance(value, list) else [value]
                for index, single in enumerate(v for v in values if v is not None):
                    resource_id = f"{user_id}-{code}-{index}"
                    yield {
                        "id": resource_id, "type": "employee-extension",
                        "url": self._url("employee-extensions", resource_id),
                        "employee": self._ref("employees", "employee", str(user_id)),
                        "extensionDefinition": self._ref(
                            "employee-extension-definitions", "employee-extension-definition", code
                        ),
                        "value": single, "createdAt": _CREATED, "lastUpdatedAt": _CREATED,
                    }, {}  # fmt: skip


_FILTERS: Final[Mapping[str, frozenset[str]]] = {
    "employees": frozenset({"id", "status", "email"}),
    "employments": frozenset({"id", "employee.id", "status"}),
    "job-positions": frozenset({"id", "employee.id", "employment.id", "status"}),
    "departments": frozenset({"isArchived"}),
    "business-establishments": frozenset({"isArchived"}),
    "employee-extensions": frozenset({"employee.id", "extensionDefinition.id"}),
}


class _Collection:
    """Resources of one kind in id order, with their embedded resources, found by id."""

    def __init__(self, pairs: Iterable[tuple[Resource, Resource]]) -> None:
        self.ordered = sorted(pairs, key=lambda pair: _order(str(pair[0]["id"])))
        self.keys = [_order(str(resource["id"])) for resource, _embedded in self.ordered]
        self.by_id = {str(pair[0]["id"]): pair for pair in self.ordered}
        self._counts: dict[tuple[object, ...], int] = {}

    def _candidates(
        self, ids: set[str] | None, after: tuple[int, int, str] | None
    ) -> Iterable[tuple[Resource, Resource]]:
        """The resources past the cursor, in id order; only those of ``ids`` when given."""
        if ids is None:
            start = 0 if after is None else bisect.bisect_right(self.keys, after)
            return itertools.islice(self.ordered, start, None)
        chosen = sorted(
            (self.by_id[i] for i in ids if i in self.by_id),
            key=lambda pair: _order(str(pair[0]["id"])),
        )
        return [p for p in chosen if after is None or _order(str(p[0]["id"])) > after]

    def page(
        self,
        ids: set[str] | None,
        filters: Mapping[str, set[str]],
        after: tuple[int, int, str] | None,
        limit: int,
    ) -> tuple[list[tuple[Resource, Resource]], bool]:
        """Up to ``limit`` matches after the cursor, and whether more follow."""
        page: list[tuple[Resource, Resource]] = []
        for pair in self._candidates(ids, after):
            if all(_matches(pair[0], name, values) for name, values in filters.items()):
                if len(page) == limit:
                    return page, True
                page.append(pair)
        return page, False

    def count(self, ids: set[str] | None, filters: Mapping[str, set[str]]) -> int:
        """Every match, whatever the cursor (``totalCount``)."""
        key = (None if ids is None else frozenset(ids),
               *sorted((name, frozenset(values)) for name, values in filters.items()))  # fmt: skip
        if key not in self._counts:
            self._counts[key] = sum(
                1
                for resource, _embedded in self._candidates(ids, None)
                if all(_matches(resource, name, values) for name, values in filters.items())
            )
        return self._counts[key]


def _matches(resource: Mapping[str, object], name: str, values: set[str]) -> bool:
    found: object = resource
    for part in name.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if name == "isArchived":
        return str(found).casefold() in {value.casefold() for value in values}
    return found in values
