"""Reading the Lucca API (``/lucca-api``, ``Api-Version: 2024-11-01``) into :class:`Employee`.

The new API spreads an employee over several resources. One read is, in requests:

* ``GET /lucca-api/departments`` and ``GET /lucca-api/business-establishments`` (all pages):
  the names of the ``Ref`` values;
* ``GET /lucca-api/employee-extensions`` (all pages, or only the ``custom_fields`` codes): the
  custom fields, ``extended_data`` (the skip flag lives there);
* ``GET /lucca-api/employees?status=active,upcoming[,deactivated]&include=embedded,links``,
  100 per page, following ``links.next.href``. ``include=embedded`` carries each employee's
  applicable employment (contract dates) and applicable job position (job title, manager,
  department, establishment) in the same answer; any the server did not embed are fetched
  in bulk (``?id=a,b,…``, one request per page at most), never one request per employee.

The pieces are joined client-side. Ids are strings in this API and integers in
:class:`Employee`: a numeric string is converted; any other id makes that record a
:class:`ResponseDecodeError` (left out with ``strict=False``). A read that fails part-way
raises: it never looks like a shorter directory. The first page of every collection also asks
``include=totalCount``: fewer distinct items than counted (and than a count asked again, with
``limit=0``, in case items were deleted meanwhile) raises ``IncompleteReadError``, and so do more
pages than the count implies, plus one.

One module on purpose: the wire models, the converter and the join are one decoder of one API
version, and change together when Lucca publishes a new version.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, tzinfo
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override

from lucca_sync._employee import Employee, Ref, slim_raw
from lucca_sync._lucca._completeness import MAX_UNCOUNTED_ROWS, listed_count, pages_for
from lucca_sync._lucca._http import LuccaHttp, Reply
from lucca_sync._lucca._v3 import unwrap
from lucca_sync._lucca._wire import WireError, explain, json_type
from lucca_sync.exceptions import (
    IncompleteReadError,
    PermissionDeniedError,
    ResponseDecodeError,
)

__all__ = ["API_VERSION", "MAX_LIMIT", "LuccaApiReader"]

logger = logging.getLogger("lucca_sync.http")

#: The version of the Lucca API this reader speaks (sent as ``Api-Version``).
API_VERSION: Final = "2024-11-01"
#: Largest page the 2024-11-01 collections serve.
MAX_LIMIT: Final = 100
EMPLOYEES: Final = "/lucca-api/employees"
EMPLOYMENTS: Final = "/lucca-api/employments"
JOB_POSITIONS: Final = "/lucca-api/job-positions"
DEPARTMENTS: Final = "/lucca-api/departments"
ESTABLISHMENTS: Final = "/lucca-api/business-establishments"
#: Custom-field values. The 2024-11-01 file defines this resource and its scope
#: (``employee-extensions.readonly``) but not the path's operation; the filters sent
#: (``employee.id``, ``extensionDefinition.id``) follow the other collections and the answer
#: is filtered again client-side, so a server ignoring them still gives the right result.
EXTENSIONS: Final = "/lucca-api/employee-extensions"
_MAX_DIGITS: Final = 18


# -- wire types (only what Employee needs; unknown members are ignored) ------------------------


class ReadTally(Protocol):
    """Where a read counts its requests and keeps the records it left out (an `EmployeePager`)."""

    requests_made: int
    requests_by_resource: dict[str, int]
    errors: list[ResponseDecodeError]


@attrs.frozen
class _Ref:
    id: str


@attrs.frozen
class _Day:
    date: date


@attrs.frozen
class _Employee:
    id: str
    given_name: str
    family_name: str
    email: str | None = None
    employee_number: str | None = None
    applicable_employment: _Ref | None = None
    applicable_job_position: _Ref | None = None
    last_updated_at: datetime | None = None


@attrs.frozen
class _Employment:
    id: str
    start: _Day
    end: _Day | None = None
    last_updated_at: datetime | None = None


@attrs.frozen
class _JobPosition:
    id: str
    department: _Ref
    business_establishment: _Ref
    job_title: str | None = None
    manager: _Ref | None = None
    last_updated_at: datetime | None = None


@attrs.frozen
class _Named:
    id: str
    name: str


@attrs.frozen
class _Extension:
    employee: _Ref
    extension_definition: _Ref
    value: Any = None  # shaped by the field's definition: kept as received


_T = TypeVar("_T")


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise WireError(f"expected a string, got {json_type(value)}")
    return value


def _converter(zone: tzinfo) -> Converter:
    converter = Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _strict_str)

    def to_datetime(value: object, _type: object) -> datetime:
        text = _strict_str(value, str)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise WireError(f"expected an ISO date-time, got {len(text)} characters") from None
        # UTC ("Z") in this API; handed out as naive tenant-local time like the v3 reader.
        return parsed.astimezone(zone).replace(tzinfo=None) if parsed.tzinfo else parsed

    def to_date(value: object, _type: object) -> date:
        text = _strict_str(value, str)
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise WireError("expected a YYYY-MM-DD date") from None

    converter.register_structure_hook(datetime, to_datetime)
    converter.register_structure_hook(date, to_date)

    def structure_fn(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {
            field.name: override(rename=_camel(field.name)) for field in attrs.fields(cls)
        }
        return make_dict_structure_fn(cls, converter, **renames)

    converter.register_structure_hook_factory(attrs.has, structure_fn)
    return converter


def numeric_id(value: str, path: str) -> int:
    """An id of the Lucca API (a string) as the integer :class:`Employee` uses.

    Raises:
        WireError: The id is not a string of ASCII digits.
    """
    number = _number(value)
    if number is None:
        shown = value if len(value) <= 40 else value[:39] + "…"
        raise WireError(f"expected a numeric id, got {shown!r}", path)
    return number


def _number(value: str) -> int | None:
    """`numeric_id` without the error: ``None`` for an id that is not ASCII digits."""
    if value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS:
        return int(value)
    return None


@attrs.frozen
class _Page:
    items: list[object]
    embedded: Mapping[str, object]
    next_href: str | None


@attrs.define
class _Lookups:
    departments: dict[str, str]
    establishments: dict[str, str]
    extensions: dict[str, dict[str, object]]


class LuccaApiReader:
    """Reads and joins the Lucca API resources behind :class:`~lucca_sync.LuccaDirectory`.

    Args:
        http: The transport (Bearer token and ``Api-Version`` already configured).
        zone: The tenant's time zone (UTC timestamps become naive local times).
        page_size: Items per request, 1..100.
        custom_fields: Custom-field codes to read into ``extended_data``; ``None`` reads them
            all, an empty collection none (and needs no ``employee-extensions`` scope).
    """

    def __init__(
        self,
        http: LuccaHttp,
        zone: tzinfo,
        *,
        page_size: int = MAX_LIMIT,
        custom_fields: Iterable[str] | None = None,
    ) -> None:
        self._http = http
        self._zone = zone
        self._converter = _converter(zone)
        self._limit = str(min(max(page_size, 1), MAX_LIMIT))
        self._custom_fields = None if custom_fields is None else tuple(custom_fields)

    # -- reads ---------------------------------------------------------------------------------

    def read(
        self,
        tally: ReadTally,
        *,
        include_former: bool,
        strict: bool,
        today: date,
        keep_raw: bool = True,
        custom_fields: Collection[str] | None = None,
        also_ids: Collection[int] | None = None,
    ) -> Iterator[list[Employee]]:
        """Every employee, one list per page of ``/lucca-api/employees``.

        Request counts go to ``tally.requests_made`` (and per resource to
        ``tally.requests_by_resource``), left-out records (``strict=False``) to
        ``tally.errors``. Without ``keep_raw``, ``raw`` is `slim_raw` of the resource.
        ``custom_fields`` are the codes to read (``None``: all). With ``also_ids`` (and without
        ``include_former``), current and upcoming employees are listed, then the employees of
        ``also_ids`` and the managers the list did not return are read by id, 100 per
        request, until the manager graph is whole; every employee decoded is then yielded,
        former ones included.
        """
        counter = _Counter(tally)
        lookups = self._lookups(counter, employee_id=None, codes=custom_fields)
        statuses = "active,upcoming,deactivated" if include_former else "active,upcoming"
        query = [("status", statuses), ("include", "embedded,links"), ("limit", self._limit)]
        join = _Join(self, lookups, counter, tally, strict=strict, keep_raw=keep_raw)
        keep_former = include_former or also_ids is not None
        for page, reply in self._pages(EMPLOYEES, query, counter, key="employees"):
            employees = join.page(page, reply)
            if not keep_former:
                employees = [e for e in employees if e.status(today) != "former"]
            yield employees
        if also_ids is not None and not include_former:
            wanted = {str(employee_id) for employee_id in also_ids}
            # Each round reads who is still missing: the ids asked for, then the managers of
            # whoever was read (a former manager's own manager, and so on up the graph).
            while wanted := (wanted | join.managers) - join.seen - join.asked:
                join.asked |= wanted
                ordered = sorted(wanted, key=lambda text: (len(text), text))
                for start in range(0, len(ordered), MAX_LIMIT):
                    by_id = [
                        ("id", ",".join(ordered[start : start + MAX_LIMIT])),
                        ("status", "active,upcoming,deactivated"),
                        ("include", "embedded,links"),
                        ("limit", str(MAX_LIMIT)),
                    ]
                    for page, reply in self._pages(EMPLOYEES, by_id, counter, key="employees"):
                        yield join.page(page, reply)
                wanted = set()
        logger.info(
            "read %d employees from %s in %d requests (%s; %d left out as malformed)",
            join.count,
            EMPLOYEES,
            tally.requests_made,
            ", ".join(f"{name} {count}" for name, count in tally.requests_by_resource.items()),
            len(tally.errors),
        )

    def get_employee(self, employee_id: int) -> tuple[Employee, int]:
        """One employee by id, and the requests it took."""
        counter = _Counter(None)
        reply = counter.get(self._http, f"{EMPLOYEES}/{employee_id}", [("include", "embedded")])
        body = reply.body
        if not isinstance(body, dict):
            raise _envelope_error(reply.url, "", "an employee object", body)
        page = _Page(items=[body], embedded=_embedded(body, reply.url), next_href=None)
        employments, positions = self._applicable(page, reply, counter)
        lookups = self._lookups(
            counter, employee_id=str(employee_id), codes=self._custom_fields, positions=positions
        )
        employee = self._employee(body, employments, positions, lookups, url=reply.url, path="")
        return employee, counter.requests

    # -- building blocks -----------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        query: Sequence[tuple[str, str]],
        counter: _Counter,
        *,
        key: str,
    ) -> Iterator[tuple[_Page, Reply]]:
        """Follow ``links.next.href`` from the first page to the last, checked against the
        collection's ``totalCount`` (asked on the first page; see ``_completeness.py``).

        Raises:
            IncompleteReadError: Fewer distinct items than counted (also when counted again),
                or more pages than the count implies.
            ResponseDecodeError: The same next link twice (the cursor does not move).
        """
        visited: set[str] = set()
        first, query = query, _with_total_count(query)
        limit = _limit_of(query)
        check = _CountCheck(self, path, key)
        while True:
            reply = counter.get(self._http, path, query)
            page = _page(reply, key)
            check.page(reply, page, limit)
            yield page, reply
            if page.next_href is None:
                check.end(counter, first)
                return
            if page.next_href in visited:
                raise ResponseDecodeError(
                    f"{reply.url} sent the same next page link twice; the cursor does not move, "
                    "so a complete read cannot be guaranteed",
                    url=reply.url,
                    path="links.next.href",
                )
            visited.add(page.next_href)
            path, query = self._follow(page.next_href, path, reply.url)

    def _follow(self, href: str, path: str, url: str) -> tuple[str, list[tuple[str, str]]]:
        # The access token goes wherever the link points: only the tenant itself is followed.
        parts, base = urlsplit(href), urlsplit(self._http.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or parts.path != path:
            raise ResponseDecodeError(
                f"{url} pointed its next page to another host or path ({parts.netloc}"
                f"{parts.path}); refusing to send the access token there",
                url=url,
                path="links.next.href",
            )
        return path, parse_qsl(parts.query, keep_blank_values=True)

    def _collect(
        self, path: str, query: list[tuple[str, str]], counter: _Counter, key: str
    ) -> list[tuple[object, str, str]]:
        """Every item of a collection, with the URL and JSON path it came from."""
        found: list[tuple[object, str, str]] = []
        for page, reply in self._pages(path, query, counter, key=key):
            found.extend((item, reply.url, f"items[{i}]") for i, item in enumerate(page.items))
        return found

    def _lookups(
        self,
        counter: _Counter,
        *,
        employee_id: str | None,
        codes: Collection[str] | None,
        positions: Mapping[str, object] | None = None,
    ) -> _Lookups:
        paging = [("include", "links"), ("limit", self._limit)]
        if employee_id is None:
            departments = self._names(DEPARTMENTS, paging, counter, "departments")
            establishments = self._names(ESTABLISHMENTS, paging, counter, "business-establishments")
        else:  # one employee: their department and establishment by id
            departments, establishments = {}, {}
            for item in (positions or {}).values():
                for field, target, where in (
                    ("department", departments, DEPARTMENTS),
                    ("businessEstablishment", establishments, ESTABLISHMENTS),
                ):
                    ref = item.get(field) if isinstance(item, dict) else None
                    if isinstance(ref, dict) and isinstance(ref.get("id"), str):
                        reply = counter.get(self._http, f"{where}/{ref['id']}", [])
                        named = self._structure(reply.body, _Named, reply.url, "")
                        target[named.id] = named.name
        extensions = self._extensions(counter, employee_id, codes)
        return _Lookups(departments, establishments, extensions)

    def _names(
        self, path: str, query: list[tuple[str, str]], counter: _Counter, key: str
    ) -> dict[str, str]:
        names: dict[str, str] = {}
        for item, url, where in self._collect(path, query, counter, key):
            named = self._structure(item, _Named, url, where)
            names[named.id] = named.name
        return names

    def _extensions(
        self, counter: _Counter, employee_id: str | None, codes: Collection[str] | None
    ) -> dict[str, dict[str, object]]:
        if codes is not None and not codes:
            return {}
        # Codes are compared as the rules compare them: case-insensitively.
        wanted = None if codes is None else {code.casefold() for code in codes}
        query = [("include", "links"), ("limit", self._limit)]
        if employee_id is not None:
            query.append(("employee.id", employee_id))
        if codes is not None:
            query.append(("extensionDefinition.id", ",".join(codes)))
        values: dict[str, dict[str, object]] = {}
        for item, url, where in self._collect(EXTENSIONS, query, counter, "employee-extensions"):
            extension = self._structure(item, _Extension, url, where)
            code = extension.extension_definition.id
            owner = extension.employee.id
            value = unwrap(extension.value)
            if value is None or (wanted is not None and code.casefold() not in wanted):
                continue
            if employee_id is not None and owner != employee_id:
                continue
            fields = values.setdefault(owner, {})
            if code in fields:  # a multi-valued field: one resource per value
                before = fields[code]
                fields[code] = [*(before if isinstance(before, list) else [before]), value]
            else:
                fields[code] = value
        return values

    def _applicable(
        self, page: _Page, reply: Reply, counter: _Counter
    ) -> tuple[dict[str, object], dict[str, object]]:
        """The applicable employments and job positions of a page, embedded or fetched."""
        employments = dict(_dictionary(page.embedded, "employment", reply.url))
        positions = dict(_dictionary(page.embedded, "job-position", reply.url))
        for field, found, path, key in (
            ("applicableEmployment", employments, EMPLOYMENTS, "employments"),
            ("applicableJobPosition", positions, JOB_POSITIONS, "job-positions"),
        ):
            missing = sorted(
                {
                    ref["id"]
                    for item in page.items
                    if isinstance(item, dict)
                    and isinstance(ref := item.get(field), dict)
                    and isinstance(ref.get("id"), str)
                    and ref["id"] not in found
                }
            )
            for start in range(0, len(missing), MAX_LIMIT):
                ids = ",".join(missing[start : start + MAX_LIMIT])
                query = [("id", ids), ("include", "links"), ("limit", str(MAX_LIMIT))]
                for item, _url, _where in self._collect(path, query, counter, key):
                    if isinstance(item, dict) and isinstance(item.get("id"), str):
                        found[item["id"]] = item
        return employments, positions

    def _employee(
        self,
        item: object,
        employments: Mapping[str, object],
        positions: Mapping[str, object],
        lookups: _Lookups,
        *,
        url: str,
        path: str,
        keep_raw: bool = True,
    ) -> Employee:
        """Decode one employee with the converter; without ``keep_raw``, ``raw`` is
        `slim_raw`. Raises ResponseDecodeError, whose path points at the bad value."""
        raw_id = item.get("id") if isinstance(item, dict) else None
        try:
            wire = self._converter.structure(item, _Employee)
            employee_id = numeric_id(wire.id, "id")
            stamps = [wire.last_updated_at]
            start = end = None
            if wire.applicable_employment is not None:
                employment = self._part(
                    employments, wire.applicable_employment.id, _Employment, "applicableEmployment"
                )
                start = employment.start.date
                end = employment.end.date if employment.end is not None else None
                stamps.append(employment.last_updated_at)
            title = manager = department = establishment = None
            if wire.applicable_job_position is not None:
                position = self._part(
                    positions,
                    wire.applicable_job_position.id,
                    _JobPosition,
                    "applicableJobPosition",
                )
                title = position.job_title
                if position.manager is not None:
                    manager = numeric_id(position.manager.id, "applicableJobPosition.manager.id")
                department = _named_ref(
                    position.department.id, lookups.departments, "applicableJobPosition.department"
                )
                establishment = _named_ref(
                    position.business_establishment.id,
                    lookups.establishments,
                    "applicableJobPosition.businessEstablishment",
                )
                stamps.append(position.last_updated_at)
            known = [stamp for stamp in stamps if stamp is not None]
            raw = cast(dict[str, object], item)  # the converter took it: a dict
            return Employee(
                id=employee_id,
                first_name=wire.given_name,
                last_name=wire.family_name,
                email=wire.email,
                employee_number=wire.employee_number,
                job_title=title,
                manager_id=manager,
                department=department,
                legal_entity=establishment,
                contract_start=start,
                contract_end=end,
                modified_at=max(known) if known else None,
                extended_data=lookups.extensions.get(wire.id, {}),
                raw=raw if keep_raw else slim_raw(raw),
            )
        except Exception as exc:  # every failure becomes a ResponseDecodeError, by design
            relative, reason = explain(exc, rename=_camel)
            where = ".".join(part for part in (path, relative) if part)
            who = f"employee {raw_id}" if isinstance(raw_id, str) else "an employee without an id"
            raise ResponseDecodeError(
                f"cannot read {who} from {urlsplit(url).path}: {where}: {reason}",
                url=url,
                path=where,
                employee_id=_employee_id(raw_id),
            ) from None

    def _part(self, found: Mapping[str, object], ref_id: str, cls: type[_T], field: str) -> _T:
        if ref_id not in found:
            raise WireError(f"the referenced resource {ref_id!r} was not returned", field)
        try:
            return self._converter.structure(found[ref_id], cls)
        except Exception as exc:
            relative, reason = explain(exc, rename=_camel)
            raise WireError(reason, ".".join(p for p in (field, relative) if p)) from None

    def _structure(self, item: object, cls: type[_T], url: str, where: str) -> _T:
        try:
            return self._converter.structure(item, cls)
        except Exception as exc:  # a lookup resource: the whole read cannot be trusted
            relative, reason = explain(exc, rename=_camel)
            path = ".".join(p for p in (where, relative) if p)
            raise ResponseDecodeError(
                f"cannot read {urlsplit(url).path}: {path}: {reason}", url=url, path=path
            ) from None


class _Join:
    """Decodes the pages of one read, remembering who was read and which managers it names.

    The first page tells whether the server honours ``include=embedded``; when it does not,
    that is logged once with its cost, and every page's employments and job positions are
    read by id instead (two requests per page).
    """

    def __init__(
        self,
        reader: LuccaApiReader,
        lookups: _Lookups,
        counter: _Counter,
        tally: ReadTally,
        *,
        strict: bool,
        keep_raw: bool,
    ) -> None:
        self._reader, self._lookups, self._counter, self._tally = reader, lookups, counter, tally
        self._strict, self._keep_raw = strict, keep_raw
        self.seen: set[str] = set()  # ids of the employees returned (as the API writes them)
        self.asked: set[str] = set()  # ids asked for by id, found or not
        self.managers: set[str] = set()  # managers named by the employees decoded
        self.count = 0
        self._embeds: bool | None = None
        # For the fast path: the references of the lookups, and equal contract dates, made
        # once and shared between employees.
        self._departments = _refs(lookups.departments)
        self._establishments = _refs(lookups.establishments)
        self._dates: dict[str, date] = {}
        self._zone = reader._zone

    def page(self, page: _Page, reply: Reply) -> list[Employee]:
        """The employees of one page not returned before; the others are left out."""
        if self._embeds is None and page.items:
            self._embeds = bool(page.embedded)
            if not self._embeds:
                logger.warning(
                    "%s ignored include=embedded: each page of employees costs two more "
                    "requests (their employments and job positions, read by id)",
                    urlsplit(reply.url).path,
                )
        employments, positions = self._reader._applicable(page, reply, self._counter)
        employees: list[Employee] = []
        for index, item in enumerate(page.items):
            raw_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(raw_id, str):
                if raw_id in self.seen:
                    continue  # a row that moved between two pages: already returned
                self.seen.add(raw_id)
            # Most employees take the fast path; the others get the converter and its errors.
            employee = self._well_formed(item, employments, positions)
            if employee is None:
                try:
                    employee = self._reader._employee(
                        item,
                        employments,
                        positions,
                        self._lookups,
                        url=reply.url,
                        path=f"items[{index}]",
                        keep_raw=self._keep_raw,
                    )
                except ResponseDecodeError as error:
                    if self._strict:
                        raise
                    logger.warning("left out a malformed employee: %s", error)
                    self._tally.errors.append(error)
                    continue
            if employee.manager_id is not None:
                self.managers.add(str(employee.manager_id))
            employees.append(employee)
        self.count += len(employees)
        return employees

    def _well_formed(
        self, item: object, employments: Mapping[str, object], positions: Mapping[str, object]
    ) -> Employee | None:
        """The employee of a record in the usual shape, or ``None`` for anything else.

        The converter's result (`LuccaApiReader._employee`), several times faster (see
        docs/performance.md): only exact JSON types, numeric ids, embedded resources that were
        returned, known departments and establishments and parseable dates are taken here.
        Anything else goes through the converter, which says what is wrong and where.
        """
        if type(item) is not dict:
            return None
        get = item.get
        raw_id, given, family = get("id"), get("givenName"), get("familyName")
        if type(raw_id) is not str or type(given) is not str or type(family) is not str:
            return None
        email, number = get("email"), get("employeeNumber")
        if (email is not None and type(email) is not str) or (
            number is not None and type(number) is not str
        ):
            return None
        employee_id = _number(raw_id)
        if employee_id is None:
            return None
        stamps = [get("lastUpdatedAt")]
        start = end = None
        reference = get("applicableEmployment")
        if reference is not None:
            employment = _returned(reference, employments)
            if employment is None:
                return None
            start_day, end_day = employment.get("start"), employment.get("end")
            if type(start_day) is not dict or (end_day is not None and type(end_day) is not dict):
                return None
            start = start_day.get("date")
            end = None if end_day is None else end_day.get("date")
            if type(start) is not str or (end_day is not None and type(end) is not str):
                return None
            stamps.append(employment.get("lastUpdatedAt"))
        title = manager = department = establishment = None
        reference = get("applicableJobPosition")
        if reference is not None:
            position = _returned(reference, positions)
            if position is None:
                return None
            title, boss = position.get("jobTitle"), position.get("manager")
            if title is not None and type(title) is not str:
                return None
            if boss is not None:
                if type(boss) is not dict or type(boss_id := boss.get("id")) is not str:
                    return None
                if (manager := _number(boss_id)) is None:
                    return None
            department = _known(position.get("department"), self._departments)
            establishment = _known(position.get("businessEstablishment"), self._establishments)
            if department is None or establishment is None:
                return None
            stamps.append(position.get("lastUpdatedAt"))
        try:
            if start is not None:
                start = self._date(start)
            if end is not None:
                end = self._date(end)
            known = [self._time(stamp) for stamp in stamps if stamp is not None]
        # TypeError: not text; OverflowError: an offset past year 1 or 9999.
        except (TypeError, ValueError, OverflowError):
            return None
        custom = self._lookups.extensions.get(raw_id)
        return Employee(
            employee_id, given, family, email, None, number, title, manager, department,
            establishment, start, end, max(known) if known else None,
            MappingProxyType(custom) if custom else _NO_CUSTOM_FIELDS,
            # The decoded JSON belongs to this read: shared, not copied.
            MappingProxyType(item) if self._keep_raw else slim_raw(item),
        )  # fmt: skip

    def _date(self, text: str) -> date:
        """A ``YYYY-MM-DD`` date (shared); raises ValueError as the converter does."""
        day = self._dates.get(text)
        if day is None:
            day = self._dates[text] = date.fromisoformat(text)
        return day

    def _time(self, text: object) -> datetime:
        """A time stamp as the converter reads it: naive, in the tenant's time zone."""
        if type(text) is not str:
            raise TypeError(text)
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(self._zone).replace(tzinfo=None) if parsed.tzinfo else parsed


