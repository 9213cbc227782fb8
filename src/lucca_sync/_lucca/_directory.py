"""The Lucca directory reader: :class:`LuccaDirectory` and its lazy :class:`EmployeePager`.

Completeness is the rule here: a read either returns every employee Lucca lists, or raises.

Paging uses ``paging={offset},{limit}`` with pages that **overlap by one row**: each page after
the first starts at the last row of the previous one (offset step ``limit - 1``). Under a stable
order (``orderBy=id,asc``), finding that row again proves that no row was skipped between the
two pages, even if employees were added or removed meanwhile (rows that moved back into view
are de-duplicated by id). If the row is not found, rows shifted by an unknown amount: the read
restarts from the first page (still de-duplicating what was already returned), at most
:data:`MAX_RESTARTS` times, then gives up with :class:`~lucca_sync.exceptions.IncompleteReadError`.
The cost is at most one or two extra requests per read: ``ceil(n / 1000) + 2`` in the worst
case for ``n`` employees, instead of ``ceil(n / 1000) + 1``, and no extra count request.

One module on purpose: `LuccaDirectory` and `EmployeePager` are one public API (the pager is
what ``list_employees`` returns), and the completeness rules above span both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, tzinfo
from typing import Any, Final, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import urllib3
from urllib3.util import Retry, Timeout

from lucca_sync._employee import Employee, slim_raw
from lucca_sync._lucca._completeness import RepeatedPageError, Restart, V3Pass, listed_count
from lucca_sync._lucca._credentials import ApiKey
from lucca_sync._lucca._http import LuccaHttp, is_int
from lucca_sync._lucca._lucca_api import API_VERSION, LuccaApiReader
from lucca_sync._lucca._oauth import ClientCredentials
from lucca_sync._lucca._v3 import USER_FIELDS, RowKey, V3Decoder, row_key
from lucca_sync.exceptions import ConfigurationError, IncompleteReadError, ResponseDecodeError

__all__ = ["MAX_RESTARTS", "EmployeePager", "LuccaDirectory"]

logger = logging.getLogger("lucca_sync.http")

#: Re-reads from the first page after rows shifted between pages, before giving up.
MAX_RESTARTS: Final = 2
_RESTART_REASONS: Final = {
    "shifted": "users shifted between two pages (employees added or removed during the read)",
    "short": "the pages held fewer users than Lucca counted (a page came back short)",
    "long": "the pages went on past Lucca's count of users",
}
#: Largest page Lucca serves for users.
MAX_PAGE_SIZE: Final = 1000
#: After a 408 ("request too slow") pages are halved, down to this size.
MIN_PAGE_SIZE_AFTER_408: Final = 100
_USERS_PATH: Final = "/api/v3/users"
_SUBDOMAIN: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
ENVIRONMENTS: Final = ("ilucca", "ilucca-test", "ilucca-demo")
REGIONS: Final = ("net", "ch")


class LuccaDirectory:
    """Reads employees from a Lucca tenant, through the API its credential is for.

    An :class:`ApiKey` reads the legacy v3 users API (``/api/v3/users``); a
    :class:`ClientCredentials` reads the Lucca API (``/lucca-api``, ``Api-Version:
    2024-11-01``, see ``docs/howto/lucca-api.md``). Both give the same :class:`Employee` values.

    Every request is paced (``requests_per_minute`` in any sliding 60 s window), retried on
    429/408/5xx and connection errors as the ``retries`` policy allows, and logged on the
    ``lucca_sync.http`` logger (one INFO line per request, never the key nor HR data).

    Args:
        base_url: The tenant, e.g. ``https://acme.ilucca.net``; ``https`` is required except
            for loopback hosts.
        credential: The API key (legacy API), or OAuth client credentials (Lucca API).
        timeout: Seconds to connect and to read each answer, or a urllib3 ``Timeout``.
        retries: Retries per request (default policy: exponential back-off with jitter,
            ``Retry-After`` honoured up to 120 s), or a urllib3 ``Retry`` used as the policy.
        page_size: Users per request, 1..1000 (pages overlap by one row, so 1 acts as 2); the
            Lucca API serves at most 100 per page, so larger values mean 100 there.
        requests_per_minute: Client-side pacing; Lucca's budget is 50 per tenant, shared by
            every integration of the tenant.
        pool_manager: The urllib3 pool to send through (proxies, custom TLS); a new
            ``PoolManager`` if ``None``.
        clock: Monotonic seconds for pacing and retry budgets (tests inject a fake).
        sleep: How to wait (tests inject a fake that advances their clock).
        time_zone: The tenant's time zone (an IANA name or a ``tzinfo``): decides "today" for
            former/upcoming employees and converts date-times that carry an offset.
        custom_fields: Lucca API only: the custom-field codes read into ``extended_data``
            (``None``, the default: all of them, like the legacy API, except that ``plan()``
            reads only those its rules and mapping need; ``()``: none, which also spares the
            ``employee-extensions.readonly`` scope). When set, a plan whose rules or mapping
            read another code raises ``ConfigurationError``.

    Raises:
        ConfigurationError: Any argument is invalid; every problem is listed.
    """

    def __init__(
        self,
        base_url: str,
        credential: ApiKey | ClientCredentials,
        *,
        timeout: float | Timeout = 10.0,
        retries: int | Retry = 5,
        page_size: int = MAX_PAGE_SIZE,
        requests_per_minute: int = 50,
        pool_manager: urllib3.PoolManager | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        time_zone: str | tzinfo = "Europe/Paris",
        custom_fields: Iterable[str] | None = None,
    ) -> None:
        problems: list[str] = []
        if not is_int(page_size) or not 1 <= page_size <= MAX_PAGE_SIZE:
            problems.append(f"page_size: expected an int from 1 to 1000, got {page_size!r}")
        zone = _zone(time_zone, problems)
        try:
            self._http = LuccaHttp(
                base_url,
                credential,
                timeout=timeout,
                retries=retries,
                requests_per_minute=requests_per_minute,
                pool_manager=pool_manager,
                clock=clock,
                sleep=sleep,
                headers=(
                    {"Api-Version": API_VERSION}
                    if isinstance(credential, ClientCredentials)
                    else None
                ),
            )
        except ConfigurationError as exc:
            problems[:0] = exc.problems
        if problems:
            raise ConfigurationError("; ".join(problems), tuple(problems))
        self._page_size = page_size
        self._zone = zone
        self._decoder = V3Decoder(zone)
        self._custom_fields = None if custom_fields is None else tuple(custom_fields)
        self._api = (
            LuccaApiReader(self._http, zone, page_size=page_size, custom_fields=self._custom_fields)
            if isinstance(credential, ClientCredentials)
            else None
        )

    @classmethod
    def from_subdomain(
        cls,
        subdomain: str,
        credential: ApiKey | ClientCredentials,
        *,
        environment: str = "ilucca",
        region: str = "net",
        **options: Any,
    ) -> LuccaDirectory:
        """A directory for ``https://{subdomain}.{environment}.{region}``.

        Args:
            subdomain: The tenant's name, the part before ``.ilucca.net`` (``"acme"``).
            credential: The API key.
            environment: ``"ilucca"`` (production), ``"ilucca-test"`` (the customer's test
                copy) or ``"ilucca-demo"``.
            region: ``"net"`` (France, default) or ``"ch"`` (Switzerland).
            **options: Any keyword option of :class:`LuccaDirectory`.

        Raises:
            ConfigurationError: An invalid subdomain, environment or region (all listed).
        """
        problems: list[str] = []
        if not isinstance(cast(object, subdomain), str) or not _SUBDOMAIN.fullmatch(
            subdomain.lower()
        ):
            problems.append(
                f"subdomain: expected a DNS label such as 'acme' (the part before "
                f"'.ilucca.net', letters, digits and '-'), got {subdomain!r}"
            )
        if environment not in ENVIRONMENTS:
            problems.append(f"environment: expected one of {ENVIRONMENTS}, got {environment!r}")
        if region not in REGIONS:
            problems.append(f"region: expected one of {REGIONS}, got {region!r}")
        if problems:
            raise ConfigurationError("; ".join(problems), tuple(problems))
        return cls(f"https://{subdomain.lower()}.{environment}.{region}", credential, **options)

    def __repr__(self) -> str:
        return f"LuccaDirectory({self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The tenant URL, without a trailing slash."""
        return self._http.base_url

    @property
    def requests_made(self) -> int:
        """HTTP requests sent by this directory so far, retries included."""
        return self._http.requests_made

    @property
    def deprecations(self) -> list[str]:
        """``Deprecation``/``Sunset`` notices Lucca sent so far (each logged once as a WARNING)."""
        return list(self._http.deprecations)

    @property
    def reads_changes(self) -> bool:
        """Whether incremental reads are possible: v3 filters on ``modifiedAt``; the Lucca API
        (``ClientCredentials``) has no such filter, so every read there is a full one."""
        return self._api is None

    @property
    def reads_former_by_id(self) -> bool:
        """Whether a read can leave former employees out and fetch the few it needs by id
        (``list_employees(also_ids=…)``): the Lucca API (``ClientCredentials``) can."""
        return self._api is not None

    @property
    def seconds_waited(self) -> float:
        """Seconds this directory spent waiting: for the pacing window and before retries."""
        return self._http.seconds_waited

    @property
    def requests_per_minute(self) -> int:
        """The current pacing budget; halved after each 429 (the tenant's budget is shared)."""
        return self._http.requests_per_minute

    def today(self) -> date:
        """Today's date in the tenant's time zone."""
        return datetime.now(self._zone).date()

    def list_employees(
        self,
        *,
        include_former: bool = False,
        modified_since: datetime | None = None,
        strict: bool = True,
        today: date | None = None,
        ended_between: tuple[date, date] | None = None,
        started_between: tuple[date, date] | None = None,
        keep_raw: bool = True,
        custom_fields: Iterable[str] | None = None,
        also_ids: Iterable[int] | None = None,
    ) -> EmployeePager:
        """The employees of the directory, read lazily page by page.

        Nothing is requested before the pager is iterated; each iteration is a new read.

        Args:
            include_former: Also return employees whose contract has ended.
            modified_since: Only employees modified at or after this moment (naive = tenant
                local time). Such a read cannot see deletions: pair it with full reads.
            strict: ``True``: a malformed user stops the read with ``ResponseDecodeError``.
                ``False``: it is left out and its error appended to ``pager.errors``.
            today: The date that separates former from active employees; today in the
                tenant's time zone if ``None``.
            ended_between: Only employees whose contract ended in this inclusive range of
                dates (former employees included whatever ``include_former`` says).
            started_between: Only employees whose contract started in this inclusive range.
            keep_raw: ``False``: each ``Employee.raw`` keeps only the user's ``extendedData``
                instead of the whole JSON, which is most of an employee's memory. ``plan()``
                asks for this when no rule or mapping field can read anything else.
            custom_fields: Lucca API only: the custom-field codes to read this time, among the
                directory's own ``custom_fields`` when those are set (``None``: the directory's
                choice). ``plan()`` passes the codes its rules and mapping read. The legacy API
                returns every custom field with each user and ignores this.
            also_ids: Lucca API only, without ``include_former``: former employees are not
                listed; the employees of ``also_ids`` and the managers of everyone read that
                the list did not return (a former manager, and so on up the chain) are read
                by id, 100 per request, and the pager then returns everyone it read, former
                ones included. ``plan()`` passes the target's active users, so that a run
                learns who left without reading every former employee.

        Returns:
            An :class:`EmployeePager`.

        Raises:
            ConfigurationError: ``modified_since`` or ``today`` has the wrong type; or, with
                the Lucca API, ``modified_since``/``ended_between``/``started_between`` is
                given (that API has no such filters: read everything instead); or
                ``custom_fields`` names a code the directory's ``custom_fields`` leave out; or
                ``also_ids`` is given to a directory reading the legacy API.
        """
        if self._api is not None and (
            modified_since is not None or ended_between is not None or started_between is not None
        ):
            raise ConfigurationError(
                "modified_since, ended_between and started_between are not supported with "
                "ClientCredentials: the Lucca API 2024-11-01 has no filter on modification "
                "or contract dates; read the whole directory instead"
            )
        codes = self._custom_fields if custom_fields is None else tuple(custom_fields)
        if codes is not None and self._custom_fields is not None and self._api:
            allowed = {code.casefold() for code in self._custom_fields}
            left_out = sorted({c for c in codes if c.casefold() not in allowed})
            if left_out:
                raise ConfigurationError(
                    f"custom_fields: the read needs the custom field(s) {', '.join(left_out)} "
                    "(an exclusion rule or a mapped field reads them), but this LuccaDirectory "
                    "reads only " + (", ".join(self._custom_fields) or "none") + "; add them "
                    "to LuccaDirectory(custom_fields=...) (lucca.custom_fields in the "
                    "configuration file), or drop that option to read what the plan needs"
                )
        if also_ids is not None and self._api is None:
            raise ConfigurationError(
                "also_ids needs ClientCredentials: the legacy API reads former employees with "
                "the others (list_employees(include_former=True))"
            )
        if modified_since is not None and not isinstance(cast(object, modified_since), datetime):
            raise ConfigurationError(
                f"modified_since: expected a datetime, got {type(modified_since).__name__}"
            )
        if today is not None and (
            not isinstance(cast(object, today), date) or isinstance(today, datetime)
        ):
            raise ConfigurationError(f"today: expected a date, got {type(today).__name__}")
        filters: list[tuple[str, str]] = []
        for name, bounds in (
            ("dtContractEnd", ended_between),
            ("dtContractStart", started_between),
        ):
            if bounds is not None:
                low, high = bounds
                filters.append((name, f"between,{low.isoformat()},{high.isoformat()}"))
        return EmployeePager(
            self,
            include_former=bool(include_former) or ended_between is not None,
            modified_since=self._naive(modified_since) if modified_since else None,
            strict=bool(strict),
            today=today,
            filters=tuple(filters),
            keep_raw=bool(keep_raw),
            custom_fields=codes,
            also_ids=None if also_ids is None else frozenset(also_ids),
        )

    def count_employees(self, *, today: date | None = None) -> int:
        """How many current and upcoming employees the key can see, in one cheap request.

        Counts what ``list_employees()`` would return (contract not ended before ``today``),
        with Lucca's ``fields=collection.count``: no user is transferred.

        Raises:
            ConfigurationError: The directory reads the Lucca API (``ClientCredentials``),
                which has no incremental reads to pair this count with.
            ResponseDecodeError: The answer holds no integer ``count``.
            APIError: The request failed (see :class:`LuccaDirectory`).
        """
        if self._api is not None:
            raise ConfigurationError(
                "count_employees() and incremental reads need an ApiKey: the Lucca API "
                "2024-11-01 has no filter on modification dates; use full reads"
            )
        day = today or self.today()
        query = [
            ("fields", "collection.count"),
            ("formerEmployees", "true"),
            ("dtContractEnd", f"since,{day.isoformat()},null"),
        ]
        reply = self._http.get_json(_USERS_PATH, query)
        body = reply.body
        data = body.get("data", body) if isinstance(body, dict) else None
        count = data.get("count") if isinstance(data, dict) else None
        if not is_int(count):
            raise ResponseDecodeError(
                f"{reply.url} did not return an integer data.count for fields=collection.count",
                url=reply.url,
                path="data.count",
            )
        return cast(int, count)

    def get_employee(self, employee_id: int) -> Employee:
        """One employee by id (former employees included).

        Raises:
            ConfigurationError: ``employee_id`` is not a positive int.
            NotFoundError: No such user, or the key cannot see them.
            APIError: Any other failure (see :class:`LuccaDirectory`).
        """
        if not is_int(employee_id) or employee_id < 1:
            raise ConfigurationError(f"employee_id: expected a positive int, got {employee_id!r}")
        if self._api is not None:
            return self._api.get_employee(employee_id)[0]
        reply = self._http.get_json(f"{_USERS_PATH}/{employee_id}", [("fields", USER_FIELDS)])
        return self._decoder.single(reply.body, url=reply.url)

    def _naive(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            return moment
        return moment.astimezone(self._zone).replace(tzinfo=None)


class EmployeePager:
    """A lazy read of the directory: iterate it for employees, or :meth:`by_page` for lists.

    Each iteration sends its own requests. After (or during) an iteration:

    Attributes:
        errors: With ``strict=False``, the ``ResponseDecodeError`` of each user left out.
        requests_made: HTTP requests sent by the last iteration, retries included.
        requests_by_resource: The same, per resource read (``"users"`` for the legacy API;
            ``"employees"``, ``"departments"``, ``"employee-extensions"`` … for the Lucca API).
        restarts: How many times the last iteration re-read from the first page because rows
            shifted between pages.

    Raises (while iterating):
        ResponseDecodeError: A malformed page (always) or user (``strict=True``).
        IncompleteReadError: Rows kept shifting between pages; the read may miss people.
        APIError: Any HTTP failure, after the retries. An exception always means the read
            is incomplete: the employees already yielded are not the whole directory.
    """

    def __init__(
        self,
        directory: LuccaDirectory,
        *,
        include_former: bool,
        modified_since: datetime | None,
        strict: bool,
        today: date | None,
        filters: tuple[tuple[str, str], ...] = (),
        keep_raw: bool = True,
        custom_fields: tuple[str, ...] | None = None,
        also_ids: frozenset[int] | None = None,
    ) -> None:
        self._directory = directory
        self._custom_fields = custom_fields
        self._also_ids = also_ids
        self._keep_raw = keep_raw
        self._filters = filters
        self._include_former = include_former
        self._modified_since = modified_since
        self._strict = strict
        self._today = today
        self.errors: list[ResponseDecodeError] = []
        self.requests_made = 0
        self.requests_by_resource: dict[str, int] = {}
        self.restarts = 0

    def __repr__(self) -> str:
        return (
            f"EmployeePager({self._directory.base_url!r}, include_former={self._include_former},"
            f" strict={self._strict})"
        )

    def __iter__(self) -> Iterator[Employee]:
        for page in self.by_page():
            yield from page

    def by_page(self) -> Iterator[list[Employee]]:
        """Read the directory, yielding the new employees of each HTTP page as a list.

        Pages may be shorter than ``page_size`` (or empty): rows already returned and, unless
        ``include_former``, former employees are left out.
        """
        self.errors = []
        self.requests_made = 0
        self.requests_by_resource = {}
        self.restarts = 0
        return self._read()

    @property
    def deprecations(self) -> list[str]:
        """``Deprecation``/``Sunset`` notices Lucca sent to the directory so far."""
        return self._directory.deprecations

    def _read(self) -> Iterator[list[Employee]]:
        today = self._today or self._directory.today()
        if self._directory._api is not None:
            yield from self._directory._api.read(
                self,
                include_former=self._include_former,
                strict=self._strict,
                today=today,
                keep_raw=self._keep_raw,
                custom_fields=self._custom_fields,
                also_ids=self._also_ids,
            )
            return
        seen: set[RowKey] = set()
        count = 0
        restart: Restart | None = None
        last = Restart("shifted")
        for attempt in range(MAX_RESTARTS + 1):
            if restart is not None:
                self.restarts += 1
                logger.warning(
                    "%s; reading again from the first page (%d/%d)",
                    _RESTART_REASONS[restart.reason],
                    attempt,
                    MAX_RESTARTS,
                )
            restart = None
            for page in self._pass(today, seen):
                if isinstance(page, Restart):
                    restart = page
                    break
                count += len(page)
                yield page
            if restart is None:
                logger.info(
                    "read %d employees from %s in %d requests (%d left out as malformed)",
                    count,
                    _USERS_PATH,
                    self.requests_made,
                    len(self.errors),
                )
                return
            last = restart
        raise self._incomplete(last)

    def _incomplete(self, restart: Restart) -> IncompleteReadError:
        tries = f"{MAX_RESTARTS + 1} times"
        if restart.reason == "short":
            what = (
                f"Lucca counted {restart.expected} users (collection.count) but its pages held "
                f"only {restart.received}, {tries}: pages came back without some of their "
                "rows (a proxy or a fault at Lucca), so employees would be missing"
            )
        elif restart.reason == "long":
            what = (
                f"Lucca counted {restart.expected} users (collection.count) but its pages went "
                f"on past that, {tries}: the server does not page as asked, or the count is "
                "wrong"
            )
        else:
            what = f"the list kept changing while it was read (rows shifted between pages {tries})"
        return IncompleteReadError(
            f"the read of {_USERS_PATH} is incomplete: {what}. It was abandoned and nothing "
            "was written; retry later (when the directory is not being edited), and if it "
            "persists, check proxies between lucca-sync and Lucca",
            url=self._directory.base_url + _USERS_PATH,
            restarts=self.restarts,
            expected=restart.expected,
            received=restart.received,
        )

    def _pass(self, today: date, seen: set[RowKey]) -> Iterator[list[Employee] | Restart]:
        """One read from the first page; yields a `Restart` (and stops) when it cannot be
        trusted: rows shifted, fewer rows than Lucca's count, more pages than it implies."""
        directory = self._directory
        limit = max(directory._page_size, 2)  # an overlap of one row needs two
        offset = 0
        chain = V3Pass(limit)
        while True:
            query = self._query(today, offset, limit, count=chain.pages == 0)
            reply = directory._http.get_json(_USERS_PATH, query)
            self.requests_made += reply.attempts
            self.requests_by_resource["users"] = self.requests_made
            prefix, items = directory._decoder.items(reply.body, url=reply.url)
            if len(items) > limit:
                raise ResponseDecodeError(
                    f"{reply.url} returned {len(items)} users for a page of {limit}: the server "
                    "does not honour paging, so a complete read cannot be guaranteed",
                    url=reply.url,
                    path=prefix,
                )
            if chain.pages == 0:
                count = listed_count(reply.body, *prefix.split(".")[:-1], "count")
                if count is None:
                    logger.info(
                        "%s sent no collection.count: the read is checked by its overlapping "
                        "pages only",
                        _USERS_PATH,
                    )
                chain.first_page(count)
            keys = [row_key(item) for item in items]
            try:
                restart = chain.page(keys)
            except RepeatedPageError:
                raise ResponseDecodeError(
                    f"{reply.url} answered the page at offset {offset} with the same users as "
                    "the page before: the server (or a proxy) ignores the paging offset, so a "
                    "complete read cannot be guaranteed; nothing was written",
                    url=reply.url,
                    path=prefix,
                ) from None
            if restart is not None:
                yield restart
                return
            yield self._decode(
                items=items,
                keys=keys,
                prefix=prefix,
                url=reply.url,
                today=today,
                seen=seen,
                surrogate_free=reply.surrogate_free,
            )
            if len(items) < limit:
                end = chain.end()
                if end is not None:
                    yield end
                elif chain.expected is not None and len(chain.received) > chain.expected:
                    logger.info(
                        "%d users listed for a count of %d: employees added during the read",
                        len(chain.received),
                        chain.expected,
                    )
                return
            restart = chain.continue_after(keys)
            if restart is not None:
                yield restart
                return
            offset += limit - 1
            if reply.timed_out and limit > MIN_PAGE_SIZE_AFTER_408:
                limit = max(MIN_PAGE_SIZE_AFTER_408, limit // 2)
                chain.resize(limit)
                logger.warning("Lucca answered 408 (too slow): asking %d users per page", limit)

    def _decode(
        self,
        *,
        items: list[object],
        keys: list[RowKey],
        prefix: str,
        url: str,
        today: date,
        seen: set[RowKey],
        surrogate_free: bool,
    ) -> list[Employee]:
        page: list[Employee] = []
        decoder = self._directory._decoder
        well_formed = decoder.well_formed if surrogate_free else None
        keep_raw = self._keep_raw
        for index, (item, key) in enumerate(zip(items, keys, strict=True)):
            if key in seen:
                continue
            seen.add(key)
            # Most users take the fast path; the others get their JSON path for the errors.
            employee = None if well_formed is None else well_formed(item, keep_raw)
            if employee is None:
                try:
                    employee = decoder.employee(
                        item, url=url, path=f"{prefix}[{index}]", surrogate_free=surrogate_free
                    )
                except ResponseDecodeError as error:
                    if self._strict:
                        raise
                    logger.warning("left out a malformed user: %s", error)
                    self.errors.append(error)
                    continue
                if not keep_raw:
                    employee = attrs.evolve(employee, raw=slim_raw(employee.raw))
            if self._include_former or employee.status(today) != "former":
                page.append(employee)
        return page

    def _query(
        self, today: date, offset: int, limit: int, *, count: bool = False
    ) -> list[tuple[str, str]]:
        # formerEmployees=true plus an explicit dtContractEnd filter makes the result
        # independent of the server's defaults; _decode classifies again client-side.
        # The first page also asks Lucca's count of the whole list, at no extra request.
        fields = f"{USER_FIELDS},collection.count" if count else USER_FIELDS
        query = [("fields", fields), ("formerEmployees", "true")]
        if not self._include_former:
            query.append(("dtContractEnd", f"since,{today.isoformat()},null"))
        query += self._filters
        if self._modified_since is not None:
            stamp = self._modified_since.isoformat(timespec="seconds")
            query.append(("modifiedAt", f"since,{stamp}"))
        query += [("orderBy", "id,asc"), ("paging", f"{offset},{limit}")]
        return query


def _zone(time_zone: object, problems: list[str]) -> tzinfo:
    if isinstance(time_zone, tzinfo):
        return time_zone
    if isinstance(time_zone, str):
        try:
            return ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    problems.append(
        f"time_zone: expected an IANA zone name such as 'Europe/Paris', got {time_zone!r}"
    )
    return ZoneInfo("UTC")