_NO_CUSTOM_FIELDS: Final[Mapping[str, object]] = MappingProxyType({})


def _refs(names: Mapping[str, str]) -> dict[str, Ref]:
    """The `Ref` of each listed resource whose id is numeric, by the API's id."""
    return {
        key: Ref(number, name)
        for key, name in names.items()
        if (number := _number(key)) is not None
    }


def _returned(reference: object, found: Mapping[str, object]) -> dict[str, Any] | None:
    """The returned resource a ``{id}`` reference points at, when both are well formed."""
    if type(reference) is not dict or type(ref_id := reference.get("id")) is not str:
        return None
    resource = found.get(ref_id)
    return resource if type(resource) is dict and type(resource.get("id")) is str else None


def _known(reference: object, refs: Mapping[str, Ref]) -> Ref | None:
    """The `Ref` of a ``{id}`` reference to a listed department or establishment."""
    if type(reference) is not dict or type(ref_id := reference.get("id")) is not str:
        return None
    return refs.get(ref_id)


class _Counter:
    """Counts requests (retries included) and names the scope a 403 is about."""

    def __init__(self, pager: ReadTally | None) -> None:
        self._pager = pager
        self.requests = 0

    def get(self, http: LuccaHttp, path: str, query: Sequence[tuple[str, str]]) -> Reply:
        before = http.requests_made
        try:
            return http.get_json(path, query)
        except PermissionDeniedError as exc:
            scope = path.split("/")[2] + ".readonly"
            raise PermissionDeniedError(
                f"{exc} The read needs the scope {scope!r}.",
                status=exc.status,
                url=exc.url,
                lucca_message=exc.lucca_message,
            ) from None
        finally:
            sent = http.requests_made - before
            self.requests += sent
            if self._pager is not None:
                self._pager.requests_made += sent
                resource = path.split("/")[2]  # "/lucca-api/employees/…" -> "employees"
                by_resource = self._pager.requests_by_resource
                by_resource[resource] = by_resource.get(resource, 0) + sent


class _CountCheck:
    """One collection read compared with its ``totalCount``: the distinct items received, the
    pages it may take."""

    def __init__(self, reader: LuccaApiReader, path: str, key: str) -> None:
        self._reader, self._path, self._key = reader, path, key
        self.expected: int | None = None
        self.received: set[object] = set()
        self.pages = 0
        self.cap = 1

    def page(self, reply: Reply, page: _Page, limit: int) -> None:
        if self.pages == 0:
            self.expected = listed_count(reply.body, "totalCount")
            rows = MAX_UNCOUNTED_ROWS if self.expected is None else self.expected
            # One page of slack: items created while the pages are read.
            self.cap = pages_for(rows + limit, limit, overlap=False)
            if self.expected is None:
                logger.info("%s sent no totalCount: the read is checked by its cursor", self._path)
        self.pages += 1
        for index, item in enumerate(page.items):
            raw_id = item.get("id") if isinstance(item, dict) else None
            self.received.add(raw_id if isinstance(raw_id, str) else (self.pages, index))
        if page.next_href is not None and self.pages >= self.cap:
            raise self._incomplete(
                f"its pages went on past the {self.expected} items it counted (totalCount): "
                "the server does not page as asked, or the count is wrong"
            )

    def end(self, counter: _Counter, query: Sequence[tuple[str, str]]) -> None:
        if self.expected is None or len(self.received) >= self.expected:
            return
        # Items deleted while the pages were read lower the count: ask it again, cheaply.
        again = [(name, value) for name, value in query if name not in {"include", "limit"}]
        again += [("include", "totalCount"), ("limit", "0")]
        reply = counter.get(self._reader._http, self._path, again)
        recount = listed_count(reply.body, "totalCount")
        if recount is not None and len(self.received) >= recount:
            return
        raise self._incomplete(
            f"it counted {self.expected} items (totalCount) but its pages held only "
            f"{len(self.received)}: pages came back without some of their rows (a proxy or "
            "a fault at Lucca), so employees or their data would be missing"
        )

    def _incomplete(self, what: str) -> IncompleteReadError:
        return IncompleteReadError(
            f"the read of {self._path} is incomplete: {what}. It was abandoned and nothing was "
            "written; retry later, and if it persists, check proxies between lucca-sync and "
            "Lucca",
            url=self._reader._http.base_url + self._path,
            expected=self.expected,
            received=len(self.received),
        )


def _with_total_count(query: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``query`` with ``totalCount`` among its ``include`` values (at no extra request)."""
    if not any(name == "include" for name, _value in query):
        return [*query, ("include", "totalCount")]
    result = []
    for name, value in query:
        parts = [part for part in value.split(",") if part]
        if name == "include" and "totalCount" not in parts:
            parts.append("totalCount")
        result.append((name, ",".join(parts) if name == "include" else value))
    return result


def _limit_of(query: Sequence[tuple[str, str]]) -> int:
    """The page size asked; 1 when unknown (the bound on pages is then the loosest)."""
    for name, value in query:
        if name == "limit" and value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def _employee_id(raw_id: object) -> object:
    if isinstance(raw_id, str) and raw_id.isascii() and raw_id.isdigit():
        return int(raw_id)
    return raw_id if isinstance(raw_id, str) else None


def _named_ref(ref_id: str, names: Mapping[str, str], field: str) -> Ref:
    number = numeric_id(ref_id, f"{field}.id")
    if ref_id not in names:
        raise WireError(f"{ref_id!r} is not among the resources listed by the API", field)
    return Ref(id=number, name=names[ref_id])


def _page(reply: Reply, key: str) -> _Page:
    body = reply.body
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise _envelope_error(reply.url, "items", f"a {key} collection", body)
    items: list[object] = body["items"]
    if len(items) > MAX_LIMIT:
        raise ResponseDecodeError(
            f"{reply.url} returned {len(items)} items for a page of at most {MAX_LIMIT}: the "
            "server does not honour paging, so a complete read cannot be guaranteed",
            url=reply.url,
            path="items",
        )
    links = body.get("links")
    if not isinstance(links, dict):
        # Without links there is no way to know whether more pages exist.
        raise _envelope_error(reply.url, "links", "the paging links (include=links)", links)
    following = links.get("next")
    if following is None:
        return _Page(items, _embedded(body, reply.url), None)
    href = following.get("href") if isinstance(following, dict) else None
    if not isinstance(href, str) or not href:
        raise _envelope_error(reply.url, "links.next.href", "a URL", href)
    return _Page(items, _embedded(body, reply.url), href)


def _embedded(body: Mapping[str, Any], url: str) -> Mapping[str, object]:
    embedded = body.get("embedded")
    if embedded is None:
        return {}
    if not isinstance(embedded, dict):
        raise _envelope_error(url, "embedded", "an object", embedded)
    return embedded


def _dictionary(embedded: Mapping[str, object], name: str, url: str) -> Mapping[str, object]:
    found = embedded.get(name)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise _envelope_error(url, f"embedded.{name}", "an object keyed by id", found)
    return found


def _envelope_error(url: str, path: str, expected: str, found: object) -> ResponseDecodeError:
    return ResponseDecodeError(
        f"unexpected response shape from {url}: {path or 'body'}: expected {expected}, got "
        f"{json_type(found)}; is the URL a Lucca tenant?",
        url=url,
        path=path,
    )
